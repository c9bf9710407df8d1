using System.Net.Http;

namespace FederatedTwin.Node.Sources.Smart;

/// <summary>
/// The bearer tokens of one Bulk Data pull (<see cref="Bulk.BulkPuller"/>'s token factory): the server's SMART configuration is
/// discovered and the node's sealed client key loaded on the first request, then <see cref="SmartTokenClient"/> reuses its token
/// until shortly before expiry. Its own HttpClient does not follow redirects: a redirected token request would carry the signed
/// client assertion to another host (SMART App Launch v2, Backend Services; RFC 7523 section 3 binds it to the token endpoint).
/// </summary>
public sealed class SmartSourceTokens : IAccessTokenSource, IDisposable
{
    private readonly NodeDirectory _node;
    private readonly DataSource _source;
    private readonly TimeProvider? _time;
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromMinutes(1) };
    private readonly SemaphoreSlim _init = new(1, 1);
    private SmartTokenClient? _client;

    public SmartSourceTokens(NodeDirectory node, DataSource source, TimeProvider? time = null)
    {
        _node = node;
        _source = source;
        _time = time;
    }

    /// <summary>The factory <see cref="Bulk.BulkPuller"/> takes: SMART Backend Services tokens for each pull of a source of this node.</summary>
    public static Func<DataSource, HttpClient, IAccessTokenSource> For(NodeDirectory node, TimeProvider? time = null) =>
        (source, _) => new SmartSourceTokens(node, source, time);

    /// <summary>Token requests retried (429, 5xx, broken connections), for the pull's `retries`.</summary>
    public int Retries => _client?.Retries ?? 0;

    public async ValueTask<string> GetAsync(bool refresh, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _client) is not { } client)
        {
            await _init.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                client = _client ??= await SmartTokenClient.ForSourceAsync(_http, _node, _source, _time, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _init.Release();
            }
        }

        return await client.GetAsync(refresh, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _client?.Dispose();
        _http.Dispose();
        _init.Dispose();
    }
}
