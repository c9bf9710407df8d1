using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The coordinator's announcement cache: every participant of a phase asks for the same announcement at once; it is built once,
/// a build that fails (the announcement is not formed yet) is retried by the next request, and old attempts give way to new ones
/// within the byte budget. The end-to-end tests (real node processes checking every announcement's signature and Content-Digest)
/// cover the bodies as served.
/// </summary>
public sealed class AnnouncementCacheTests
{
    [Fact]
    public async Task Fifty_simultaneous_requests_build_the_announcement_once_and_get_the_same_bytes_and_digest()
    {
        var cache = new AnnouncementCache();
        var builds = 0;
        var key = AnnouncementCache.Key(new StudyId("s1"), 1, 1, "aggregate");
        using var start = new ManualResetEventSlim();
        var requests = Enumerable.Range(0, 50).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return cache.GetOrBuild(key, () =>
            {
                Interlocked.Increment(ref builds);
                Thread.Sleep(50);
                return [1, 2, 3];
            });
        })).ToList();
        start.Set();
        var bodies = await Task.WhenAll(requests);

        Assert.Equal(1, builds);
        Assert.All(bodies, b => Assert.Same(bodies[0], b));
        Assert.Equal(ContentDigest.Compute([1, 2, 3]), bodies[0].ContentDigest);
        Assert.Same(bodies[0], cache.Find(key));
    }

    [Fact]
    public void A_build_that_throws_is_not_kept()
    {
        var cache = new AnnouncementCache();
        var key = AnnouncementCache.Key(new StudyId("s1"), 1, 1, "key");
        Assert.Throws<InvalidOperationException>(() => cache.GetOrBuild(key, () => throw new InvalidOperationException("not formed yet")));
        Assert.Null(cache.Find(key));

        Assert.Equal([7], cache.GetOrBuild(key, () => [7]).Bytes);
    }

    [Fact]
    public void The_oldest_attempts_go_first_when_the_budget_is_spent()
    {
        var cache = new AnnouncementCache(maxBytes: 250);
        var keys = Enumerable.Range(1, 4).Select(a => AnnouncementCache.Key(new StudyId("s1"), 1, a, "key")).ToList();
        foreach (var k in keys)
        {
            cache.GetOrBuild(k, () => new byte[100]);
        }

        Assert.Null(cache.Find(keys[0]));
        Assert.Null(cache.Find(keys[1]));
        Assert.NotNull(cache.Find(keys[2]));
        Assert.NotNull(cache.Find(keys[3]));

        // A body larger than the whole budget is still served (and kept until the next one).
        var large = AnnouncementCache.Key(new StudyId("s2"), 1, 1, "aggregate");
        Assert.Equal(1000, cache.GetOrBuild(large, () => new byte[1000]).Bytes.Length);
        Assert.NotNull(cache.Find(large));
    }
}
