using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// The round engine's lease on a real PostgreSQL (a throwaway cluster): two <see cref="LeaderLease"/>s stand for two replicas on one
/// store, stepped by the test instead of their background service, so that "paused" is exact: a lease that is not stepped is a
/// replica that does nothing. What the failover tests show with processes, here one rule at a time.
/// </summary>
[Trait("Category", "Failover")]
public sealed class LeaderLeaseTests : IDisposable
{
    private const int LeaseSeconds = 1;
    private readonly PostgresCluster _cluster = PostgresCluster.Start();
    private readonly string _dir = Faults.TempDir("lease");
    private readonly CoordinatorStore _store;
    private readonly CoordinatorKeys _keys;
    private readonly CoordinatorAuditTrail _audit;
    private readonly CoordinatorMetrics _metrics = new();

    public LeaderLeaseTests()
    {
        _store = CoordinatorStore.Postgres(_cluster.CreateDatabase("lease"));
        _keys = CoordinatorKeys.LoadOrCreate(_dir);
        _audit = new CoordinatorAuditTrail(_store, _keys);
    }

    private LeaderLease Replica(string name) =>
        new(_store, _audit, _metrics, TimeProvider.System, NullLogger<LeaderLease>.Instance, contended: true, name, LeaseSeconds);

    private static Task Expire() => Task.Delay(TimeSpan.FromSeconds(LeaseSeconds) + TimeSpan.FromMilliseconds(300));

    private List<JsonNode> AuditOf(string action) =>
        _store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action=@action ORDER BY seq", new { action }).Select(d => JsonNode.Parse(d)!).ToList());

    /// <summary>A write the round engine would make, behind the fence: an event row.</summary>
    private void FencedWrite(LeaderLease lease, string detail) => _store.Write((c, t) =>
    {
        lease.Fence(c, t);
        c.Execute("INSERT INTO events(at, kind, study_id, node_id, detail) VALUES ('2026-12-08T00:00:00Z', 'lease_test', NULL, NULL, @detail)", new { detail }, t);
    });

    private long Events(string detail) => _store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM events WHERE detail=@detail", new { detail }));

    [Fact]
    public async Task The_first_replica_takes_the_lease_the_second_only_once_it_has_run_out_and_under_a_larger_token()
    {
        var a = Replica("a");
        var b = Replica("b");
        Assert.True(a.Step());
        Assert.Equal(1, a.Token);
        Assert.False(b.Step());
        Assert.True(a.Step()); // renewed: same token
        Assert.Equal(1, a.Token);
        Assert.False(b.Step());

        await Expire(); // a stops renewing (killed)
        Assert.True(b.Step());
        Assert.Equal(2, b.Token);
        Assert.False(a.Step()); // woken: its renewal is refused, and it knows it no longer leads
        Assert.False(a.IsLeader);

        var acquired = AuditOf("leader_acquired");
        Assert.Equal([(a.ReplicaId, 1L), (b.ReplicaId, 2L)], acquired.Select(e => (e["replica"]!.ToString(), e["token"]!.GetValue<long>())));
        var lost = Assert.Single(AuditOf("leader_lost"));
        Assert.Equal(a.ReplicaId, lost["replica"]!.ToString());
        Assert.StartsWith("renewal refused: the lease is held by " + b.ReplicaId + " under token 2", lost["reason"]!.ToString(), StringComparison.Ordinal);
        var status = b.Status();
        Assert.Equal((true, 2L, b.ReplicaId, "lease"), (status.Leader, status.Token!.Value, status.Holder, status.Mode));
    }

    [Fact]
    public async Task A_leader_paused_past_its_lease_cannot_commit_a_transition_after_another_took_over()
    {
        var a = Replica("a");
        var b = Replica("b");
        Assert.True(a.Step());
        FencedWrite(a, "a-before");

        await Expire(); // a is paused: it neither renews nor writes
        Assert.True(b.Step());
        Assert.True(a.IsLeader, "a's belief is stale, as a paused process's is");
        var refused = Assert.Throws<LeaseLostException>(() => FencedWrite(a, "a-after"));
        Assert.StartsWith($"fenced: the lease is held by {b.ReplicaId} under token 2", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, Events("a-after")); // rolled back
        FencedWrite(b, "b-after");
        Assert.Equal((1L, 1L), (Events("a-before"), Events("b-after")));
    }

    [Fact]
    public async Task A_leader_whose_lease_ran_out_unclaimed_writes_again_only_after_renewing_under_the_same_token()
    {
        var a = Replica("a");
        Assert.True(a.Step());
        await Expire();
        Assert.Throws<LeaseLostException>(() => FencedWrite(a, "expired")); // run out by the database's clock, though nobody took it
        Assert.True(a.Step());
        Assert.Equal(1, a.Token);
        FencedWrite(a, "renewed");
        Assert.Equal((0L, 1L), (Events("expired"), Events("renewed")));
    }

    [Fact]
    public async Task A_takeover_waits_for_a_transition_already_past_the_fence()
    {
        var a = Replica("a");
        var b = Replica("b");
        Assert.True(a.Step());
        using (var c = _store.Open())
        {
            using var t = c.BeginTransaction(System.Data.IsolationLevel.Serializable);
            a.Fence(c, t); // a's transition holds the lease row's share lock
            await Expire(); // the lease runs out while the transition is still open (idle well under twice the lease)
            Assert.ThrowsAny<Exception>(() => b.Step()); // the takeover cannot lock the row within its lock_timeout
            Assert.False(b.IsLeader);
            c.Execute("INSERT INTO events(at, kind, study_id, node_id, detail) VALUES ('2026-12-08T00:00:00Z', 'lease_test', NULL, NULL, 'in-flight')", transaction: t);
            t.Commit(); // committed under a's token, before any takeover
        }

        Assert.True(b.Step());
        Assert.Equal(2, b.Token);
        Assert.Equal(1, Events("in-flight"));
    }

    [Fact]
    public async Task A_leader_paused_inside_a_fenced_transaction_holds_up_a_takeover_only_until_postgresql_ends_its_session()
    {
        var a = Replica("a");
        var b = Replica("b");
        Assert.True(a.Step());
        using var c = _store.Open();
        using var t = c.BeginTransaction(System.Data.IsolationLevel.Serializable);
        a.Fence(c, t);
        await Task.Delay(TimeSpan.FromMilliseconds(a.IdleMilliseconds + 500)); // paused inside the transaction
        Assert.True(b.Step()); // its session was ended: the row is free
        Assert.Equal(2, b.Token);
        Assert.ThrowsAny<Exception>(() =>
        {
            c.Execute("INSERT INTO events(at, kind, study_id, node_id, detail) VALUES ('2026-12-08T00:00:00Z', 'lease_test', NULL, NULL, 'paused')", transaction: t);
            t.Commit();
        });
        Assert.Equal(0, Events("paused"));
    }

    [Fact]
    public void With_sqlite_the_lease_is_held_from_the_start_without_a_row_or_a_check()
    {
        var dir = Faults.TempDir("lease-sqlite");
        var store = CoordinatorStore.Sqlite(dir);
        var lease = new LeaderLease(store, new CoordinatorAuditTrail(store, _keys), _metrics, TimeProvider.System, NullLogger<LeaderLease>.Instance, contended: false, "only", 5);
        Assert.True(lease.IsLeader);
        Assert.True(lease.Step());
        store.Write((c, t) => lease.Fence(c, t));
        Assert.Equal("single", lease.Status().Mode);
        Assert.Equal(0, store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM coordinator_lease")));
    }

    public void Dispose()
    {
        _keys.Dispose();
        _metrics.Dispose();
        _store.Dispose();
        _cluster.Dispose();
    }
}
