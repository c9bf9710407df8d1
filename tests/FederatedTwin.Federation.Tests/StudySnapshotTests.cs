using System.Text.RegularExpressions;
using Dapper;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Crypto;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Synthetic;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Studies on a snapshot (docs/architecture.md, "Snapshots"): a multi-round exact GLM run through the coordinator's own algorithm
/// (FederatedGlmAlgorithm: its requests and its IRLS on the decrypted sums) and a real node (RoundParticipant on an ingested store,
/// real key shares, encryption and decryption shares), with an ingest between rounds that adds patients and changes existing ones.
/// The released model must be the one an undisturbed node computes on the data as accepted; the next study sees the new rows.
/// </summary>
public sealed class StudySnapshotTests : IDisposable
{
    private static readonly IAdditiveThresholdScheme Scheme = RlweThresholdScheme.Default;
    private readonly FakeTimeProvider _clock = TestClock.Start();
    private readonly List<IDisposable> _owned = [];

    private static StudySpec Study(string id) => new(new StudyId(id), GlmStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 10, 30)
    {
        Parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["family"] = "poisson",
            ["outcome"] = "ed_visits_next_year",
            ["features"] = "age,sex_male,heart_failure,diabetes,condition_count,inpatient_admissions,ed_visits",
            ["max_rows_per_node"] = "100000",
            ["max_abs_feature"] = "1000",
            ["max_abs_response"] = "50",
        },
    };

    /// <summary>A node with the first export ingested, its participant, and peers of its pinned roster.</summary>
    private (NodeDirectory Node, RoundParticipant Participant, SimulatedFederation Federation) Site(string name, string export)
    {
        var node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir(name), time: _clock);
        File.WriteAllText(node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        new IngestPipeline(node, time: _clock).Run(export);
        var federation = SimulatedFederation.Around(node, peers: 3);
        _owned.Add(node);
        _owned.Add(federation);
        var participant = new RoundParticipant(node, Scheme, [new LocalFederatedGlm()], NullLogger<RoundParticipant>.Instance, _clock);
        return (node, participant, federation);
    }

    /// <summary>
    /// The study as the coordinator runs it, round by round, with the node's update decrypted together with two peers' zeros (the sum is
    /// the node's own); <paramref name="between"/> runs after each decrypted round.
    /// </summary>
    private GlmModelDocument Run(RoundParticipant participant, SimulatedFederation federation, StudySpec study, Action<int>? between = null)
    {
        var coordinator = new FederatedGlmAlgorithm(Scheme);
        coordinator.Validate(study);
        var sums = new List<long[]>();
        for (var round = 1; round <= study.Rounds; round++)
        {
            var request = coordinator.ConfigureRound(study, round, sums);
            var attempt = new SimulatedAttempt(participant, federation, study, request, round, 1, federation.Peers.Take(2).ToList(), clock: _clock);
            sums.Add(attempt.DecryptedSum(attempt.Run()));
            _clock.Advance(TimeSpan.FromSeconds(5));
            if (coordinator.AggregateRound(study, round, sums) is RoundOutcome.Finished finished)
            {
                return (GlmModelDocument)finished.Result.Model!;
            }

            between?.Invoke(round);
        }

        throw new InvalidOperationException("The study did not finish within its rounds.");
    }

    /// <summary>What a model released: its terms, deviances and rows (not its id or time).</summary>
    private static string Released(GlmModelDocument m) =>
        string.Join(';', m.Terms.Select(t => $"{t.Name}={t.Coefficient:R}±{t.StdError:R}")) + $"|deviance {m.Deviance:R}|null {m.NullDeviance:R}|rows {m.Rows}|rounds {m.Rounds}";

    /// <summary>
    /// A later export of the same hospital: every patient's encounters again under new resource ids (more utilization for patients
    /// already stored: their rows change) and 80 patients more.
    /// </summary>
    private static string LaterExport(string first)
    {
        var later = TestFederation.TempDir("snapshot-later");
        foreach (var file in Directory.GetFiles(first, "Encounter*"))
        {
            File.WriteAllLines(Path.Combine(later, "Repeat" + Path.GetFileName(file)),
                File.ReadLines(file).Select(line => Regex.Replace(line, "^\\{\"resourceType\":\"Encounter\",\"id\":\"([^\"]+)\"", "{\"resourceType\":\"Encounter\",\"id\":\"$1-b\"")));
        }

        var more = TestFederation.TempDir("snapshot-more");
        PopulationGenerator.Generate(80, SyntheticProfile.All[1], 29, more);
        foreach (var file in Directory.GetFiles(more))
        {
            File.Copy(file, Path.Combine(later, "More" + Path.GetFileName(file)));
        }

        return later;
    }

    private static long Superseded(NodeDirectory node) => node.Store.Read(FeatureQueries.SupersededRows);

    [Fact]
    public void An_ingest_between_rounds_leaves_the_released_glm_as_on_the_data_accepted_and_the_next_study_sees_the_new_rows()
    {
        var export = TestFederation.TempDir("snapshot-export");
        PopulationGenerator.Generate(200, SyntheticProfile.All[0], 17, export);
        var later = LaterExport(export);
        Assert.Contains("-b\"", File.ReadLines(Directory.GetFiles(later, "RepeatEncounter*")[0]).First(), StringComparison.Ordinal);

        // The undisturbed run: the same data, nothing ingested during the study.
        var (quiet, quietParticipant, quietFederation) = Site("snapshot-quiet", export);
        var study = Study("snapshot-glm");
        Assert.True(new StudyDecisions(quiet, clock: _clock).Decide(study).Accept);
        var undisturbed = Released(Run(quietParticipant, quietFederation, study));

        // The disturbed run: after round 2 the later export is ingested (published as the node's next data version).
        var (node, participant, federation) = Site("snapshot-busy", export);
        Assert.True(new StudyDecisions(node, clock: _clock).Decide(study).Accept);
        var accepted = node.Store.Read(FeatureQueries.PublishedVersion);
        var rowsBefore = LocalFederatedGlm.Rows(node, GlmStudy.Parse(study, Scheme.MaxParties), "HOPERAT").Rows;
        var ingested = false;
        var disturbed = Run(participant, federation, study, round =>
        {
            if (round == 2)
            {
                var summary = new IngestPipeline(node, time: _clock).Run(later);
                Assert.True(summary.PatientsUpdated > 200, $"{summary.PatientsUpdated} patients updated");
                ingested = true;
            }
        });
        Assert.True(ingested && disturbed.Rounds > 3, $"{disturbed.Rounds} rounds: the ingest did not fall between rounds");
        Assert.Equal(undisturbed, Released(disturbed));

        // The new data is published and seen by everything else, and by the next study; the old rows are kept for the pinned study.
        Assert.Equal(accepted + 1, node.Store.Read(FeatureQueries.PublishedVersion));
        var glm = GlmStudy.Parse(study, Scheme.MaxParties);
        var rowsAfter = LocalFederatedGlm.Rows(node, glm, "HOPERAT").Rows;
        Assert.True(rowsAfter > rowsBefore, $"{rowsAfter} rows after the ingest, {rowsBefore} before");
        Assert.True(Superseded(node) > 200, $"{Superseded(node)} superseded rows kept");
        var next = Study("snapshot-glm-next");
        Assert.True(new StudyDecisions(node, clock: _clock).Decide(next).Accept);
        var nextModel = Run(participant, federation, next);
        Assert.Equal(rowsAfter, nextModel.Rows);
        Assert.NotEqual(undisturbed, Released(nextModel));

        // The acceptance audit entries name the version each study saw.
        var versions = node.Store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action=@a ORDER BY seq", new { a = AuditActions.StudyDecision }).ToList())
            .Select(d => System.Text.Json.Nodes.JsonNode.Parse(d)!["data_version"]!.GetValue<long>()).ToList();
        Assert.Equal([accepted, accepted + 1], versions);
    }

    [Fact]
    public void Superseded_rows_are_kept_while_a_study_pins_them_and_collected_once_it_ended_and_a_restarted_node_resumes_on_its_version()
    {
        var export = TestFederation.TempDir("snapshot-gc-export");
        PopulationGenerator.Generate(120, SyntheticProfile.All[0], 23, export);
        var later = LaterExport(export);
        var (node, participant, federation) = Site("snapshot-gc", export);
        var study = Study("snapshot-gc-glm");
        var glm = GlmStudy.Parse(study, Scheme.MaxParties);
        Assert.True(new StudyDecisions(node, clock: _clock).Decide(study).Accept);
        var pinned = AcceptedStudy.Load(node.Store, study.Id);
        var asAccepted = LocalFederatedGlm.Rows(node, pinned.Data(node.Store), glm, "HOPERAT").Rows;

        // Without a study pinning it, an ingest keeps nothing superseded; with one, it keeps what the study sees.
        new IngestPipeline(node, time: _clock).Run(later);
        var kept = Superseded(node);
        Assert.True(kept > 0);

        // A node restarted mid-study (the store reopened) computes on the version it pinned, not on the newer one.
        var reopened = NodeDirectory.OpenOrInitialize(node.Path, time: _clock);
        _owned.Add(reopened);
        var resumed = AcceptedStudy.Load(reopened.Store, study.Id);
        Assert.Equal(pinned.DataVersion, resumed.DataVersion);
        Assert.Equal(asAccepted, LocalFederatedGlm.Rows(reopened, resumed.Data(reopened.Store), glm, "HOPERAT").Rows);
        Assert.NotEqual(asAccepted, LocalFederatedGlm.Rows(reopened, glm, "HOPERAT").Rows);

        // The study runs to its end; right after its last round the pin holds (a retried attempt may still need it)...
        var model = Run(participant, federation, study);
        Assert.Equal(asAccepted, model.Rows);
        Assert.Equal(0, Node.Features.DataSnapshot.Collect(node.Store, _clock));
        Assert.Equal(kept, Superseded(node));

        // ...until the study has been idle here past its pin's limit: then the rows are collected, and a late round is refused.
        _clock.Advance(TimeSpan.FromSeconds(StudyQueries.IdleSeconds + 1));
        Assert.Equal(kept, Node.Features.DataSnapshot.Collect(node.Store, _clock));
        Assert.Equal(0, Superseded(node));
        var late = new SimulatedAttempt(participant, federation, study, new FederatedGlmAlgorithm(Scheme).ConfigureRound(study, 1, []), 1, 2, federation.Peers.Take(2).ToList(), clock: _clock);
        var e = Assert.Throws<ParticipationRefusedException>(() => late.CommitUpdates(late.OpenKeys(late.CommitKeys())));
        Assert.Equal(AcceptedStudy.SnapshotReleasedRule, e.Rule);
        var audited = node.Store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action=@a AND study_id=@s", new { a = AuditActions.SubmissionRefused, s = study.Id.Value }).ToList());
        Assert.Equal(AcceptedStudy.SnapshotReleasedRule, System.Text.Json.Nodes.JsonNode.Parse(Assert.Single(audited))!["rule"]!.GetValue<string>());
    }

    public void Dispose() => _owned.ForEach(o => o.Dispose());
}
