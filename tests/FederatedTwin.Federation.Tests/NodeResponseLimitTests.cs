using System.Net;
using System.Net.Sockets;
using System.Text;
using FederatedTwin.Crypto;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The node reads a coordinator's answer only up to the size its kind may have, before it can check the answer's signature: a
/// larger one, declared or streamed, is refused unread as an untrusted response.
/// </summary>
public sealed class NodeResponseLimitTests
{
    /// <summary>A peer that answers one request with <paramref name="head"/> and then <paramref name="chunks"/> of 1 MiB, and holds the connection.</summary>
    private static async Task<(Uri Url, Task Served)> Serve(string head, int chunks)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var url = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}");
        async Task Run()
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var buffer = new byte[64 * 1024];
            var request = new StringBuilder();
            while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                request.Append(Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer)));
            }

            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                var chunk = Encoding.ASCII.GetBytes("100000\r\n").Concat(new byte[0x100000]).Concat("\r\n"u8.ToArray()).ToArray();
                for (var i = 0; i < chunks; i++)
                {
                    await stream.WriteAsync(chunk);
                }

                await Task.Delay(TimeSpan.FromSeconds(30)); // never ends the body: only a limit on the reader's side ends the exchange
            }
            catch (IOException)
            {
                // the node hung up
            }
            finally
            {
                listener.Stop();
            }
        }

        return (url, Run());
    }

    private static readonly Ed25519Identity NodeKey = Ed25519Identity.Generate();

    private static CoordinatorClient Client(Uri url, out HttpClient http)
    {
        http = new HttpClient { BaseAddress = url };
        return new CoordinatorClient(http, NodeKey, "node-x", NodeKey.PublicKey, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_declared_length_over_the_limit_is_refused_before_the_body_is_read()
    {
        var (url, _) = await Serve("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n", chunks: 0);
        var client = Client(url, out var http);
        using (http)
        {
            var started = TimeProvider.System.GetTimestamp();
            var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => client.Get<WorkResponse>("/v1/node/work", CancellationToken.None));
            Assert.Equal(CoordinatorClient.UntrustedResponse, e.Title);
            Assert.Contains("refused unread", e.Detail, StringComparison.Ordinal);
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(10)); // it did not wait for 5 GB
        }
    }

    [Fact]
    public async Task A_streamed_body_that_outgrows_the_limit_is_refused_when_it_does()
    {
        var (url, _) = await Serve("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunks: (int)(ResponseLimits.Default / 0x100000) + 2);
        var client = Client(url, out var http);
        using (http)
        {
            var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => client.Get<WorkResponse>("/v1/node/work", CancellationToken.None));
            Assert.Contains($"larger than the {ResponseLimits.Default} bytes", e.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_announcements_of_a_study_may_be_as_large_as_its_parties_crypto_objects_and_no_larger()
    {
        var scheme = RlweThresholdScheme.Default;
        var vector = scheme.EncryptedVectorLength(scheme.MaxValuesPerDecryption);
        var limit = ResponseLimits.AggregateAnnouncement(scheme, 3, scheme.MaxValuesPerDecryption);
        Assert.InRange(limit, 4 * (4L * vector / 3), 4 * (4L * vector / 3) + ResponseLimits.Default + (4 * ResponseLimits.PerPartyBytes) + 16);
        Assert.True(ResponseLimits.KeyAnnouncement(scheme, 3) < ResponseLimits.AggregateAnnouncement(scheme, 3, 1));
    }
}
