using Dapper;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The pinned federation roster: a node pins a version only with its own compliance officer's approval, listing itself, of the same
/// federation, and newer than the one pinned; each refusal is audited once per document, with its rule.
/// </summary>
public sealed class RosterTests : IDisposable
{
    private readonly NodeDirectory _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("roster"));
    private readonly SimulatedFederation _federation;

    public RosterTests() => _federation = SimulatedFederation.Around(_node, peers: 2);

    private string Refused(byte[] document) => Assert.Throws<RosterRefusedException>(() => PinnedRoster.Pin(_node, document, "test")).Rule;

    private List<string> RefusalRules() => [.. _node.Store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action=@a ORDER BY seq", new { a = AuditActions.RosterRefused }))
        .Select(d => System.Text.Json.Nodes.JsonNode.Parse(d)!["rule"]!.GetValue<string>())];

    [Fact]
    public void A_roster_approved_by_this_sites_officer_that_lists_the_node_is_pinned_and_audited_with_its_members_and_approver()
    {
        using var extra = new Peer("joiner");
        var pinned = _federation.Pin(2, [.. _federation.Peers, extra]);
        Assert.Equal(2, pinned.Version);
        Assert.Equal(_federation.Officer.PublicKey, pinned.ApprovedBy);
        var entry = _node.Store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action=@a ORDER BY seq", new { a = AuditActions.RosterPinned }).Last());
        var detail = System.Text.Json.Nodes.JsonNode.Parse(entry)!;
        Assert.Equal(2, detail["version"]!.GetValue<int>());
        Assert.Equal(["joiner"], detail["added"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Equal(1, detail["previous_version"]!.GetValue<int>());
    }

    [Fact]
    public void A_roster_no_officer_of_this_site_approved_is_refused_whoever_else_signed_it()
    {
        using var coordinator = Ed25519Identity.Generate();
        var unsigned = _federation.Roster(2, _federation.Peers, approved: false);
        Assert.Equal(PinnedRoster.Unsigned, Refused(unsigned.ToJson()));
        Assert.Equal(PinnedRoster.Unsigned, Refused(unsigned.Approve(coordinator).ToJson()));

        // An approval of other bytes (a member added after the officer signed) does not carry over.
        using var sneaked = new Peer("sneaked");
        var approved = _federation.Roster(2, _federation.Peers);
        var altered = approved with { Roster = approved.Roster with { Members = [.. approved.Roster.Members, new RosterMember("sneaked", sneaked.Key)] } };
        Assert.Equal(PinnedRoster.Unsigned, Refused(altered.ToJson()));
        Assert.Equal(1, PinnedRoster.Load(_node.Store)!.Version);
    }

    [Fact]
    public void A_roster_without_this_node_of_another_federation_or_not_newer_is_refused()
    {
        var withoutSelf = new SignedRoster(new FederationRoster("test-aco", 2, [.. _federation.Peers.Select(p => new RosterMember(p.Name, p.Key))]), []).Approve(_federation.Officer);
        Assert.Equal(PinnedRoster.SelfMissing, Refused(withoutSelf.ToJson()));

        var current = _federation.Roster(2, _federation.Peers);
        var otherFederation = new SignedRoster(current.Roster with { Federation = "other-aco" }, []).Approve(_federation.Officer);
        Assert.Equal(PinnedRoster.FederationChanged, Refused(otherFederation.ToJson()));

        // Version 1 again, with another member list (a replay of an old roster that still lists a removed key).
        using var removed = new Peer("removed");
        Assert.Equal(PinnedRoster.Rollback, Refused(_federation.Roster(1, [.. _federation.Peers, removed]).ToJson()));
        Assert.Equal(PinnedRoster.Malformed, Refused("{\"roster\": 1}"u8.ToArray()));
    }

    [Fact]
    public void The_same_roster_again_changes_nothing_and_a_refused_document_is_audited_once()
    {
        var again = _federation.Roster(1, _federation.Peers);
        Assert.Equal(1, PinnedRoster.Pin(_node, again.ToJson(), "test").Version);
        Assert.Single(_node.Store.Read(c => c.Query<long>("SELECT version FROM rosters")));

        var unsigned = _federation.Roster(2, _federation.Peers, approved: false).ToJson();
        Refused(unsigned);
        Refused(unsigned);
        Assert.Equal([PinnedRoster.Unsigned], RefusalRules());
    }

    [Fact]
    public void The_coordinator_relays_a_newer_roster_or_the_same_one_with_more_approvals_and_nothing_else()
    {
        var dir = TestFederation.TempDir("roster-coordinator");
        var store = CoordinatorStore.Sqlite(dir);
        using var keys = CoordinatorKeys.LoadOrCreate(dir);
        using var metrics = new CoordinatorMetrics();
        var gateway = new NodeGateway(store, RlweThresholdScheme.Default, metrics, new CoordinatorAuditTrail(store, keys), new CoordinatorSignals());
        using var second = Ed25519Identity.Generate();
        var now = TestClock.Epoch; // the coordinator dates what it publishes; no rule here depends on when

        var v1 = _federation.Roster(1, _federation.Peers);
        gateway.PublishRoster(v1.ToJson(), now);
        gateway.PublishRoster(v1.Approve(second).ToJson(), now); // the same members, one more officer's approval
        Assert.Equal(2, SignedRoster.Parse(gateway.LatestRoster()).Approvals.Count);

        using var other = new Peer("other");
        var conflict = Assert.Throws<ProtocolRefusalException>(() => gateway.PublishRoster(_federation.Roster(1, [other]).ToJson(), now));
        Assert.Equal(409, conflict.Status);
        Assert.Equal(400, Assert.Throws<ProtocolRefusalException>(() => gateway.PublishRoster("not a roster"u8.ToArray(), now)).Status);
        gateway.PublishRoster(_federation.Roster(2, [.. _federation.Peers, other]).ToJson(), now);
        Assert.Equal(2, SignedRoster.Parse(gateway.LatestRoster()).Roster.Version);
        Assert.Equal(3L, store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE action=@a", new { a = AuditActions.RosterPublished })));
    }

    public void Dispose()
    {
        _node.Dispose();
        _federation.Dispose();
    }
}
