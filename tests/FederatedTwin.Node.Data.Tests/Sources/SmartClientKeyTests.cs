using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Node.Sources.Smart;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Node.Data.Tests.Sources;

public sealed class SmartClientKeyTests
{
    [Fact]
    public void An_ES384_key_is_sealed_owner_only_and_its_JWKS_round_trips()
    {
        var dir = DataTestSupport.TempDir("smart-key");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        string created;
        byte[] privateScalar;
        byte[] pkcs8;
        using (var key = SmartClientKey.Create(node))
        {
            created = key.JwksJson();
            Assert.Equal("ES384", key.Algorithm);
            Assert.Equal(key.Thumbprint(), key.KeyId);
            (privateScalar, pkcs8) = PrivateBytes(key);
        }

        using (var loaded = SmartClientKey.Load(node))
        {
            Assert.Equal(created, loaded.JwksJson());
            Assert.Equal(privateScalar, PrivateBytes(loaded).D);
        }

        var path = SmartClientKey.PathIn(dir);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        var file = File.ReadAllBytes(path);
        Assert.True(file.AsSpan().IndexOf(privateScalar) < 0, "the private scalar is in the file in the clear");
        Assert.True(file.AsSpan().IndexOf(pkcs8) < 0, "the PKCS#8 key is in the file in the clear");
        var text = Encoding.Latin1.GetString(file);
        Assert.DoesNotContain(Convert.ToBase64String(pkcs8), text, StringComparison.Ordinal);
        Assert.DoesNotContain(Base64Url.EncodeToString(privateScalar), text, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        Assert.DoesNotContain("pkcs8", text, StringComparison.Ordinal);

        var jwk = Assert.Single(JsonNode.Parse(created)!["keys"]!.AsArray())!.AsObject();
        Assert.Equal(["kty", "crv", "x", "y", "kid", "alg", "use", "key_ops"], jwk.Select(p => p.Key));
        Assert.Equal("EC", (string?)jwk["kty"]);
        Assert.Equal("P-384", (string?)jwk["crv"]);
        Assert.Equal(48, Base64Url.DecodeFromChars((string)jwk["x"]!).Length);
        Assert.Equal(48, Base64Url.DecodeFromChars((string)jwk["y"]!).Length);
        Assert.Equal("ES384", (string?)jwk["alg"]);
        Assert.Equal("sig", (string?)jwk["use"]);
        Assert.Equal("[\"verify\"]", jwk["key_ops"]!.ToJsonString());
        // RFC 7638 thumbprint recomputed here from the published members
        var canonical = $"{{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"{jwk["x"]}\",\"y\":\"{jwk["y"]}\"}}";
        Assert.Equal(Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))), (string?)jwk["kid"]);
    }

    [Fact]
    public void The_thumbprint_is_RFC_7638s_example()
    {
        // RFC 7638 §3.1: this RSA key's thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs
        const string n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.DecodeFromChars(n), Exponent = Base64Url.DecodeFromChars("AQAB") });
        Assert.Equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", SmartClientKey.Thumbprint(null, rsa));
    }

    [Fact]
    public void An_RS384_key_publishes_n_and_e_of_3072_bits_and_nothing_private()
    {
        var dir = DataTestSupport.TempDir("smart-rsa");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        using var key = SmartClientKey.Create(node, "rs384", keyId: "ehr-2026");
        var jwk = Assert.Single(key.Jwks()["keys"]!.AsArray())!.AsObject();
        Assert.Equal(["kty", "n", "e", "kid", "alg", "use", "key_ops"], jwk.Select(p => p.Key));
        Assert.Equal("RSA", (string?)jwk["kty"]);
        Assert.Equal(384, Base64Url.DecodeFromChars((string)jwk["n"]!).Length);
        Assert.Equal("AQAB", (string?)jwk["e"]);
        Assert.Equal("ehr-2026", (string?)jwk["kid"]);
        Assert.Equal("RS384", (string?)jwk["alg"]);
        Assert.Throws<SmartClientKeyException>(() => SmartClientKey.Create(node, "RS384", replace: true, rsaBits: 2048));
    }

    [Fact]
    public void Creating_again_is_refused_without_replace_and_a_replacement_is_audited()
    {
        var dir = DataTestSupport.TempDir("smart-replace");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        string firstKid;
        using (var first = SmartClientKey.Create(node))
        {
            firstKid = first.KeyId;
        }

        var sealedBefore = File.ReadAllBytes(SmartClientKey.PathIn(dir));
        var refused = Assert.Throws<SmartClientKeyException>(() => SmartClientKey.Create(node, "RS384"));
        Assert.Contains("already has a SMART client key", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--replace", refused.Message, StringComparison.Ordinal);
        Assert.Equal(sealedBefore, File.ReadAllBytes(SmartClientKey.PathIn(dir))); // the refusal lost nothing

        string secondJwks;
        using (var second = SmartClientKey.Create(node, "RS384", replace: true))
        {
            Assert.NotEqual(firstKid, second.KeyId);
            secondJwks = second.JwksJson();
        }

        using (var loaded = SmartClientKey.Load(node))
        {
            Assert.Equal(secondJwks, loaded.JwksJson());
        }

        var entries = node.Store.Read(c => FederatedTwin.Protocol.Audit.AuditLog.ReadAll(c).Entries).Where(e => e.Action == AuditActions.SmartKeyCreated).ToList();
        Assert.Equal(2, entries.Count);
        var details = entries.Select(e => JsonNode.Parse(e.Detail)!.AsObject()).ToList();
        Assert.Equal(false, (bool?)details[0]["replaced"]);
        Assert.Equal(true, (bool?)details[1]["replaced"]);
        Assert.Equal(firstKid, (string?)details[1]["previous_kid"]);
        Assert.Equal("RS384", (string?)details[1]["algorithm"]);
        foreach (var d in details)
        {
            Assert.Equal(["algorithm", "kid", "previous_kid", "replaced", "sealed_with"], d.Select(p => p.Key).Order(StringComparer.Ordinal)); // never key material
        }
    }

    [Fact]
    public void Unknown_algorithms_and_odd_kids_are_refused_before_anything_is_written()
    {
        var dir = DataTestSupport.TempDir("smart-bad");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        Assert.Contains("ES384", Assert.Throws<SmartClientKeyException>(() => SmartClientKey.Create(node, "HS256")).Message, StringComparison.Ordinal);
        Assert.Throws<SmartClientKeyException>(() => SmartClientKey.Create(node, keyId: "has space"));
        Assert.Throws<SmartClientKeyException>(() => SmartClientKey.Create(node, keyId: ""));
        Assert.False(SmartClientKey.Exists(node));
        Assert.Contains("smart-key create", Assert.Throws<SmartClientKeyException>(() => SmartClientKey.Load(node)).Message, StringComparison.Ordinal);
    }

    private static (byte[] D, byte[] Pkcs8) PrivateBytes(SmartClientKey key)
    {
        // the private half, read from the key object itself to look for it in the sealed file
        var field = typeof(SmartClientKey).GetField("_ec", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        var ec = (ECDsa)field.GetValue(key)!;
        return (ec.ExportParameters(includePrivateParameters: true).D!, ec.ExportPkcs8PrivateKey());
    }
}
