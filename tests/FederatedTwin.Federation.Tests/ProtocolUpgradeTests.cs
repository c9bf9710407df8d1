using Dapper;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Coordinator;
using FederatedTwin.Node;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Stores written by protocol version 1 open under version 2: what can continue continues, what cannot is ended with its reason, and
/// nothing a hospital must keep (decisions, its privacy ledger, the audit trail) is lost.
/// </summary>
public sealed class ProtocolUpgradeTests
{
    /// <summary>The last coordinator store schema of protocol 1 (the seventh migration brought protocol 2's).</summary>
    private const int ProtocolOneCoordinatorSchema = 6;

    /// <summary>The last coordinator store schema of protocol 2 (the eighth brought protocol 3's enrollment bound to keys).</summary>
    private const int ProtocolTwoCoordinatorSchema = 7;

    [Fact]
    public void A_coordinator_store_of_protocol_1_fails_its_running_studies_with_the_reason_and_keeps_offered_ones()
    {
        var dir = TestFederation.TempDir("upgrade-coordinator");
        using (var connection = TestStore.Create(Path.Combine(dir, "coordinator.db")))
        {
            Migrations.Apply(connection, upTo: ProtocolOneCoordinatorSchema);
            connection.Execute("""
                INSERT INTO studies(study_id, spec_json, state, created_at, offered_until, current_round, current_attempt, updated_at) VALUES
                    ('running-v1', '{}', 'running', '2026-12-01T00:00:00Z', '2026-12-01T00:01:00Z', 1, 1, '2026-12-01T00:00:00Z'),
                    ('offered-v1', '{}', 'offered', '2026-12-01T00:00:00Z', '2099-12-01T00:01:00Z', 0, 0, '2026-12-01T00:00:00Z');
                INSERT INTO attempts(study_id, round, attempt, phase, participants_json, crp_seed, request_json, phase_deadline, started_at) VALUES
                    ('running-v1', 1, 1, 'encrypt', '[]', x'00', '{}', '2026-12-01T00:01:00Z', '2026-12-01T00:00:00Z');
                """);
        }

        var store = CoordinatorStore.Sqlite(dir);
        var studies = store.Read(c => c.Query<(string study_id, string state, string? failure_reason)>("SELECT study_id, state, failure_reason FROM studies ORDER BY study_id").ToList());
        Assert.Equal(("offered-v1", "offered", (string?)null), studies[0]);
        Assert.Equal("failed", studies[1].state);
        Assert.Contains("federation protocol 2", studies[1].failure_reason, StringComparison.Ordinal);
        Assert.Equal("superseded", store.Read(c => c.ExecuteScalar<string>("SELECT phase FROM attempts WHERE study_id='running-v1'")));
        Assert.Equal(0L, store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM rosters")));
    }

    [Fact]
    public async Task A_token_issued_under_protocol_2_stays_listed_and_is_refused_at_enrollment_under_its_rule()
    {
        var root = TestFederation.TempDir("upgrade-token");
        var dataDir = Path.Combine(root, "coordinator");
        Directory.CreateDirectory(dataDir);
        const string token = "ftwin-enroll-00112233445566778899aabbccddeeff0011223344556677";
        using (var connection = TestStore.Create(Path.Combine(dataDir, "coordinator.db")))
        {
            Migrations.Apply(connection, upTo: ProtocolTwoCoordinatorSchema);
            connection.Execute("INSERT INTO enrollment_tokens(token_hash, created_at, expires_at) VALUES (@hash, '2026-12-01T00:00:00Z', '2099-12-01T00:00:00Z')",
                new { hash = FederatedTwin.Protocol.Federation.EnrollmentProof.TokenId(token) });
        }

        var adminUrl = new Uri($"http://127.0.0.1:{FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort()}");
        var url = new Uri($"http://127.0.0.1:{FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort()}");
        await using var app = CoordinatorHost.Build(["--urls", url.ToString().TrimEnd('/')], o =>
        {
            o.DataDir = dataDir;
            o.AdminUrl = adminUrl.ToString().TrimEnd('/');
        });
        await app.StartAsync();
        var coordinatorKey = ((FederatedTwin.Coordinator.Security.CoordinatorKeys)app.Services.GetService(typeof(FederatedTwin.Coordinator.Security.CoordinatorKeys))!).Identity.PublicKey;
        using var node = NodeDirectory.OpenOrInitialize(Path.Combine(root, "node"));
        await File.WriteAllTextAsync(node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(coordinatorKey, "HOPERAT"));

        var e = await Assert.ThrowsAsync<FederatedTwin.Node.Federation.CoordinatorRefusedException>(() => FederatedTwin.Node.Federation.Enrollment.Enroll(node, url, token, "old-token", CancellationToken.None));
        Assert.Equal(401, e.Status);
        Assert.Contains("new token", e.Detail, StringComparison.Ordinal);
        await app.StopAsync();

        using var store = TestStore.OpenReadOnly(Path.Combine(dataDir, "coordinator.db"));
        Assert.Equal(1L, store.ExecuteScalar<long>("SELECT COUNT(*) FROM enrollment_tokens WHERE mac_key IS NULL AND used_by IS NULL"));
        var rules = store.Query<string>("SELECT detail FROM audit_log WHERE action='request_refused'").Select(d => System.Text.Json.Nodes.JsonNode.Parse(d)!["rule"]!.ToString());
        Assert.Equal([FederatedTwin.Coordinator.Security.RefusalRules.EnrollmentTokenLegacy], rules);
    }

    /// <summary>The last node store schema of protocol 1 (the ninth migration brought protocol 2's tables).</summary>
    private const int ProtocolOneNodeSchema = 8;

    [Fact]
    public void A_node_store_of_protocol_1_keeps_its_ledger_and_rounds_and_gains_the_roster_and_commitment_tables()
    {
        var dir = TestFederation.TempDir("upgrade-node");
        using (var connection = TestStore.Create(Path.Combine(dir, "node.db")))
        {
            NodeStore.Migrate(connection, upTo: ProtocolOneNodeSchema);
            connection.Execute("""
                INSERT INTO privacy_ledger(study_id, purpose, year, rho, recorded_at) VALUES ('glm-v1', 'HOPERAT', 2026, 0.5, '2026-12-01T00:00:00Z');
                INSERT INTO privacy_rounds(study_id, round, purpose, year, rho, algorithm, request_sha256, noised_values, recorded_at)
                    VALUES ('glm-v1', 1, 'HOPERAT', 2026, 0.25, 'federated-glm', 'abc', x'0102', '2026-12-01T00:00:00Z');
                """);
        }

        var store = new NodeStore(dir);
        Assert.Equal((1L, 0.25), store.Read(c => c.QuerySingle<(long draw, double rho)>("SELECT draw, rho FROM privacy_rounds WHERE study_id='glm-v1' AND round=1")));
        Assert.Equal(0.5, store.Read(c => c.ExecuteScalar<double>("SELECT rho FROM privacy_ledger")));
        // Charged before the privacy unit existed: per hospital record (k = 1), re-stated only if a policy now sets a larger k.
        Assert.Equal((1L, 1L), store.Read(c => c.QuerySingle<(long ledger, long round)>("SELECT (SELECT sites_per_person FROM privacy_ledger), (SELECT sites_per_person FROM privacy_rounds)")));
        Assert.Equal(0L, store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM rosters") + c.ExecuteScalar<long>("SELECT COUNT(*) FROM commitment_sets")));
    }
}
