using Dapper;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// A node works on several studies at once (NodeWorker, Node:MaxConcurrentStudies), so offers are decided on several threads at
/// once: on a real node store, offers decided at the same instant must not together spend more than the budget, because the
/// ledger's read of what is spent and its charge are one serializable SQLite transaction (StudyDecisions.Decide).
/// </summary>
public sealed class ConcurrentOffersTests : IDisposable
{
    private readonly FakeTimeProvider _clock = TestClock.Start();
    private readonly NodeDirectory _node;
    private readonly SimulatedFederation _federation;

    public ConcurrentOffersTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("concurrent-offers"), time: _clock);
        _federation = SimulatedFederation.Around(_node, peers: 2);
        var yaml = $"""
            version: 1
            trusted_coordinators:
              - name: aco
                public_key: {Convert.ToBase64String(new byte[32])}
            purposes_allowed: [HOPERAT]
            algorithms_allowed: [federated-glm]
            minimum_nodes: 3
            privacy_budgets: {"{HOPERAT: 1.0}"}
            lifetime_privacy_budget: 30
            """;
        File.WriteAllText(_node.PolicyPath, yaml);
        File.WriteAllText(_node.PolicyPath + ".sig", PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(yaml), _federation.Officer).ToJson());
    }

    private static StudySpec Glm(string id, string rho) =>
        new(new StudyId(id), "federated-glm", new PurposeOfUse("HOPERAT"), 3, 3, 1, 30) { Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["family"] = "binomial", ["outcome"] = "admission_next_year", ["features"] = "age,sex_male", ["dp_rho"] = rho } };

    [Fact]
    public void Two_offers_decided_at_once_whose_sum_exceeds_the_budget_are_not_both_charged()
    {
        // ρ 0.6 + 0.6 > 1.0: whichever is decided first is charged, the other refused; each on its own decisions object and thread,
        // as two studies' tasks are on a node.
        var decisions = RunAtOnce(Glm("glm-a", "0.6"), Glm("glm-b", "0.6"));
        Assert.Equal(1, decisions.Count(d => d.Accept));
        Assert.Equal("privacy_budgets", Assert.Single(decisions, d => !d.Accept).Rule);
        Assert.Equal(1L, _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM privacy_ledger")));
        Assert.Equal(0.6, _node.Store.Read(c => c.ExecuteScalar<double>("SELECT SUM(rho) FROM privacy_ledger")), 12);
    }

    [Fact]
    public void Eight_offers_decided_at_once_spend_at_most_the_budget_and_every_decision_is_audited_once()
    {
        // 8 × 0.3 against 1.0: exactly three fit (0.9), whatever the interleaving.
        var decisions = RunAtOnce([.. Enumerable.Range(1, 8).Select(i => Glm($"glm-{i}", "0.3"))]);
        Assert.Equal(3, decisions.Count(d => d.Accept));
        var spent = _node.Store.Read(c => c.ExecuteScalar<double>("SELECT SUM(rho) FROM privacy_ledger"));
        Assert.Equal(0.9, spent, 12);
        Assert.Equal(8L, _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM decisions")));
        Assert.Equal(8L, _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE action='study_decision'")));
    }

    /// <summary>Decides every offer on its own thread, released together by a barrier.</summary>
    private PolicyDecision[] RunAtOnce(params StudySpec[] studies)
    {
        using var start = new Barrier(studies.Length);
        var decisions = new PolicyDecision[studies.Length];
        var threads = studies.Select((study, i) => new Thread(() =>
        {
            var node = new StudyDecisions(_node, clock: _clock);
            start.SignalAndWait();
            decisions[i] = node.Decide(study);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return decisions;
    }

    public void Dispose()
    {
        _node.Dispose();
        _federation.Dispose();
    }
}
