using Dapper;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests.Postgres;

/// <summary>
/// The coordinator's named queries and its audit trail, run on each engine (<see cref="CoordinatorStoreOnSqliteTests"/>,
/// <see cref="CoordinatorStoreOnPostgresTests"/>): the statements that differed by engine (upserts, INSERT OR IGNORE, NOCASE, the
/// enrollment trigger, typed nulls) and the values that come back (long, byte[], double, text instants) must behave the same.
/// </summary>
public abstract class CoordinatorStoreCases : IDisposable
{
    private static readonly DateTimeOffset Now = TestClock.Epoch;
    private readonly string _dir = TestFederation.TempDir("store-cases");
    private readonly CoordinatorKeys _keys;
    private CoordinatorStore? _store;

    protected CoordinatorStoreCases()
    {
        _keys = CoordinatorKeys.LoadOrCreate(_dir);
    }

    private CoordinatorStore Store => _store ??= NewStore(_dir);

    /// <summary>A new, empty coordinator store of the engine under test (its keys are in <paramref name="dataDir"/>).</summary>
    protected abstract CoordinatorStore NewStore(string dataDir);

    [Fact]
    public void The_schema_is_at_the_latest_version()
    {
        Assert.Equal(Migrations.Latest, Store.Read(SchemaQueries.AppliedMigrations));
        Store.Probe();
    }

    [Fact]
    public void A_nonce_is_remembered_once_and_a_replay_is_refused_until_it_expires()
    {
        Assert.True(Store.Write((c, t) => NodeQueries.RememberNonce(c, t, "node-1", "n1", expiresAt: 200, now: 100)));
        Assert.False(Store.Write((c, t) => NodeQueries.RememberNonce(c, t, "node-1", "n1", expiresAt: 200, now: 150)));
        Assert.True(Store.Write((c, t) => NodeQueries.RememberNonce(c, t, "node-2", "n1", expiresAt: 200, now: 150)));
        Assert.True(Store.Write((c, t) => NodeQueries.RememberNonce(c, t, "node-1", "n1", expiresAt: 400, now: 300))); // the old one expired
    }

    [Fact]
    public void Enrollment_records_the_key_in_its_history_and_a_rotation_closes_it()
    {
        Store.Write((c, t) => NodeQueries.Insert(c, t, "node-a", "Hospital A", "key-1", Now, FederationProtocol.Version, null));
        Assert.True(Store.Read(c => NodeQueries.KeyEverHeld(c, null, "key-1"))); // the enrollment trigger's row
        Store.Write((c, t) => NodeQueries.RotateKey(c, t, "node-a", "key-1", "key-2", Now.AddMinutes(1)));
        var history = Store.Read(c => NodeQueries.KeyHistory(c, null, "node-a"));
        Assert.Equal(["key-1", "key-2"], history.Select(k => k.public_key));
        Assert.Equal("key-2", history[0].replaced_by);
        Assert.Equal(StoredTime.Format(Now.AddMinutes(1)), history[0].valid_until);
        Assert.Equal("node-a", Store.Read(c => NodeQueries.KeyHolder(c, null, "key-1")));
        var listing = Assert.Single(Store.Read(NodeQueries.Listings));
        Assert.Equal((1L, 0L, (long)FederationProtocol.Version), (listing.rotations, listing.revoked, listing.protocol_version));
        Assert.True(Store.Write((c, t) => NodeQueries.Revoke(c, t, "node-a")));
        Assert.False(Store.Write((c, t) => NodeQueries.Revoke(c, t, "node-a")));
        Assert.Null(Store.Read(c => NodeQueries.ActiveKey(c, null, "node-a")));
    }

    [Fact]
    public void A_retired_key_cannot_be_enrolled_again_under_any_node()
    {
        Store.Write((c, t) => NodeQueries.Insert(c, t, "node-a", "Hospital A", "key-1", Now, FederationProtocol.Version, null));
        Store.Write((c, t) => NodeQueries.RotateKey(c, t, "node-a", "key-1", "key-2", Now));
        Assert.ThrowsAny<System.Data.Common.DbException>(() => Store.Write((c, t) => NodeQueries.Insert(c, t, "node-b", "Hospital B", "key-1", Now, FederationProtocol.Version, null)));
        Assert.Single(Store.Read(c => NodeQueries.All(c, NodeOrder.Name))); // the refused enrollment left nothing
    }

    [Fact]
    public void A_decision_made_again_replaces_the_first_with_the_nodes_data_version()
    {
        Store.Write((c, t) =>
        {
            NodeQueries.Insert(c, t, "node-a", "Hospital A", "key-1", Now, FederationProtocol.Version, null);
            StudyQueries.Insert(c, t, "study-1", "{}", StudyState.Offered, Now, Now.AddMinutes(5));
            StudyQueries.RecordDecision(c, t, "study-1", "node-a", accept: false, "rule-x", "no", Now);
            NodeQueries.RecordDataVersion(c, t, "node-a", 7, Now);
            StudyQueries.RecordDecision(c, t, "study-1", "node-a", accept: true, "accepted", "yes", Now.AddSeconds(1));
        });
        Assert.Equal(1L, Store.Read(c => StudyQueries.DecisionCount(c, null, "study-1")));
        Assert.Equal(["node-a"], Store.Read(c => StudyQueries.AcceptedNodes(c, null, "study-1")));
        var participant = Assert.Single(Store.Read(c => RefreshQueries.Participants(c, null, "study-1")));
        Assert.Equal((7L, 7L), (participant.used, participant.now));
    }

    [Fact]
    public void A_roster_version_published_again_replaces_its_document_and_the_newest_is_served()
    {
        Store.Write((c, t) => RosterQueries.Publish(c, t, 1, "fed", "aa", [1, 2, 3], Now));
        Store.Write((c, t) => RosterQueries.Publish(c, t, 1, "fed", "bb", [4, 5], Now));
        Store.Write((c, t) => RosterQueries.Publish(c, t, 2, "fed", "cc", [6], Now));
        Assert.Equal(2L, Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM rosters")));
        var latest = Store.Read(c => RosterQueries.Latest(c, null))!;
        Assert.Equal(2L, latest.version);
        Assert.Equal([6], latest.document);
        Assert.Equal("bb", Store.Read(c => c.ExecuteScalar<string>("SELECT sha256 FROM rosters WHERE version=1")));
    }

    [Fact]
    public void Dashboard_names_are_unique_and_found_without_case()
    {
        var users = new DashboardUsers(Store, new CoordinatorAuditTrail(Store, _keys));
        users.Add("Alice", DashboardRoles.Admin, "a long enough password", "test", Now);
        Assert.Throws<InvalidOperationException>(() => users.Add("ALICE", DashboardRoles.Analyst, "a long enough password", "test", Now));
        users.Add("bob", DashboardRoles.Analyst, "another long password", "test", Now);
        Assert.Equal("Alice", users.Verify("alice", "a long enough password", Now).User?.Name);
        Assert.Null(users.Verify("alice", "a wrong password here", Now).User);
        Assert.Equal(["Alice", "bob"], users.List().Select(u => u.Name));
    }

    [Fact]
    public void The_audit_trail_chains_checkpoints_and_refuses_changes()
    {
        var trail = new CoordinatorAuditTrail(Store, _keys, checkpointInterval: 4);
        for (var i = 0; i < 9; i++)
        {
            trail.Append(CoordinatorAuditRecords.EnrollmentTokenCreated($"token-{i}", Now.ToString("O")), Now.AddSeconds(i));
        }

        Assert.NotNull(trail.Checkpoint(CheckpointReasons.StudyEnd, Now.AddMinutes(1)));
        Assert.Null(trail.Checkpoint(CheckpointReasons.StudyEnd, Now.AddMinutes(1))); // the head is signed already
        var (entries, checkpoints) = Store.Read(AuditLog.ReadAll);
        Assert.Equal(10, entries.Count); // the chain's first entry, then nine
        Assert.Equal([4L, 8L, 10L], checkpoints.Select(k => k.Seq));
        Assert.True(AuditVerifier.Verify(entries, checkpoints, _keys.Identity.PublicKey).Ok);

        Assert.ThrowsAny<System.Data.Common.DbException>(() => Store.Write((c, t) => c.Execute("UPDATE audit_log SET detail='{}' WHERE seq=2", transaction: t)));
        Assert.ThrowsAny<System.Data.Common.DbException>(() => Store.Write((c, t) => c.Execute("DELETE FROM audit_checkpoints WHERE seq=4", transaction: t)));
        Assert.ThrowsAny<System.Data.Common.DbException>(() => Store.Write((c, t) => c.Execute(
            "INSERT INTO audit_log(seq, at, actor, action, outcome, detail, prev_hash, hash) VALUES (99, 'x', 'x', 'x', 0, '{}', 'x', 'x')", transaction: t)));
        var (after, afterCheckpoints) = Store.Read(AuditLog.ReadAll);
        Assert.True(AuditVerifier.Verify(after, afterCheckpoints, _keys.Identity.PublicKey).Ok);
        Assert.Equal(entries.Select(e => e.Hash), after.Select(e => e.Hash));
    }

    [Fact]
    public void Rounds_store_attempts_contributions_and_sums_as_they_were_given()
    {
        byte[] seed = [0, 1, 2, 255];
        byte[] key = [9, 8, 7];
        Store.Write((c, t) =>
        {
            NodeQueries.Insert(c, t, "node-a", "Hospital A", "key-1", Now, FederationProtocol.Version, null);
            StudyQueries.Insert(c, t, "study-1", "{}", StudyState.Running, Now, Now.AddMinutes(5));
            RoundQueries.InsertAttempt(c, t, "study-1", 1, 1, AttemptPhase.KeyCommit, ["node-a"], seed, "{}", Now.AddSeconds(30), Now);
            RoundQueries.SetCollectiveKey(c, t, "study-1", 1, 1, AttemptPhase.UpdateCommit, key, Now.AddSeconds(60));
            RoundQueries.InsertContribution(c, t, "study-1", 1, 1, ContributionKind.Update, "node-a", [5, 5], [6], "digest", Now);
            RoundQueries.InsertResult(c, t, "study-1", 1, 1, [long.MaxValue, -3, 0], "[\"node-a\"]", StoredTime.Format(Now), Now.AddSeconds(2));
        });
        var withCiphertexts = Store.Read(c => RoundQueries.Attempt(c, null, "study-1", 1, 1));
        Assert.Equal(seed, withCiphertexts.crp_seed);
        Assert.Equal(key, withCiphertexts.collective_key);
        Assert.Equal(AttemptPhase.UpdateCommit, withCiphertexts.Phase);
        var state = Store.Read(c => RoundQueries.Attempt(c, null, "study-1", 1, 1, ciphertexts: false));
        Assert.Null(state.collective_key);
        Assert.Equal(["node-a"], state.Participants);
        Assert.Equal(Now.AddSeconds(60), state.Deadline);
        var contribution = Assert.Single(Store.Read(c => RoundQueries.Contributions(c, null, "study-1", 1, 1, ContributionKind.Update)));
        Assert.Equal([5, 5], contribution.payload);
        Assert.Equal([6], contribution.signature);
        Assert.Equal("key-1", contribution.public_key);
        Assert.True(Store.Read(c => RoundQueries.HasContributed(c, null, "study-1", 1, 1, ContributionKind.Update, "node-a")));
        Assert.Equal([long.MaxValue, -3, 0], Assert.Single(Store.Read(c => RoundQueries.Sums(c, null, "study-1"))));
        Assert.Equal(["node-a"], Store.Read(c => RoundQueries.FirstRoundParticipants(c, null, "study-1")));
    }

    [Fact]
    public void Templates_runs_and_model_lineages_read_back_with_their_types()
    {
        Store.Write((c, t) =>
        {
            RefreshQueries.InsertTemplate(c, t, "tpl", "{}", "new-data", null, 2, 0.5, Now);
            StudyQueries.Insert(c, t, "study-1", "{}", StudyState.Completed, Now, Now);
            StudyQueries.Insert(c, t, "study-2", "{}", StudyState.Offered, Now.AddDays(1), Now.AddDays(1));
            RefreshQueries.InsertRun(c, t, "tpl", 1, "study-1", Now, "first");
            RefreshQueries.InsertRun(c, t, "tpl", 2, "study-2", Now.AddDays(1), "new data");
            RegistryQueries.Insert(c, t, "m1", "study-1", "glm", "outcome", Now, "{\"v\":1}", "lineage-a", 1);
            RegistryQueries.Insert(c, t, "m2", "study-2", "glm", "outcome", Now.AddDays(1), "{\"v\":2}", "lineage-a", 2);
            RegistryQueries.Insert(c, t, "m3", "study-2", "composition", "census", Now.AddDays(1), "{}");
        });
        var template = Assert.Single(Store.Read(c => RefreshQueries.Active(c, null)));
        Assert.Equal((null, 2L, 0.5), (template.every_seconds, template.min_nodes_with_new_data, template.min_new_data_fraction));
        Assert.Equal([2L, 1L], Store.Read(c => RefreshQueries.Runs(c, null, "tpl")).Select(r => r.seq));
        Assert.Equal(("tpl", 2L), Store.Read(c => RefreshQueries.RunOf(c, null, "study-2")));
        Assert.Equal(2, Store.Read(c => RegistryQueries.LatestVersion(c, null, "lineage-a")));
        Assert.Equal(["m1", "m2"], Store.Read(c => RegistryQueries.Versions(c, "m2")).Select(v => v.model_id));
        var single = Assert.Single(Store.Read(c => RegistryQueries.Versions(c, "m3")));
        Assert.Equal(("m3", 1L), (single.lineage, single.lineage_version));
        Assert.Equal(("lineage-a", 2), Store.Read(RegistryQueries.Lineages)["m2"]);
        Assert.True(Store.Write((c, t) => RefreshQueries.Stop(c, t, "tpl", Now)));
        Assert.Empty(Store.Read(c => RefreshQueries.Active(c, null)));
    }

    [Fact]
    public void Enrollment_tokens_keep_their_mac_key_and_are_revoked_once()
    {
        byte[] macKey = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
        Store.Write((c, t) => EnrollmentQueries.Insert(c, t, "hash-1", macKey, Now, Now.AddDays(7)));
        var token = Store.Read(c => EnrollmentQueries.Find(c, null, "hash-1"))!;
        Assert.Equal(macKey, token.mac_key);
        Assert.Equal((0L, StoredTime.Format(Now.AddDays(7))), (token.revoked, token.expires_at));
        Assert.True(Store.Write((c, t) => EnrollmentQueries.RevokeUnused(c, t, "hash-1")));
        Assert.False(Store.Write((c, t) => EnrollmentQueries.RevokeUnused(c, t, "hash-1")));
        Assert.Equal(1L, Assert.Single(Store.Read(c => EnrollmentQueries.Recent(c, 10))).revoked);
    }

    public void Dispose()
    {
        _store?.Dispose();
        _keys.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary><see cref="CoordinatorStoreCases"/> on coordinator.db.</summary>
public sealed class CoordinatorStoreOnSqliteTests : CoordinatorStoreCases
{
    protected override CoordinatorStore NewStore(string dataDir) => CoordinatorStore.Sqlite(dataDir);
}

/// <summary><see cref="CoordinatorStoreCases"/> on a PostgreSQL database of the class's own cluster.</summary>
[Trait("Category", "Postgres")]
public sealed class CoordinatorStoreOnPostgresTests(PostgresFixture postgres) : CoordinatorStoreCases, IClassFixture<PostgresFixture>
{
    protected override CoordinatorStore NewStore(string dataDir) => postgres.NewStore();
}
