using System.Net;
using System.Net.Sockets;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// Test double of a load balancer in front of coordinator replicas (what HAProxy, nginx or a cloud load balancer does in a real
/// deployment, docs/operations.md "Running replicas"): a loopback TCP listener that hands each new connection to the next replica in
/// turn that accepts one, and pipes bytes both ways until either side closes. A replica that is down (connection refused) is skipped; a
/// replica killed mid-connection resets it, and the node's next request opens a new one to a live replica. Layer 4 only: it reads no
/// HTTP, so signatures and bodies pass through untouched. <see cref="MarkDown"/> is what a failed health check does (HAProxy's
/// <c>on-marked-down shutdown-sessions</c>): the replica gets no new connections and its open ones are closed, so nodes whose
/// connections were held by a paused replica reconnect to a live one.
/// </summary>
internal sealed class LoadBalancer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IReadOnlyList<int> _backends;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly bool[] _down = new bool[8];
    private readonly CancellationTokenSource?[] _sessions = new CancellationTokenSource?[8];
    private int _next;
    private long _connections;

    public LoadBalancer(IReadOnlyList<int> backendPorts)
    {
        _backends = backendPorts;
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    /// <summary>Connections handed to each replica so far (by its index), to show that both served nodes.</summary>
    public long[] PerBackend { get; } = new long[8];

    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Takes a replica out of rotation and closes the connections it holds (a failed health check).</summary>
    public void MarkDown(int index)
    {
        lock (_down)
        {
            _down[index] = true;
            _sessions[index]?.Cancel();
            _sessions[index] = null;
        }
    }

    /// <summary>Puts a replica back in rotation (its health check passes again).</summary>
    public void MarkUp(int index)
    {
        lock (_down)
        {
            _down[index] = false;
        }
    }

    /// <summary>The token that ends every session to a replica when it is marked down; null while it is down.</summary>
    private CancellationToken? SessionToken(int index)
    {
        lock (_down)
        {
            if (_down[index])
            {
                return null;
            }

            _sessions[index] ??= new CancellationTokenSource();
            return _sessions[index]!.Token;
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var start = Interlocked.Increment(ref _next);
            for (var i = 0; i < _backends.Count; i++)
            {
                var index = (start + i) % _backends.Count;
                if (SessionToken(index) is not { } session)
                {
                    continue; // marked down
                }

                using var backend = new TcpClient();
                try
                {
                    await backend.ConnectAsync(IPAddress.Loopback, _backends[index], _stop.Token);
                }
                catch (SocketException)
                {
                    continue; // that replica is down: the next one
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                Interlocked.Increment(ref _connections);
                Interlocked.Increment(ref PerBackend[index]);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, session);
                var up = Pipe(client.GetStream(), backend.GetStream(), both.Token);
                var down = Pipe(backend.GetStream(), client.GetStream(), both.Token);
                await Task.WhenAny(up, down);
                await both.CancelAsync(); // either side closed or failed (or the replica was marked down): close both, as a proxy does
                client.Client.Close(0);
                backend.Client.Close(0);
                return;
            }
        }
    }

    private static async Task Pipe(NetworkStream from, NetworkStream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // a reset or a close: the connection ends
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }
}
