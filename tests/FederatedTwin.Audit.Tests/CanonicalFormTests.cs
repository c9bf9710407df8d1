using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Audit.Tests;

/// <summary>The canonical form entries are hashed over: RFC 8785 (JCS), and the hash formula of the chain.</summary>
public sealed class CanonicalFormTests
{
    [Fact]
    public void The_RFC_8785_example_canonicalizes_to_the_bytes_the_RFC_gives()
    {
        // RFC 8785 §3.2.4: numbers, escapes and literals.
        const string input = """
            {
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;
        const string expected = """{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}""";
        Assert.Equal(expected, JsonCanonicalizer.CanonicalString(input));
    }

    [Fact]
    public void Members_are_sorted_by_their_UTF16_code_units()
    {
        // RFC 8785 §3.2.3's example: "\r" < "1" < U+0080 < "ö" < "€" < U+1F600 (a surrogate pair, 0xD83D…) < U+FB33.
        const string input = """{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}""";
        var canonical = JsonCanonicalizer.CanonicalString(input);
        var order = JsonNode.Parse(canonical)!.AsObject().Select(p => p.Value!.GetValue<string>()).ToList();
        Assert.Equal(["Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"], order);
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(-5e-324, "-5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(9007199254740992.0, "9007199254740992")]
    [InlineData(-9007199254740992.0, "-9007199254740992")]
    [InlineData(295147905179352830000.0, "295147905179352830000")]
    [InlineData(1e23, "1e+23")]
    [InlineData(9.999999999999997e22, "9.999999999999997e+22")]
    [InlineData(1e21, "1e+21")]
    [InlineData(999999999999999900000.0, "999999999999999900000")]
    [InlineData(0.000001, "0.000001")]
    [InlineData(1e-7, "1e-7")]
    [InlineData(123.45, "123.45")]
    [InlineData(7160.0, "7160")]
    public void Numbers_are_written_as_ECMAScript_writes_them(double value, string expected) => Assert.Equal(expected, JsonCanonicalizer.FormatNumber(value));

    [Fact]
    public void Negative_zero_is_written_as_zero() => Assert.Equal("0", JsonCanonicalizer.FormatNumber(-0.0));

    [Fact]
    public void Duplicate_member_names_are_refused() =>
        Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.CanonicalString("""{"a":1,"a":2}"""));

    [Fact]
    public void An_entry_hash_is_SHA256_of_the_canonical_columns_followed_by_the_previous_hash()
    {
        var previous = Convert.ToHexStringLower(SHA256.HashData("previous"u8));
        var record = new AuditRecord("study_decision", AuditOutcome.MinorFailure, new JsonObject { ["rule"] = "purposes_allowed", ["decision"] = "refuse" }, "census", "HRESCH");
        var entry = AuditChain.Seal(7, new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero), "node-0011", record, previous);

        // Written out by hand: every column but the hash, members sorted, then the previous hash's 32 bytes.
        const string canonical = """{"action":"study_decision","actor":"node-0011","at":"2025-03-01T12:00:00.000Z","detail":{"decision":"refuse","rule":"purposes_allowed"},"format":"ftwin-audit/1","outcome":4,"purpose_of_use":"HRESCH","seq":7,"study_id":"census"}""";
        var expected = SHA256.HashData([.. Encoding.UTF8.GetBytes(canonical), .. Convert.FromHexString(previous)]);
        Assert.Equal(canonical, Encoding.UTF8.GetString(AuditChain.Canonical(entry)));
        Assert.Equal(Convert.ToHexStringLower(expected), entry.Hash);
        Assert.Equal("""{"decision":"refuse","rule":"purposes_allowed"}""", entry.Detail);
    }

    [Fact]
    public void Every_column_but_the_hash_changes_the_hash()
    {
        var entry = AuditChain.Seal(3, DateTimeOffset.UnixEpoch, "coordinator", new AuditRecord("submission", AuditOutcome.Success, new JsonObject { ["n"] = 1 }, "s", "HOPERAT"), AuditChain.GenesisHash);
        AuditEntry[] variants =
        [
            entry with { Seq = 4 },
            entry with { At = "1970-01-01T00:00:00.001Z" },
            entry with { Actor = "node-x" },
            entry with { Action = "submission_refused" },
            entry with { Outcome = AuditOutcome.MinorFailure },
            entry with { StudyId = null },
            entry with { PurposeOfUse = "HRESCH" },
            entry with { Detail = """{"n":2}""" },
            entry with { PrevHash = new string('1', 64) },
        ];
        Assert.All(variants, v => Assert.NotEqual(entry.Hash, AuditChain.ComputeHash(v)));
        Assert.Equal(entry.Hash, AuditChain.ComputeHash(entry));
    }
}
