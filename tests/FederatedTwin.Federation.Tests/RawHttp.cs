using System.Globalization;
using System.Net.Sockets;
using System.Text;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// HTTP/1.1 by hand over a socket, for what HttpClient cannot show: a response that arrives while the request body is still being
/// sent (or never finished), a body that trickles in, a declared length the body never reaches.
/// </summary>
internal sealed class RawHttp : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly MemoryStream _received = new();

    private RawHttp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawHttp> Connect(Uri url)
    {
        var client = new TcpClient();
        await client.ConnectAsync(url.Host, url.Port);
        return new RawHttp(client);
    }

    /// <summary>Sends the request line and headers (and the blank line that ends them).</summary>
    public Task SendHead(string method, string path, Uri url, IEnumerable<(string Name, string Value)> headers)
    {
        var head = new StringBuilder($"{method} {path} HTTP/1.1\r\nHost: {url.Authority}\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        return _stream.WriteAsync(Encoding.ASCII.GetBytes(head.Append("\r\n").ToString())).AsTask();
    }

    /// <summary>Sends body bytes; false when the server has closed the connection (it refused the rest).</summary>
    public async Task<bool> TrySend(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await _stream.WriteAsync(bytes);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Reads the response's status line and headers (and what of the body came with them) within <paramref name="timeout"/>.</summary>
    public async Task<(int Status, string Head)> ReadHead(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var text = Encoding.ASCII.GetString(_received.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var head = text[..end];
                return (int.Parse(head.Split(' ')[1], CultureInfo.InvariantCulture), head);
            }

            var read = await _stream.ReadAsync(buffer, cancel.Token);
            if (read == 0)
            {
                throw new IOException($"The connection closed before a whole response head arrived: '{text}'.");
            }

            _received.Write(buffer, 0, read);
        }
    }

    /// <summary>The headers of a /v1/node request signed by <paramref name="coordinator"/>'s enrolled node over <paramref name="body"/>.</summary>
    public static List<(string Name, string Value)> SignedHeaders(InProcessCoordinator coordinator, string method, string path, ReadOnlySpan<byte> body)
    {
        var version = FederationProtocol.Version.ToString(CultureInfo.InvariantCulture);
        var digest = ContentDigest.Compute(body);
        var parameters = new SignatureParameters(HttpMessageSignatures.RequestComponents, coordinator.Clock.GetUtcNow().ToUnixTimeSeconds(), coordinator.NodeId, HttpMessageSignatures.NewNonce(), HttpMessageSignatures.Algorithm);
        var (input, signature) = HttpMessageSignatures.Sign(coordinator.Node.Identity, parameters, c => c switch
        {
            "@method" => method,
            "@path" => path,
            "@query" => "?",
            "content-digest" => digest,
            "ftwin-protocol" => version,
            _ => null,
        });
        return
        [
            (FederationProtocol.VersionHeader, version),
            (ContentDigest.HeaderName, digest),
            (HttpMessageSignatures.SignatureInputHeader, input),
            (HttpMessageSignatures.SignatureHeader, signature),
            ("Content-Type", FederationProtocol.JsonMediaType),
        ];
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _client.Dispose();
        await _received.DisposeAsync();
    }
}
