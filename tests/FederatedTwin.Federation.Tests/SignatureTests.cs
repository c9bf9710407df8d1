using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// RFC 9421 message signatures at the coordinator: every bad request is a 401 problem, and the good one passes. The coordinator and
/// the signing node read one clock that the tests move, so a window's edges are exact (RFC 9421 §7.2.2: a verifier bounds the age
/// of "created", and remembers nonces as long as it would accept them).
/// </summary>
public sealed class SignatureTests : IAsyncLifetime
{
    /// <summary>The coordinator's accepted age of a signature either way (CoordinatorOptions.SignatureWindowSeconds, by default).</summary>
    private const int WindowSeconds = 60;

    private readonly FakeTimeProvider _clock = TestClock.Start();
    private InProcessCoordinator _coordinator = null!;

    public async Task InitializeAsync() => _coordinator = await InProcessCoordinator.Start("signatures", _clock);

    public async Task DisposeAsync() => await _coordinator.DisposeAsync();

    private sealed record Options(
        string Path = "/v1/node/work",
        string? KeyId = null,
        long? Created = null,
        string? Nonce = null,
        byte[]? Body = null,
        bool Sign = true,
        bool CorruptSignature = false,
        bool WrongDigest = false,
        string? Version = null,
        FederatedTwin.Protocol.Federation.Ed25519Identity? Key = null,
        string Method = "GET",
        IReadOnlyList<string>? Components = null,
        string? SignatureHeader = null,
        string? AuditHead = null);

    private async Task<(HttpStatusCode Status, JsonNode? Problem)> Send(Options o)
    {
        using var http = new HttpClient { BaseAddress = _coordinator.Url };
        var body = o.Body ?? [];
        using var request = new HttpRequestMessage(new HttpMethod(o.Method), o.Path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var version = o.Version ?? FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        request.Headers.Add(FederationProtocol.VersionHeader, version);
        var digest = ContentDigest.Compute(o.WrongDigest ? [1, 2, 3] : body);
        request.Content.Headers.Add(ContentDigest.HeaderName, digest);
        if (o.Sign)
        {
            var uri = new Uri(_coordinator.Url, o.Path);
            var components = o.AuditHead is null ? o.Components ?? HttpMessageSignatures.RequestComponents : [.. HttpMessageSignatures.RequestComponents, FederationProtocol.AuditHeadComponent];
            if (o.AuditHead is not null)
            {
                request.Headers.Add(FederationProtocol.AuditHeadHeader, o.AuditHead);
            }

            var parameters = new SignatureParameters(components, o.Created ?? _clock.GetUtcNow().ToUnixTimeSeconds(), o.KeyId ?? _coordinator.NodeId, o.Nonce ?? HttpMessageSignatures.NewNonce(), "ed25519");
            var (input, signature) = HttpMessageSignatures.Sign(o.Key ?? _coordinator.Node.Identity, parameters, c => c switch
            {
                "@method" => o.Method,
                "@path" => uri.AbsolutePath,
                "@query" => uri.Query.Length == 0 ? "?" : uri.Query,
                "content-digest" => digest,
                "ftwin-protocol" => version,
                FederationProtocol.AuditHeadComponent => o.AuditHead,
                _ => null,
            });
            if (o.CorruptSignature)
            {
                signature = signature[..10] + (signature[10] == 'A' ? 'B' : 'A') + signature[11..];
            }

            request.Headers.Add(HttpMessageSignatures.SignatureInputHeader, input);
            request.Headers.Add(HttpMessageSignatures.SignatureHeader, o.SignatureHeader ?? signature);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, string.IsNullOrEmpty(text) ? null : JsonNode.Parse(text));
    }

    [Fact]
    public async Task A_correctly_signed_request_is_accepted() => Assert.Equal(HttpStatusCode.OK, (await Send(new Options())).Status);

    [Fact]
    public async Task An_unsigned_request_is_refused_with_401_problem_details()
    {
        var (status, problem) = await Send(new Options(Sign: false));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(401, problem!["status"]!.GetValue<int>());
        Assert.Contains("signature-missing", problem["type"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrongly_signed_request_is_refused() =>
        Assert.Contains("signature-badsignature", (await Send(new Options(CorruptSignature: true))).Problem!["type"]!.ToString(), StringComparison.Ordinal);

    [Fact]
    public async Task A_request_signed_by_another_key_under_an_enrolled_key_id_is_refused()
    {
        using var stranger = Ed25519Identity.Generate();
        var (status, problem) = await Send(new Options(Key: stranger));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("signature-badsignature", problem!["type"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replayed_request_is_refused()
    {
        const string nonce = "same-nonce-twice";
        Assert.Equal(HttpStatusCode.OK, (await Send(new Options(Nonce: nonce))).Status);
        var (status, problem) = await Send(new Options(Nonce: nonce));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("signature-replayed", problem!["type"]!.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not.a+nonce")]
    [InlineData("")]
    public async Task A_nonce_outside_the_base64url_alphabet_is_refused_as_malformed(string nonce) =>
        Assert.Contains("signature-malformed", (await Send(new Options(Nonce: nonce))).Problem!["type"]!.ToString(), StringComparison.Ordinal);

    /// <summary>Found by the signature fuzz target (fuzz/regressions/signature): "sig1=:" sliced to a negative length, a 500.</summary>
    [Theory]
    [InlineData("sig1=:")]
    [InlineData("sig1=::")]
    [InlineData("sig1=")]
    public async Task A_signature_header_with_no_signature_between_its_colons_is_refused_as_malformed(string header)
    {
        var (status, problem) = await Send(new Options(SignatureHeader: header));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("signature-malformed", problem!["type"]!.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Found by fuzzing: an audit head naming seq twice made the signed request a 500; it is now ignored as malformed.</summary>
    [Fact]
    public async Task An_audit_head_that_names_a_field_twice_is_ignored_not_a_server_error()
    {
        var (status, _) = await Send(new Options(AuditHead: "seq=3;seq=4;sha256=" + new string('a', 64)));
        Assert.Equal(HttpStatusCode.OK, status);
        using (var connection = TestStore.OpenReadOnly(Path.Combine(_coordinator.DataDir, "coordinator.db")))
        {
            Assert.Equal(0L, Dapper.SqlMapper.ExecuteScalar<long>(connection, "SELECT COUNT(*) FROM node_audit_heads WHERE node_id = @id", new { id = _coordinator.NodeId }));
        }

        Assert.Null(FederationProtocol.ParseAuditHead("seq=3;seq=4"));
        Assert.Equal((3L, new string('a', 64)), FederationProtocol.ParseAuditHead("seq=3;sha256=" + new string('a', 64)));
    }

    [Fact]
    public async Task An_expired_request_is_refused()
    {
        var (status, problem) = await Send(new Options(Created: _clock.GetUtcNow().AddMinutes(-10).ToUnixTimeSeconds()));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("signature-expired", problem!["type"]!.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-WindowSeconds, HttpStatusCode.OK)]
    [InlineData(-WindowSeconds - 1, HttpStatusCode.Unauthorized)]
    [InlineData(WindowSeconds, HttpStatusCode.OK)] // a node's clock a little ahead of the coordinator's
    [InlineData(WindowSeconds + 1, HttpStatusCode.Unauthorized)]
    public async Task A_signature_is_accepted_up_to_the_window_on_either_side_of_the_coordinators_clock_and_not_a_second_beyond(int createdOffsetSeconds, HttpStatusCode expected)
    {
        var (status, problem) = await Send(new Options(Created: _clock.GetUtcNow().AddSeconds(createdOffsetSeconds).ToUnixTimeSeconds()));
        Assert.Equal(expected, status);
        if (expected == HttpStatusCode.Unauthorized)
        {
            Assert.Contains("signature-expired", problem!["type"]!.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_replay_is_refused_for_as_long_as_its_signature_would_be_accepted_then_as_expired()
    {
        const string nonce = "replayed-late";
        var created = _clock.GetUtcNow().ToUnixTimeSeconds();
        Assert.Equal(HttpStatusCode.OK, (await Send(new Options(Created: created, Nonce: nonce))).Status);

        _clock.Advance(TimeSpan.FromSeconds(WindowSeconds)); // the signature's last accepted second: its nonce is still remembered
        Assert.Contains("signature-replayed", (await Send(new Options(Created: created, Nonce: nonce))).Problem!["type"]!.ToString(), StringComparison.Ordinal);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("signature-expired", (await Send(new Options(Created: created, Nonce: nonce))).Problem!["type"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_from_an_unknown_key_id_is_refused()
    {
        var (status, problem) = await Send(new Options(KeyId: "node-0000000000000000"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("signature-unknownkey", problem!["type"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_does_not_match_its_digest_is_refused() =>
        Assert.Contains("signature-digestmismatch", (await Send(new Options(WrongDigest: true, Method: "POST", Path: "/v1/node/studies/x/decision", Body: "{}"u8.ToArray()))).Problem!["type"]!.ToString(), StringComparison.Ordinal);

    [Fact]
    public async Task A_signature_that_leaves_out_a_required_component_is_refused() =>
        Assert.Contains("signature-missingcomponents", (await Send(new Options(Components: ["@method", "@path"]))).Problem!["type"]!.ToString(), StringComparison.Ordinal);

    [Fact]
    public async Task A_request_of_another_protocol_version_is_refused_with_a_clear_error()
    {
        // A node of protocol version 1 (before commit-then-reveal rounds and the pinned roster) talking to this coordinator.
        var (status, problem) = await Send(new Options(Version: "1"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains($"protocol version {FederationProtocol.Version}", problem!["detail"]!.ToString(), StringComparison.Ordinal);
        Assert.Contains("'1'", problem["detail"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_body_is_a_400_problem_never_a_500()
    {
        var (status, problem) = await Send(new Options(Method: "POST", Path: "/v1/node/studies/x/decision", Body: Encoding.UTF8.GetBytes("{\"study\": 12, \"nonsense\": [")));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Malformed body", problem!["title"]!.ToString());
    }

    [Fact]
    public async Task Responses_are_signed_and_the_node_client_verifies_them_against_the_pinned_key()
    {
        var enrollment = _coordinator.Node.Store.GetEnrollment()!;
        using var http = new HttpClient { BaseAddress = _coordinator.Url };
        var good = new CoordinatorClient(http, _coordinator.Node.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(60), time: _clock);
        Assert.NotNull(await good.Get<WorkResponse>("/v1/node/work", CancellationToken.None));

        using var impostor = Ed25519Identity.Generate();
        var pinnedElsewhere = new CoordinatorClient(http, _coordinator.Node.Identity, enrollment.NodeId, impostor.PublicKey, TimeSpan.FromSeconds(60), time: _clock);
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => pinnedElsewhere.Get<WorkResponse>("/v1/node/work", CancellationToken.None));
        Assert.Contains("BadSignature", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_enrollment_token_works_once()
    {
        using var admin = _coordinator.Admin();
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        using var first = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(TestFederation.TempDir("enroll-a"));
        using var second = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(TestFederation.TempDir("enroll-b"));
        foreach (var n in new[] { first, second })
        {
            await File.WriteAllTextAsync(n.PolicyPath, await File.ReadAllTextAsync(_coordinator.Node.PolicyPath));
        }

        await Enrollment.Enroll(first, _coordinator.Url, token, "first", _clock, CancellationToken.None);
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Enrollment.Enroll(second, _coordinator.Url, token, "second", _clock, CancellationToken.None));
        Assert.Contains("already used", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    public async Task An_enrollment_token_is_good_to_the_end_of_its_lifetime_and_not_a_tick_beyond(long ticksPastLifetime, bool enrolls)
    {
        using var admin = _coordinator.Admin();
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        using var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(TestFederation.TempDir("enroll-late"), time: _clock);
        await File.WriteAllTextAsync(node.PolicyPath, await File.ReadAllTextAsync(_coordinator.Node.PolicyPath));
        var lifetime = TimeSpan.FromSeconds(new FederatedTwin.Coordinator.CoordinatorOptions().EnrollmentTokenLifetimeSeconds);

        _clock.Advance(lifetime + TimeSpan.FromTicks(ticksPastLifetime));

        var enroll = Enrollment.Enroll(node, _coordinator.Url, token, "late", _clock, CancellationToken.None);
        if (enrolls)
        {
            await enroll;
            Assert.NotNull(node.Store.GetEnrollment());
        }
        else
        {
            var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => enroll);
            Assert.Contains("unknown, revoked or expired", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_node_refuses_to_enroll_with_a_coordinator_its_policy_does_not_pin()
    {
        using var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(TestFederation.TempDir("unpinned"));
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Enrollment.Enroll(node, _coordinator.Url, "any-token", "x", _clock, CancellationToken.None));
        Assert.Contains("not among trusted_coordinators", e.Message, StringComparison.Ordinal);
    }
}
