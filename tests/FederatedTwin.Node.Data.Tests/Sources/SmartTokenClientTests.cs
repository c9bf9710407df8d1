using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Smart;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Node.Data.Tests.Sources;

public sealed class SmartAssertionTests
{
    private static readonly Uri Endpoint = new("https://ehr.example/auth/token");

    [Fact]
    public void An_ES384_assertion_is_a_JWS_signed_r_s_in_96_bytes_not_DER()
    {
        using var key = SmartClientKey.Generate("ES384");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 23, 0, 0, TimeSpan.Zero));
        var assertion = ClientAssertion.Create(key, "node-7", Endpoint, clock);
        var parts = assertion.Split('.');
        Assert.Equal(3, parts.Length);
        Assert.Equal($"{{\"alg\":\"ES384\",\"kid\":\"{key.KeyId}\",\"typ\":\"JWT\"}}", Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[0])));
        var claims = JsonNode.Parse(Base64Url.DecodeFromChars(parts[1]))!.AsObject();
        Assert.Equal("node-7", (string?)claims["iss"]);
        Assert.Equal("node-7", (string?)claims["sub"]);
        Assert.Equal("https://ehr.example/auth/token", (string?)claims["aud"]);
        Assert.Equal(clock.GetUtcNow().ToUnixTimeSeconds(), (long)claims["iat"]!);
        Assert.Equal(240, (long)claims["exp"]! - (long)claims["iat"]!);
        Assert.Equal(16, Base64Url.DecodeFromChars((string)claims["jti"]!).Length);
        var other = JsonNode.Parse(Base64Url.DecodeFromChars(ClientAssertion.Create(key, "node-7", Endpoint, clock).Split('.')[1]))!;
        Assert.NotEqual((string?)claims["jti"], (string?)other["jti"]);

        var signature = Base64Url.DecodeFromChars(parts[2]);
        Assert.Equal(96, signature.Length);
        var jwk = key.Jwks()["keys"]![0]!;
        using var ec = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP384,
            Q = new ECPoint { X = Base64Url.DecodeFromChars((string)jwk["x"]!), Y = Base64Url.DecodeFromChars((string)jwk["y"]!) },
        });
        var input = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        Assert.True(ec.VerifyData(input, signature, HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        Assert.False(ec.VerifyData(input, signature, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence));
    }

    [Fact]
    public void An_RS384_assertion_verifies_as_PKCS1_v1_5_SHA_384()
    {
        using var key = SmartClientKey.Generate("RS384");
        var parts = ClientAssertion.Create(key, "node-7", Endpoint).Split('.');
        var jwk = key.Jwks()["keys"]![0]!;
        using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.DecodeFromChars((string)jwk["n"]!), Exponent = Base64Url.DecodeFromChars((string)jwk["e"]!) });
        var signature = Base64Url.DecodeFromChars(parts[2]);
        Assert.Equal(384, signature.Length);
        Assert.True(rsa.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1));
        Assert.Contains("\"alg\":\"RS384\"", Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[0])), StringComparison.Ordinal);
    }
}

public sealed class SmartTokenClientTests
{
    private const string ClientId = "ftwin-node-7";
    private static readonly SmartRetryPolicy FastRetry = new() { BaseDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(100) };

    [Fact]
    public async Task A_token_is_obtained_through_discovery_reused_until_shortly_before_expiry_then_renewed()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await SmartAuthTestServer.StartAsync(new SmartAuthState(clock));
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        using var http = new HttpClient();
        using var client = await SmartTokenClient.ForServerAsync(http, server.FhirBase, key, ClientId, time: clock);
        Assert.Equal(server.TokenEndpoint, client.TokenEndpoint);

        var first = await client.GetAsync(refresh: false, CancellationToken.None);
        Assert.True(server.State.IsValidToken(first));
        Assert.Equal("system/*.rs", server.State.ScopeOf(first));
        Assert.Equal("system/*.rs", client.GrantedScope);
        Assert.Equal(clock.GetUtcNow().AddMinutes(5), client.ExpiresAt);
        Assert.Equal(first, await client.GetAsync(false, CancellationToken.None));

        clock.Advance(TimeSpan.FromSeconds(269)); // 300 s lifetime: renewed a tenth of it (30 s, less than 60 s) before its end
        Assert.Equal(first, await client.GetAsync(false, CancellationToken.None));
        Assert.Equal(1, server.State.TokensIssued);
        clock.Advance(TimeSpan.FromSeconds(2));
        var second = await client.GetAsync(false, CancellationToken.None);
        Assert.NotEqual(first, second);
        Assert.True(server.State.IsValidToken(second));
        Assert.Equal(2, server.State.TokensIssued);
        Assert.Equal(2, client.TokensObtained);

        // an hour's token is renewed 60 s before its end (less than a tenth of it)
        server.State.TokenLifetime = TimeSpan.FromHours(1);
        var longLived = await client.GetAsync(refresh: true, CancellationToken.None);
        Assert.NotEqual(second, longLived);
        clock.Advance(TimeSpan.FromSeconds(3539));
        Assert.Equal(longLived, await client.GetAsync(false, CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.NotEqual(longLived, await client.GetAsync(false, CancellationToken.None));
        Assert.Equal(4, server.State.TokensIssued);
        Assert.Equal(0, server.State.Refusals.Values.Sum());
    }

    [Fact]
    public async Task Refresh_forces_a_new_token_and_parallel_callers_share_one()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        using var http = new HttpClient();
        using var client = new SmartTokenClient(http, key, ClientId, server.TokenEndpoint);

        var tokens = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => await client.GetAsync(false, CancellationToken.None))));
        Assert.Single(tokens.Distinct());
        Assert.Equal(1, server.State.TokensIssued);

        var refreshed = await client.GetAsync(refresh: true, CancellationToken.None);
        Assert.NotEqual(tokens[0], refreshed);
        Assert.Equal(2, server.State.TokensIssued);
        Assert.Equal(refreshed, await client.GetAsync(false, CancellationToken.None));
    }

    [Fact]
    public async Task An_RS384_key_gets_a_token_for_the_scopes_of_its_types()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("RS384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        using var http = new HttpClient();
        var scope = SmartTokenClient.ScopeFor(["Patient", "Condition", "Patient"]);
        Assert.Equal("system/Patient.rs system/Condition.rs", scope);
        using var client = await SmartTokenClient.ForServerAsync(http, server.FhirBase, key, ClientId, scope);
        var token = await client.GetAsync(false, CancellationToken.None);
        Assert.Equal(scope, server.State.ScopeOf(token));
        Assert.Equal(["system/Patient.rs system/Condition.rs"], server.State.RequestedScopes);
        Assert.Throws<ArgumentException>(() => SmartTokenClient.ScopeFor(["Patient.rs system/*"]));
        Assert.Equal(SmartTokenClient.DefaultScope, SmartTokenClient.ScopeFor([]));
    }

    [Fact]
    public async Task A_configured_source_gets_its_token_with_the_nodes_sealed_key_and_its_types_scopes()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        var dir = DataTestSupport.TempDir("smart-source");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        using (var key = SmartClientKey.Create(node, "RS384"))
        {
            server.State.RegisterClient(ClientId, key.JwksJson()); // what the EHR's administrator pasted
        }

        var source = new DataSource("ehr", SourceKind.FhirBulk, FhirBase: server.FhirBase.AbsoluteUri, ClientId: ClientId, Types: ["Patient", "Observation"]);
        using var http = new HttpClient();
        using var client = await SmartTokenClient.ForSourceAsync(http, node, source);
        var token = await client.GetAsync(false, CancellationToken.None);
        Assert.Equal("system/Patient.rs system/Observation.rs", server.State.ScopeOf(token));

        var noClient = await Assert.ThrowsAsync<SmartAuthorizationException>(() => SmartTokenClient.ForSourceAsync(http, node, source with { ClientId = null }));
        Assert.Contains("client id", noClient.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SmartAuthorizationException>(() => SmartTokenClient.ForSourceAsync(http, node, source with { Types = ["Patient?_id=1"] }));
    }

    [Fact]
    public async Task A_kid_the_EHR_does_not_have_is_refused_with_a_clear_invalid_client()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var registered = SmartClientKey.Generate("ES384");
        using var replaced = SmartClientKey.Generate("ES384"); // a key replaced on the node and not registered again
        server.State.RegisterClient(ClientId, registered.JwksJson());
        var e = await Refused(server, replaced, ClientId, server.TokenEndpoint);
        Assert.Equal(1, server.State.RefusalCount("kid_not_found"));
        Assert.Contains("registered", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_id_with_no_registered_JWKS_is_refused()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient("someone-else", key.JwksJson());
        await Refused(server, key, ClientId, server.TokenEndpoint);
        Assert.Equal(1, server.State.RefusalCount("unknown_client"));
    }

    [Fact]
    public async Task An_assertion_for_another_audience_is_refused()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        var elsewhere = new Uri(server.TokenEndpoint.AbsoluteUri.Replace("127.0.0.1", "localhost", StringComparison.Ordinal)); // the same server under a name it does not publish
        await Refused(server, key, ClientId, elsewhere);
        Assert.Equal(1, server.State.RefusalCount("aud"));
    }

    [Fact]
    public async Task An_expired_assertion_and_one_too_far_ahead_are_refused()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        var behind = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(-10)); // a node clock ten minutes slow
        await Refused(server, key, ClientId, server.TokenEndpoint, behind);
        Assert.Equal(1, server.State.RefusalCount("expired"));
        var ahead = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(10));
        await Refused(server, key, ClientId, server.TokenEndpoint, ahead);
        Assert.Equal(1, server.State.RefusalCount("exp_too_far"));
    }

    [Fact]
    public async Task A_replayed_assertion_and_a_DER_signature_are_refused_by_the_server()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        using var http = new HttpClient();

        var assertion = ClientAssertion.Create(key, ClientId, server.TokenEndpoint);
        Assert.Equal(HttpStatusCode.OK, (await Post(http, server.TokenEndpoint, assertion)).StatusCode);
        var replay = await Post(http, server.TokenEndpoint, assertion); // a captured assertion sent again
        Assert.Equal(HttpStatusCode.BadRequest, replay.StatusCode);
        Assert.Equal("invalid_client", (string?)JsonNode.Parse(await replay.Content.ReadAsStringAsync())!["error"]);
        Assert.Equal(1, server.State.RefusalCount("jti_replayed"));

        // the same claims signed in DER (what ECDsa.SignData gives by default) instead of JWS's r‖s
        var fresh = ClientAssertion.Create(key, ClientId, server.TokenEndpoint).Split('.');
        var signer = typeof(SmartClientKey).GetField("_ec", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        var der = ((ECDsa)signer.GetValue(key)!).SignData(Encoding.ASCII.GetBytes(fresh[0] + "." + fresh[1]), HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence);
        var refused = await Post(http, server.TokenEndpoint, fresh[0] + "." + fresh[1] + "." + Base64Url.EncodeToString(der));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(1, server.State.RefusalCount("signature"));
        Assert.Equal(1, server.State.TokensIssued);
    }

    [Fact]
    public async Task An_OAuth_error_names_the_error_and_its_description()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        server.State.RefuseNext("invalid_client", "client disabled\r\nby the EHR");
        var e = await Refused(server, key, ClientId, server.TokenEndpoint);
        Assert.Contains("(client disabled??by the EHR)", e.Message, StringComparison.Ordinal);
        Assert.Equal(400, e.Status);

        server.State.RefuseNext("invalid_scope", "not for you");
        using var http = new HttpClient();
        using var client = new SmartTokenClient(http, key, ClientId, server.TokenEndpoint);
        var scope = await Assert.ThrowsAsync<SmartAuthorizationException>(async () => await client.GetAsync(false, CancellationToken.None));
        Assert.Equal("invalid_scope", scope.Error);
        Assert.Contains("invalid_scope (not for you)", scope.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_busy_answer_is_retried_after_its_Retry_After()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        server.State.FailNext(HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(1));
        server.State.FailNext(HttpStatusCode.ServiceUnavailable);
        using var http = new HttpClient();
        using var client = new SmartTokenClient(http, key, ClientId, server.TokenEndpoint, retry: FastRetry);
        var watch = Stopwatch.StartNew();
        var token = await client.GetAsync(false, CancellationToken.None);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.95), $"waited {watch.Elapsed} for Retry-After: 1");
        Assert.True(server.State.IsValidToken(token));
        Assert.Equal(3, server.State.TokenRequests);
        Assert.Equal(2, client.Retries);
        Assert.Equal(0, server.State.Refusals.Values.Sum()); // each try had its own jti
    }

    [Fact]
    public async Task Retries_are_bounded()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var key = SmartClientKey.Generate("ES384");
        server.State.RegisterClient(ClientId, key.JwksJson());
        server.State.FailNext(HttpStatusCode.ServiceUnavailable, times: 4);
        using var http = new HttpClient();
        using var client = new SmartTokenClient(http, key, ClientId, server.TokenEndpoint, retry: FastRetry);
        var busy = await Assert.ThrowsAsync<SmartAuthorizationException>(async () => await client.GetAsync(false, CancellationToken.None));
        Assert.Contains("HTTP 503", busy.Message, StringComparison.Ordinal);
        Assert.Equal(4, server.State.TokenRequests);

        server.State.FailNext(HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromHours(1));
        var tooLong = await Assert.ThrowsAsync<SmartAuthorizationException>(async () => await client.GetAsync(false, CancellationToken.None));
        Assert.Contains("Retry-After", tooLong.Message, StringComparison.Ordinal);

        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var unreachable = new SmartTokenClient(http, key, ClientId, new Uri($"http://127.0.0.1:{closedPort}/auth/token"), retry: FastRetry);
        var down = await Assert.ThrowsAsync<SmartAuthorizationException>(async () => await unreachable.GetAsync(false, CancellationToken.None));
        Assert.Contains("could not be reached", down.Message, StringComparison.Ordinal);
        Assert.Contains("4 tries", down.Message, StringComparison.Ordinal);
        Assert.Equal(3, unreachable.Retries);
    }

    [Fact]
    public async Task Plain_http_beyond_loopback_is_refused_for_the_FHIR_base_and_the_token_endpoint()
    {
        using var key = SmartClientKey.Generate("ES384");
        var calls = 0;
        using var http = new HttpClient(new CountingHandler(() => calls++));
        var fhir = await Assert.ThrowsAsync<InsecureUrlException>(() => SmartConfiguration.DiscoverAsync(http, new Uri("http://ehr.example/fhir"), "ES384"));
        Assert.StartsWith(UrlPolicy.HttpsRequired, fhir.Message, StringComparison.Ordinal);
        Assert.Throws<InsecureUrlException>(() => new SmartTokenClient(http, key, ClientId, new Uri("http://10.0.0.5/auth/token")));
        Assert.Equal(0, calls); // refused before anything was sent

        await using var server = await SmartAuthTestServer.StartAsync();
        server.State.AdvertisedTokenEndpoint = "http://ehr.example/auth/token";
        using var real = new HttpClient();
        var advertised = await Assert.ThrowsAsync<SmartAuthorizationException>(() => SmartConfiguration.DiscoverAsync(real, server.FhirBase, "ES384"));
        Assert.Contains(UrlPolicy.HttpsRequired, advertised.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Discovery_refuses_a_server_without_private_key_jwt_or_the_keys_algorithm()
    {
        await using var server = await SmartAuthTestServer.StartAsync();
        using var http = new HttpClient();
        var configuration = await SmartConfiguration.DiscoverAsync(http, server.FhirBase, "ES384");
        Assert.Equal(server.TokenEndpoint, configuration.TokenEndpoint);

        server.State.SigningAlgorithms = ["RS384"];
        var alg = await Assert.ThrowsAsync<SmartAuthorizationException>(() => SmartConfiguration.DiscoverAsync(http, server.FhirBase, "ES384"));
        Assert.Contains("ES384", alg.Message, StringComparison.Ordinal);
        Assert.Contains("--alg", alg.Message, StringComparison.Ordinal);

        server.State.AuthMethods = ["client_secret_basic"];
        var method = await Assert.ThrowsAsync<SmartAuthorizationException>(() => SmartConfiguration.DiscoverAsync(http, server.FhirBase, "RS384"));
        Assert.Contains("private_key_jwt", method.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<SmartAuthorizationException>(() => SmartConfiguration.DiscoverAsync(http, new Uri(server.BaseAddress, "no-fhir-here"), "ES384"));
        Assert.Equal(404, missing.Status);
    }

    private static async Task<SmartAuthorizationException> Refused(SmartAuthTestServer server, SmartClientKey key, string clientId, Uri endpoint, TimeProvider? clock = null)
    {
        using var http = new HttpClient();
        using var client = new SmartTokenClient(http, key, clientId, endpoint, time: clock);
        var e = await Assert.ThrowsAsync<SmartAuthorizationException>(async () => await client.GetAsync(false, CancellationToken.None));
        Assert.Equal("invalid_client", e.Error);
        Assert.Contains("invalid_client", e.Message, StringComparison.Ordinal);
        Assert.Contains("JWKS", e.Message, StringComparison.Ordinal);
        Assert.Contains("kid", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.State.TokensIssued);
        Assert.Equal(0, client.Retries); // a refusal is not retried
        return e;
    }

    private static Task<HttpResponseMessage> Post(HttpClient http, Uri endpoint, string assertion) =>
        http.PostAsync(endpoint, new FormUrlEncodedContent(
        [
            new("grant_type", "client_credentials"),
            new("scope", "system/*.rs"),
            new("client_assertion_type", ClientAssertion.Type),
            new("client_assertion", assertion),
        ]));

    private sealed class CountingHandler(Action onSend) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            onSend();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        }
    }
}
