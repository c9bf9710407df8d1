using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Node.Sources.Smart;

/// <summary>How a token request is retried when the server is busy or unreachable (429, 502, 503, 504, a network error or a timeout).</summary>
public sealed record SmartRetryPolicy
{
    /// <summary>Tries in all, the first included.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>The first back-off; each further one doubles, times a random factor in [0.5, 1) so parallel clients do not retry in step.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest back-off.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest Retry-After (RFC 9110 §10.2.3) waited for; a server asking for longer ends the request with an error.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(2);

    public static SmartRetryPolicy Default { get; } = new();
}

/// <summary>
/// Access tokens for a Bulk Data client under SMART App Launch v2 "Backend Services": the OAuth 2.0 client credentials grant
/// (RFC 6749 §4.4) with the client authenticated by a signed JWT (<see cref="ClientAssertion"/>, RFC 7523 §2.2). A token is reused
/// until shortly before it expires (60 s, or a tenth of its lifetime when that is shorter); <c>refresh: true</c> (the FHIR server
/// refused it) gets a new one, which concurrent callers that were refused the same token share. Safe to share between the parallel
/// downloads of one export. Neither the token nor the assertion is ever logged, printed or put in an exception.
/// </summary>
public sealed class SmartTokenClient : IAccessTokenSource, IDisposable
{
    /// <summary>Read access to every resource type at system level (SMART v2 scopes: "rs" = read and search).</summary>
    public const string DefaultScope = "system/*.rs";

    private readonly HttpClient _http;
    private readonly SmartClientKey _key;
    private readonly string _clientId;
    private readonly TimeProvider _time;
    private readonly SmartRetryPolicy _retry;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly bool _ownsKey;
    private volatile IssuedToken? _current;
    private int _tokensObtained;
    private int _retries;

    /// <param name="http">
    /// The client to reach the token endpoint with (its handler's TLS settings are the caller's). Give it a handler that does not follow
    /// redirects (<c>AllowAutoRedirect = false</c>): a 307 would carry the assertion to another host; unfollowed, a redirect is refused.
    /// </param>
    /// <param name="key">The node's SMART client key (<see cref="SmartClientKey.Load"/>); the caller keeps and disposes it.</param>
    /// <param name="clientId">The client id the EHR assigned when the node's JWKS was registered.</param>
    /// <param name="tokenEndpoint">The token endpoint (<see cref="SmartConfiguration.TokenEndpoint"/>): https, or http on loopback.</param>
    /// <param name="scope">The scopes to ask for; null for <see cref="DefaultScope"/> (<see cref="ScopeFor"/> narrows it to types).</param>
    /// <param name="time">The clock of the assertions' iat/exp and of the tokens' expiry.</param>
    /// <param name="retry">How busy or unreachable servers are retried; null for <see cref="SmartRetryPolicy.Default"/>.</param>
    public SmartTokenClient(HttpClient http, SmartClientKey key, string clientId, Uri tokenEndpoint, string? scope = null, TimeProvider? time = null, SmartRetryPolicy? retry = null)
        : this(http, key, clientId, tokenEndpoint, scope, time, retry, ownsKey: false)
    {
    }

    private SmartTokenClient(HttpClient http, SmartClientKey key, string clientId, Uri tokenEndpoint, string? scope, TimeProvider? time, SmartRetryPolicy? retry, bool ownsKey)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrWhiteSpace(clientId);
        ArgumentNullException.ThrowIfNull(tokenEndpoint);
        _http = http;
        _key = key;
        _clientId = clientId;
        TokenEndpoint = UrlPolicy.Require(tokenEndpoint, "the token endpoint");
        Scope = string.IsNullOrWhiteSpace(scope) ? DefaultScope : scope.Trim();
        _time = time ?? TimeProvider.System;
        _retry = retry ?? SmartRetryPolicy.Default;
        _ownsKey = ownsKey;
        if (_retry.MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(retry), "MaxAttempts must be at least 1.");
        }
    }

    /// <summary>The token endpoint requests go to.</summary>
    public Uri TokenEndpoint { get; }

    /// <summary>The scopes requested.</summary>
    public string Scope { get; }

    /// <summary>The scopes the server granted with the current token (its "scope" answer), or null.</summary>
    public string? GrantedScope => _current?.Scope;

    /// <summary>When the current token expires, or null when there is none yet.</summary>
    public DateTimeOffset? ExpiresAt => _current?.ExpiresAt;

    /// <summary>Tokens obtained from the server so far.</summary>
    public int TokensObtained => Volatile.Read(ref _tokensObtained);

    /// <summary>Token requests retried so far (busy server, network error); a pull's summary adds them to its own retries.</summary>
    public int Retries => Volatile.Read(ref _retries);

    /// <summary>
    /// Discovers the token endpoint of <paramref name="fhirBase"/> (<see cref="SmartConfiguration.DiscoverAsync"/>, checked against the
    /// key's algorithm) and returns a client for it.
    /// </summary>
    public static async Task<SmartTokenClient> ForServerAsync(HttpClient http, Uri fhirBase, SmartClientKey key, string clientId, string? scope = null, TimeProvider? time = null, SmartRetryPolicy? retry = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        var configuration = await SmartConfiguration.DiscoverAsync(http, fhirBase, key.Algorithm, cancellationToken).ConfigureAwait(false);
        return new SmartTokenClient(http, key, clientId, configuration.TokenEndpoint, scope, time, retry);
    }

    /// <summary>
    /// The token client of a configured FHIR Bulk Data source: the node's sealed SMART client key (owned by the client, disposed with
    /// it), the source's client id, the scopes of its types (<see cref="ScopeFor"/>), the token endpoint discovered at its FHIR base.
    /// </summary>
    public static async Task<SmartTokenClient> ForSourceAsync(HttpClient http, NodeDirectory node, DataSource source, TimeProvider? time = null, SmartRetryPolicy? retry = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(source);
        if (source.Kind != SourceKind.FhirBulk || string.IsNullOrWhiteSpace(source.FhirBase) || string.IsNullOrWhiteSpace(source.ClientId))
        {
            throw new SmartAuthorizationException($"Source '{source.Name}' is not a FHIR Bulk Data source with a FHIR base URL and the client id the EHR assigned.");
        }

        if (!Uri.TryCreate(source.FhirBase, UriKind.Absolute, out var fhirBase))
        {
            throw new SmartAuthorizationException($"Source '{source.Name}' has a FHIR base that is not an absolute URL.");
        }

        string scope;
        try
        {
            scope = ScopeFor(source.Types);
        }
        catch (ArgumentException e)
        {
            throw new SmartAuthorizationException($"Source '{source.Name}': {e.Message}", inner: e);
        }

        var key = SmartClientKey.Load(node);
        try
        {
            var configuration = await SmartConfiguration.DiscoverAsync(http, fhirBase, key.Algorithm, cancellationToken).ConfigureAwait(false);
            return new SmartTokenClient(http, key, source.ClientId, configuration.TokenEndpoint, scope, time, retry, ownsKey: true);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The SMART v2 system scopes for reading these resource types ("system/Patient.rs system/Condition.rs"), or
    /// <see cref="DefaultScope"/> for none: a source that exports named types asks for no more than it reads.
    /// </summary>
    public static string ScopeFor(IEnumerable<string>? resourceTypes)
    {
        var types = (resourceTypes ?? []).Select(t => t.Trim()).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (types.Count == 0)
        {
            return DefaultScope;
        }

        foreach (var type in types)
        {
            // a FHIR resource type name (FHIR R4 "Resource.resourceType": an upper-case letter, then letters and digits)
            if (!char.IsAsciiLetterUpper(type[0]) || !type.All(char.IsAsciiLetterOrDigit))
            {
                throw new ArgumentException($"'{type}' is not a FHIR resource type name.", nameof(resourceTypes));
            }
        }

        return string.Join(' ', types.Select(t => $"system/{t}.rs"));
    }

    /// <inheritdoc />
    public async ValueTask<string> GetAsync(bool refresh, CancellationToken cancellationToken)
    {
        var seen = _current;
        if (!refresh && seen is not null && _time.GetUtcNow() < seen.RenewAt)
        {
            return seen.Value;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var latest = _current;
            var now = _time.GetUtcNow();
            if (latest is not null && now < latest.RenewAt && (!refresh || !ReferenceEquals(latest, seen)))
            {
                return latest.Value; // still good, or new since this caller was refused the one it saw: one refresh serves them all
            }

            var issued = await RequestAsync(cancellationToken).ConfigureAwait(false);
            _current = issued;
            Interlocked.Increment(ref _tokensObtained);
            return issued.Value;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _gate.Dispose();
        if (_ownsKey)
        {
            _key.Dispose();
        }
    }

    private async Task<IssuedToken> RequestAsync(CancellationToken cancellationToken)
    {
        var where = TokenEndpoint.GetLeftPart(UriPartial.Authority);
        for (var attempt = 1; ; attempt++)
        {
            // a new assertion for every try: the server refuses a jti it has seen (RFC 7523 §3, item 7)
            var assertion = ClientAssertion.Create(_key, _clientId, TokenEndpoint, _time);
            using var request = new HttpRequestMessage(HttpMethod.Post, TokenEndpoint)
            {
                Content = new FormUrlEncodedContent(
                [
                    new("grant_type", "client_credentials"),
                    new("scope", Scope),
                    new("client_assertion_type", ClientAssertion.Type),
                    new("client_assertion", assertion),
                ]),
            };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                var reason = e is HttpRequestException h ? $"could not be reached ({h.HttpRequestError})" : "did not answer in time";
                if (attempt >= _retry.MaxAttempts)
                {
                    throw new SmartAuthorizationException($"The token endpoint at {where} {reason} in {attempt} tries.", inner: e);
                }

                await WaitAsync(Backoff(attempt), cancellationToken).ConfigureAwait(false);
                continue;
            }

            using (response)
            {
                var status = (int)response.StatusCode;
                if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout)
                {
                    if (attempt >= _retry.MaxAttempts)
                    {
                        throw new SmartAuthorizationException($"The token endpoint at {where} answered HTTP {status} (busy) to all {attempt} tries; try again later.", status: status);
                    }

                    var delay = RetryAfter(response) is { } asked
                        ? asked <= _retry.MaxRetryAfter ? asked : throw new SmartAuthorizationException($"The token endpoint at {where} answered HTTP {status} and asks to wait {asked.TotalSeconds:0} s (Retry-After), longer than the {_retry.MaxRetryAfter.TotalSeconds:0} s the node waits; try again later.", status: status)
                        : Backoff(attempt);
                    await WaitAsync(delay, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                var body = await SmartConfiguration.ReadBoundedAsync(response, "the token endpoint's answer", cancellationToken).ConfigureAwait(false);
                return response.IsSuccessStatusCode
                    ? ParseToken(body, where, status)
                    : throw Refused(body, where, status, assertion);
            }
        }
    }

    private async Task WaitAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _retries);
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var exponential = _retry.BaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1);
        var capped = Math.Min(exponential, _retry.MaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + (RandomNumberGenerator.GetInt32(1_000_000) / 2_000_000.0)));
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } header)
        {
            return null;
        }

        if (header.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    private IssuedToken ParseToken(byte[] body, string where, int status)
    {
        // RFC 6749 §5.1; SMART Backend Services makes expires_in and scope required
        JsonElement root;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
            root = document.RootElement;
        }
        catch (JsonException e)
        {
            throw new SmartAuthorizationException($"The token endpoint at {where} answered HTTP {status} without a JSON token response.", status: status, inner: e);
        }

        using (document)
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new SmartAuthorizationException($"The token endpoint at {where} answered HTTP {status} without a JSON token response.", status: status);
            }

            var token = root.TryGetProperty("access_token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : null;
            if (token is null || !IsBearerToken(token))
            {
                throw new SmartAuthorizationException($"The token endpoint at {where} answered without a usable access_token (RFC 6750 §2.1 token characters).", status: status);
            }

            var type = root.TryGetProperty("token_type", out var tt) && tt.ValueKind == JsonValueKind.String ? tt.GetString() : null;
            if (!string.Equals(type, "bearer", StringComparison.OrdinalIgnoreCase))
            {
                throw new SmartAuthorizationException($"The token endpoint at {where} issued a token of type '{Printable(type ?? "(none)", 32)}'; a Bulk Data client uses bearer tokens (RFC 6750).", status: status);
            }

            long? seconds = root.TryGetProperty("expires_in", out var e) ? e.ValueKind switch
            {
                JsonValueKind.Number when e.TryGetInt64(out var n) => n,
                JsonValueKind.String when long.TryParse(e.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) => n,
                _ => null,
            } : null;
            if (seconds is not > 0)
            {
                throw new SmartAuthorizationException($"The token endpoint at {where} answered without a positive expires_in, which SMART Backend Services requires.", status: status);
            }

            var lifetime = TimeSpan.FromSeconds(Math.Min(seconds.Value, (long)TimeSpan.FromDays(1).TotalSeconds));
            var margin = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(60).Ticks, lifetime.Ticks / 10));
            var now = _time.GetUtcNow();
            var scope = root.TryGetProperty("scope", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            return new IssuedToken(token, now + lifetime - margin, now + lifetime, scope);
        }
    }

    private static SmartAuthorizationException Refused(byte[] body, string where, int status, string assertion)
    {
        string? error = null;
        string? description = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                error = document.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                description = document.RootElement.TryGetProperty("error_description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            }
        }
        catch (JsonException)
        {
            // not an RFC 6749 §5.2 error answer: said below
        }

        if (error is null)
        {
            return new SmartAuthorizationException($"The token endpoint at {where} answered HTTP {status} without an OAuth error (RFC 6749 §5.2).", status: status);
        }

        error = Printable(error, 64);
        if (description is not null)
        {
            // the server's words, but never the credential this node sent, should a server echo it
            foreach (var part in assertion.Split('.').Prepend(assertion).Where(p => p.Length >= 16))
            {
                description = description.Replace(part, "[assertion]", StringComparison.Ordinal);
            }

            description = Printable(description, 300);
        }

        var hint = error switch
        {
            "invalid_client" => " The EHR did not accept the node's client assertion: check that the node's JWKS (`ftwin node smart-key show`) is registered with the EHR for this client id, that its kid matches (a replaced key must be registered again), and that this host's clock is right.",
            "invalid_scope" => " The EHR does not grant the scopes asked for: ask it to allow them for this client, or narrow the source's types.",
            "unauthorized_client" => " The EHR does not let this client use the client_credentials grant (SMART Backend Services): ask its administrators to enable it for the client id.",
            _ => string.Empty,
        };
        return new SmartAuthorizationException(
            $"The token endpoint at {where} refused the node's token request (HTTP {status}): {error}{(description is null ? string.Empty : " (" + description + ")")}.{hint}",
            error,
            status);
    }

    /// <summary>RFC 6750 §2.1 b64token: what a bearer token may hold, so it goes into an Authorization header as it is.</summary>
    private static bool IsBearerToken(string token)
    {
        if (token.Length is 0 or > 16 * 1024)
        {
            return false;
        }

        var end = token.Length;
        while (end > 1 && token[end - 1] == '=')
        {
            end--;
        }

        return token.AsSpan(0, end).IndexOfAnyExcept(BearerCharacters) < 0;
    }

    private static readonly System.Buffers.SearchValues<char> BearerCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");

    /// <summary>A server's text as one line of printable ASCII (RFC 6749 §5.2 allows no more), cut to <paramref name="max"/> characters.</summary>
    private static string Printable(string text, int max)
    {
        var builder = new StringBuilder(Math.Min(text.Length, max));
        foreach (var c in text)
        {
            if (builder.Length >= max)
            {
                builder.Append('…');
                break;
            }

            builder.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return builder.ToString();
    }

    private sealed record IssuedToken(string Value, DateTimeOffset RenewAt, DateTimeOffset ExpiresAt, string? Scope)
    {
        // a record prints its members: this one must never print the token
        public override string ToString() => $"bearer token until {ExpiresAt:O}";
    }
}
