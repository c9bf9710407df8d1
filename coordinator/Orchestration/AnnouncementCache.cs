using System.Collections.Concurrent;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>A response body made once: its bytes and their RFC 9530 Content-Digest, which the response signature covers.</summary>
public sealed record PreparedBody(byte[] Bytes, string ContentDigest)
{
    public static PreparedBody Of(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new PreparedBody(bytes, FederatedTwin.Protocol.Federation.ContentDigest.Compute(bytes));
    }
}

/// <summary>
/// The key and aggregate announcements of attempts, serialized once and served to every participant. An announcement is the same
/// bytes for every participant and never changes once formed: the collective key and the aggregate are stored once, as the phase
/// moves on, and the openings they carry are insert-only rows of phases that have ended (docs/protocol.md, "A round, and its
/// attempts"). Building one reads every participant's key share or ciphertext from the store (≈ 246 KB and 369 KB each) and writes
/// them as base64 JSON: at 50 nodes that is ≈ 20 MB read and 27 MB written, which the coordinator used to redo for each of the 50
/// requests of a phase (most of its CPU per round in `ftwin bench federation`). What every request still does itself: the
/// signature and nonce checks, the participant check against the stored attempt, and the response's own signature.
/// Bounded in bytes (the oldest entries go first); a replica of the coordinator keeps its own.
/// </summary>
/// <param name="maxBytes">At most this many body bytes are kept (by default 512 MiB: about 10 attempts of 50 nodes, or 100 of 3).</param>
public sealed class AnnouncementCache(long maxBytes = AnnouncementCache.DefaultMaxBytes)
{
    public const long DefaultMaxBytes = 512L * 1024 * 1024;

    private readonly ConcurrentDictionary<string, Lazy<PreparedBody>> _entries = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private long _bytes;

    public static string Key(StudyId study, int round, int attempt, string announcement) => $"{study.Value}\n{round}\n{attempt}\n{announcement}";

    /// <summary>The cached body, if this announcement was built before.</summary>
    public PreparedBody? Find(string key) => _entries.TryGetValue(key, out var entry) && entry.IsValueCreated ? entry.Value : null;

    /// <summary>
    /// The body of <paramref name="key"/>, built by <paramref name="build"/> once even when every participant asks at the same moment;
    /// a build that throws (the announcement is not formed yet) is not kept, and the next request tries again.
    /// </summary>
    public PreparedBody GetOrBuild(string key, Func<byte[]> build)
    {
        ArgumentNullException.ThrowIfNull(build);
        var entry = _entries.GetOrAdd(key, _ => new Lazy<PreparedBody>(() => PreparedBody.Of(build()), LazyThreadSafetyMode.ExecutionAndPublication));
        PreparedBody body;
        try
        {
            body = entry.Value;
        }
        catch
        {
            _entries.TryRemove(new KeyValuePair<string, Lazy<PreparedBody>>(key, entry));
            throw;
        }

        lock (_known)
        {
            // Counted once per key, when first built; evicted oldest first until the bytes fit (never the body just built).
            if (_known.Add(key))
            {
                _order.Enqueue(key);
                _bytes += body.Bytes.Length;
                while (_bytes > maxBytes && _order.TryPeek(out var oldest) && oldest != key && _order.TryDequeue(out _))
                {
                    _known.Remove(oldest);
                    if (_entries.TryRemove(oldest, out var evicted) && evicted.IsValueCreated)
                    {
                        _bytes -= evicted.Value.Bytes.Length;
                    }
                }
            }
        }

        return body;
    }
}
