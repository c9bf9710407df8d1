using FederatedTwin.Analytics.Studies;
using System.Globalization;
using Dapper;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// A malicious coordinator against the node's privacy ledger: the node accepted (and was charged for) a DP study with a
/// plan — ρ, rounds, min_nodes, bounds — and every round is held to it (AcceptedStudy). A real node store with ingested
/// synthetic patients, a real policy decision and ledger charge, real key shares and encryption; peers are real key holders.
/// </summary>
public sealed class AcceptedStudyTests : IDisposable
{
    private const string Features = "age,sex_male,heart_failure,diabetes,condition_count";
    private static readonly IAdditiveThresholdScheme Scheme = RlweThresholdScheme.Default;

    /// <summary>The study as the analyst declared it: DP-FedSGD, ρ 0.4 over 2 rounds, at least 3 nodes.</summary>
    private static readonly StudySpec Study = new(new StudyId("dp-plan"), FedAvgStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 2, 30)
    {
        Parameters = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["outcome"] = "admission_next_year",
            ["features"] = Features,
            ["max_rows_per_node"] = "100000",
            ["dp_max_rows_per_patient"] = "3",
            ["dp_rho"] = "0.4",
        },
    };

    private readonly FakeTimeProvider _clock = TestClock.Start();
    private readonly NodeDirectory _node;
    private readonly RoundParticipant _participant;
    private readonly SimulatedFederation _federation;
    private readonly int _length;

    public AcceptedStudyTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("accepted-study"), time: _clock);
        File.WriteAllText(_node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        var export = TestFederation.TempDir("accepted-study-export");
        PopulationGenerator.Generate(120, SyntheticProfile.All[0], 11, export);
        new IngestPipeline(_node, time: _clock).Run(export);
        _participant = new RoundParticipant(_node, Scheme, [new LocalFedAvg(), new LocalFederatedGlm(), new LocalFederatedComposition(), new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance, _clock);
        _federation = SimulatedFederation.Around(_node, peers: 3);
        _length = FedAvgStudy.Parse(Study, Scheme.MaxParties).Layout(Scheme.MaxParties).Sum(b => b.Length);
    }

    /// <summary>What the coordinator derives for round r of the study: the study's parameters, purpose, min_nodes, h, rounds, and the round's point.</summary>
    private RoundRequest Request(StudySpec study, Action<Dictionary<string, string>>? tamper = null)
    {
        var parameters = new Dictionary<string, string>(study.Parameters!, StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            ["min_nodes"] = study.MinNodes.ToString(CultureInfo.InvariantCulture),
            [FedAvgStudy.RoundsParameter] = study.Rounds.ToString(CultureInfo.InvariantCulture),
            ["fedavg_dp_point"] = "[0,0,0,0,0,0]", // the wire spelling, pinned
        };
        if (StudyPrivacy.Rho(study.Parameters) > 0)
        {
            parameters[StudyPrivacy.MinHonestNodesParameter] = StudyPrivacy.MinHonestNodes(study).ToString(CultureInfo.InvariantCulture);
        }

        tamper?.Invoke(parameters);
        return new RoundRequest(FedAvgStudy.AlgorithmName, _length, parameters);
    }

    private WorkItem Work(WorkKind kind, StudySpec study, int round, int attempt, RoundRequest request) =>
        new(kind, study, round, attempt, _clock.GetUtcNow().AddSeconds(study.PhaseDeadlineSeconds), Scheme.NewCrpSeed(), request);

    /// <summary>One full attempt at the node (key share, checked collective key, update) and the node's update decrypted alone: what it sent.</summary>
    private long[] Attempt(int round, int attempt, StudySpec? study = null, RoundRequest? request = null)
    {
        study ??= Study;
        var a = new SimulatedAttempt(_participant, _federation, study, request ?? Request(study), round, attempt, _federation.Peers.Take(2).ToList(), clock: _clock);
        a.CommitUpdates(a.OpenKeys(a.CommitKeys()));
        return a.DecryptOwn(_node);
    }

    /// <summary>The update's phase alone, with an announcement that would fail its later checks: the study checks come first.</summary>
    private ParticipationRefusedException RefusedUpdate(WorkItem work) =>
        Assert.Throws<ParticipationRefusedException>(() => _participant.CommitUpdate(work with { Kind = WorkKind.CommitUpdate },
            new CollectiveKeyAnnouncement(work.Study.Id, work.Round, work.Attempt, work.CrpSeed!, [], new CommitmentSet(work.Study.Id, work.Round, work.Attempt, ContributionKind.KeyShare, work.CrpSeed!, []), [])));

    private void Accept(StudySpec study) => Assert.True(new StudyDecisions(_node, clock: _clock).Decide(study).Accept);

    private long Count(string table, int? round = null) => _node.Store.Read(c => c.ExecuteScalar<long>(
        $"SELECT COUNT(*) FROM {table} WHERE study_id=@s AND (@r IS NULL OR round=@r)", new { s = Study.Id.Value, r = round }));

    private double Spent() => _node.Store.Read(c => c.ExecuteScalar<double?>("SELECT SUM(rho) FROM privacy_rounds WHERE study_id=@s", new { s = Study.Id.Value })) ?? 0;

    private double Charged() => _node.Store.Read(c => c.ExecuteScalar<double>("SELECT SUM(rho) FROM privacy_ledger"));

    /// <summary>The rules of the node's refusals for the study, as its audit trail records them (action, rule).</summary>
    private List<(string Action, string? Rule)> Refusals() => [.. _node.Store.Read(c => c.Query<(string action, string detail)>(
            "SELECT action, detail FROM audit_log WHERE study_id=@s AND action IN (@k, @u, @d) ORDER BY seq",
            new { s = Study.Id.Value, k = AuditActions.KeyShareRefused, u = AuditActions.SubmissionRefused, d = AuditActions.DecryptionShareRefused }).ToList())
        .Select(r => (r.action, System.Text.Json.Nodes.JsonNode.Parse(r.detail)!["rule"]?.GetValue<string>()))];

    [Fact]
    public void A_dp_study_runs_its_planned_rounds_a_retry_re_sends_and_a_round_beyond_the_plan_is_refused_with_nothing_released_or_charged()
    {
        Accept(Study);
        Assert.Equal(0.4, Charged(), 12);

        // The plan: rounds 1 and 2, each ρ/2. A retried attempt of round 1 re-sends the kept noisy values, charged once.
        var first = Attempt(1, 1);
        Assert.Equal(first, Attempt(1, 2));
        var round2 = Attempt(2, 1);
        Assert.Equal(0.4, Spent(), 12);

        // Round 3: no key share (so no collective key with this node), no computation, no release, no charge.
        var keyShare = Assert.Throws<ParticipationRefusedException>(() => _participant.CommitKeyShare(Work(WorkKind.CommitKeyShare, Study, 3, 1, Request(Study))));
        Assert.Equal(AcceptedStudy.PlannedRounds, keyShare.Rule);
        Assert.Contains("beyond the 2 round(s)", keyShare.Message, StringComparison.Ordinal);
        var update = RefusedUpdate(Work(WorkKind.CommitUpdate, Study, 3, 1, Request(Study)));
        Assert.Equal(AcceptedStudy.PlannedRounds, update.Rule);
        Assert.Equal(0, Count("attempt_keys", 3));
        Assert.Equal(0, Count("submissions", 3));
        Assert.Equal(0, Count("privacy_rounds", 3));
        Assert.Equal(0.4, Spent(), 12);
        Assert.Equal(0.4, Charged(), 12);
        Assert.Equal(new List<(string, string?)> { (AuditActions.KeyShareRefused, AcceptedStudy.PlannedRounds), (AuditActions.SubmissionRefused, AcceptedStudy.PlannedRounds) }, Refusals());

        // The planned rounds still retry: round 2, attempt 2, after the refusal.
        Assert.Equal(round2, Attempt(2, 2));
        Assert.Equal(0.4, Spent(), 12);
    }

    [Fact]
    public void A_tampered_min_nodes_is_refused_in_the_round_parameters_and_in_the_study_and_nothing_is_released()
    {
        Accept(Study);

        // min_nodes 1: a sum of one hospital's statistic (and the default h would follow it); the node holds min_nodes to the study.
        var parameter = RefusedUpdate(Work(WorkKind.CommitUpdate, Study, 1, 1, Request(Study, p => p["min_nodes"] = "1")));
        Assert.Equal(AcceptedStudy.RoundParameters, parameter.Rule);
        Assert.Contains("min_nodes '1' (accepted '3')", parameter.Message, StringComparison.Ordinal);

        // The same lie told consistently, in the study the work item carries as well.
        var lowered = Study with { MinNodes = 1 };
        var study = RefusedUpdate(Work(WorkKind.CommitUpdate, lowered, 1, 1, Request(lowered)));
        Assert.Equal(AcceptedStudy.StudyChanged, study.Rule);
        Assert.Contains("min_nodes 1 (accepted 3)", study.Message, StringComparison.Ordinal);
        Assert.Equal(AcceptedStudy.StudyChanged, Assert.Throws<ParticipationRefusedException>(() => _participant.CommitKeyShare(Work(WorkKind.CommitKeyShare, lowered, 1, 1, Request(lowered)))).Rule);

        Assert.Equal(0, Count("attempt_keys"));
        Assert.Equal(0, Count("submissions"));
        Assert.Equal(0, Count("privacy_rounds"));
        Assert.All(Refusals(), r => Assert.NotNull(r.Rule));
    }

    [Fact]
    public void A_raised_minimum_of_honest_nodes_is_refused_in_the_round_and_in_the_study_and_nothing_is_released()
    {
        // The study omits dp_min_honest_nodes: h = min_nodes − 1 = 2, each node adds half the target variance. A coordinator that
        // sends h = 3 would have every node add a third: with one colluder, 2/3 of the promised noise.
        Accept(Study);
        var round = RefusedUpdate(Work(WorkKind.CommitUpdate, Study, 1, 1, Request(Study, p => p[StudyPrivacy.MinHonestNodesParameter] = "3")));
        Assert.Equal(AcceptedStudy.RoundParameters, round.Rule);
        Assert.Contains("dp_min_honest_nodes '3' (accepted '2')", round.Message, StringComparison.Ordinal);

        // The same lie in the study itself: a parameter the accepted study did not have.
        var raised = Study with { Parameters = new Dictionary<string, string>(Study.Parameters!, StringComparer.Ordinal) { [StudyPrivacy.MinHonestNodesParameter] = "3" } };
        var study = RefusedUpdate(Work(WorkKind.CommitUpdate, raised, 1, 1, Request(raised)));
        Assert.Equal(AcceptedStudy.StudyChanged, study.Rule);
        Assert.Contains("dp_min_honest_nodes added", study.Message, StringComparison.Ordinal);
        Assert.Equal(0, Count("submissions"));
        Assert.Equal(0, Count("privacy_rounds"));
    }

    [Fact]
    public void A_study_whose_true_rho_exceeds_its_stated_rho_is_refused_at_creation_and_at_each_nodes_own_decision_with_the_figures()
    {
        // DP-FedSGD with a tiny clip and an enormous ρ: the gradient block's scale is fixed by the codec's headroom, so a share's
        // integer σ falls below ½, where the sum of the shares has no zCDP guarantee at all (Kairouz, Liu & Steinke 2021, Prop. 14).
        var thin = Study with
        {
            Id = new StudyId("dp-thin"),
            Rounds = 1,
            Parameters = new Dictionary<string, string>(Study.Parameters!, StringComparer.Ordinal)
            {
                ["dp_clip"] = "0.001", ["max_rows_per_node"] = "1000000", ["dp_max_rows_per_patient"] = "20", ["dp_rho"] = "4e20",
            },
        };
        var created = Assert.Throws<StudyFileException>(() => new FederatedTwin.Coordinator.Orchestration.FederatedFedAvgAlgorithm(Scheme).Validate(thin));
        Assert.Equal("parameters.dp_rho", created.Field);
        Assert.Contains("stated zCDP rho 4E+20, true rho unbounded", created.Message, StringComparison.Ordinal);

        // The node never trusts that check: a site whose budget would allow the study refuses it on its own accountant.
        var policy = FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT", privacyBudget: 1e21, lifetimeBudget: 1e21);
        File.WriteAllText(_node.PolicyPath, policy);
        File.WriteAllText(_node.PolicyPath + ".sig", FederatedTwin.Node.Policy.PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(policy), _federation.Officer).ToJson());
        var decision = new StudyDecisions(_node, Scheme.MaxParties, _clock).Decide(thin);
        Assert.False(decision.Accept);
        Assert.Equal(AcceptedStudy.TrueRho, decision.Rule);
        Assert.Contains("true rho unbounded", decision.Reason, StringComparison.Ordinal);
        Assert.Equal(0, Charged());

        // An ordinary DP study is accepted, its reason giving both figures: the stated ρ is the true one.
        var accepted = new StudyDecisions(_node, Scheme.MaxParties, _clock).Decide(Study);
        Assert.True(accepted.Accept);
        Assert.Contains("stated zCDP rho 0.4, true rho 0.4 ", accepted.Reason, StringComparison.Ordinal);
        Assert.Equal(0.4, Charged(), 12);
    }

    [Fact]
    public void A_dp_round_re_run_over_another_set_after_its_share_was_issued_draws_fresh_noise_and_is_charged_again_within_the_budget()
    {
        // A site budget of ρ 0.6 for the purpose: the study's plan (0.4) and one re-run draw (0.2) fit, a second re-run does not.
        var policy = FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT", privacyBudget: 0.6);
        File.WriteAllText(_node.PolicyPath, policy);
        File.WriteAllText(_node.PolicyPath + ".sig", FederatedTwin.Node.Policy.PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(policy), _federation.Officer).ToJson());
        Accept(Study);

        // Attempt 1 over {self, peer0, peer1}: decrypted (this node issued its share: its noisy values are released).
        var p = _federation.Peers;
        var first = new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 1, [p[0], p[1]], clock: _clock);
        // (Its update decrypted alone before the share is issued: the node deletes the attempt's secret once it has.)
        first.CommitUpdates(first.OpenKeys(first.CommitKeys()));
        var released = first.DecryptOwn(_node);
        first.Decrypt(first.OpenUpdates());

        // The coordinator re-runs the round over {self, peer0, peer2}: the same values would make the two sums differ by peer1's
        // update with only its own noise share. The node draws fresh noise and charges the draw.
        var second = new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 2, [p[0], p[2]], clock: _clock);
        second.CommitUpdates(second.OpenKeys(second.CommitKeys()));
        Assert.NotEqual(released, second.DecryptOwn(_node));
        second.Decrypt(second.OpenUpdates());
        var draws = FederatedTwin.Node.Policy.PrivacyLedgerReport.Rounds(_node.Store, Study.Id.Value);
        Assert.Equal([1, 2], draws.Select(d => d.Draw));
        Assert.All(draws, d => Assert.Equal(0.2, d.Rho, 12));
        Assert.Equal(0.6, _node.Store.Read(c => FederatedTwin.Node.Policy.PrivacyLedgerReport.Spent(c, null, default, "HOPERAT", _clock.GetUtcNow().Year)), 12);

        // A third run over yet another set needs a third draw: ρ 0.2 more than the budget has left. Refused, nothing released.
        var third = new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 3, [p[1], p[2]], clock: _clock);
        var e = Assert.Throws<ParticipationRefusedException>(() => third.CommitUpdates(third.OpenKeys(third.CommitKeys())));
        Assert.Equal(ProtocolRules.RedrawBudget, e.Rule);
        Assert.Equal(2, FederatedTwin.Node.Policy.PrivacyLedgerReport.Rounds(_node.Store, Study.Id.Value).Count);
        Assert.Equal(0, Count("submissions", null) - 2);
    }

    /// <summary>The site's policy, changed as its compliance officer approves a change (policy.yaml.sig).</summary>
    private void Policy(string yaml)
    {
        File.WriteAllText(_node.PolicyPath, yaml);
        File.WriteAllText(_node.PolicyPath + ".sig", FederatedTwin.Node.Policy.PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(yaml), _federation.Officer).ToJson());
    }

    /// <summary>Attempt 1 of round 1 decrypted over {self, peer0, peer1}, then attempt 2 over {self, peer0, peer2}: a re-run needing a fresh draw.</summary>
    private void ReleasedThenReRun()
    {
        var p = _federation.Peers;
        new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 1, [p[0], p[1]], clock: _clock).Run();
        new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 2, [p[0], p[2]], clock: _clock).Run();
    }

    [Fact]
    public void A_re_run_draw_the_lifetime_budget_cannot_take_is_refused_by_rule_lifetime_budget_and_audited()
    {
        // This year's budget for the purpose has room (5); the node's lifetime budget (0.5) takes the plan (0.4) but not a re-draw (0.2).
        Policy(FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT", privacyBudget: 5, lifetimeBudget: 0.5));
        Accept(Study);
        var p = _federation.Peers;
        new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 1, [p[0], p[1]], clock: _clock).Run();

        var rerun = new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 2, [p[0], p[2]], clock: _clock);
        var e = Assert.Throws<ParticipationRefusedException>(() => rerun.CommitUpdates(rerun.OpenKeys(rerun.CommitKeys())));
        Assert.Equal(ProtocolRules.LifetimeBudget, e.Rule);
        Assert.Contains("lifetime budget has 0.1 of 0.5 left", e.Message, StringComparison.Ordinal);
        Assert.Equal((AuditActions.SubmissionRefused, "lifetime_budget"), Refusals()[^1]);
        Assert.Single(FederatedTwin.Node.Policy.PrivacyLedgerReport.Rounds(_node.Store, Study.Id.Value)); // no second draw, nothing charged
        Assert.Equal(1, Count("submissions"));
    }

    [Fact]
    public void Under_max_sites_per_person_each_release_and_each_re_run_draw_is_charged_k_squared_rho()
    {
        // k = 2: the plan (ρ 0.4) is charged 1.6 at acceptance, a re-draw of a round (ρ 0.2) 0.8 more; the year's 2.4 takes one.
        Policy(FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT", privacyBudget: 2.4, maxSitesPerPerson: 2));
        Accept(Study);
        var unit = _node.LoadPolicy().PrivacyUnit;
        double Spent() => _node.Store.Read(c => FederatedTwin.Node.Policy.PrivacyLedgerReport.Spent(c, null, unit, "HOPERAT", _clock.GetUtcNow().Year));
        Assert.Equal(1.6, Spent(), 12);

        ReleasedThenReRun();
        var draws = FederatedTwin.Node.Policy.PrivacyLedgerReport.Rounds(_node.Store, Study.Id.Value, unit);
        Assert.Equal([(1, 0.2, 2, 0.8), (2, 0.2, 2, 0.8)], draws.Select(d => (d.Draw, d.Rho, d.SitesPerPerson, Math.Round(d.Spent, 12))));
        Assert.Equal(2.4, Spent(), 12);

        // A third draw: 0.2 more per hospital record (0.8 of 2.4 in that unit) would fit; 0.8 more per person does not.
        var third = new SimulatedAttempt(_participant, _federation, Study, Request(Study), 1, 3, [_federation.Peers[1], _federation.Peers[2]], clock: _clock);
        var e = Assert.Throws<ParticipationRefusedException>(() => third.CommitUpdates(third.OpenKeys(third.CommitKeys())));
        Assert.Equal(ProtocolRules.RedrawBudget, e.Rule);
        Assert.Contains("zCDP rho 0.8 (2² × 0.2 per hospital record)", e.Message, StringComparison.Ordinal);
        Assert.Equal((AuditActions.SubmissionRefused, "redraw_budget"), Refusals()[^1]);
    }

    public static TheoryData<string, string?> Tampered => new()
    {
        { "dp_rho", null },                     // dropped: the node would send its exact gradient sums
        { "dp_rho", "4" },                      // ten times the accepted ρ: a tenth of the noise
        { "dp_max_rows_per_patient", "30" },    // K: the per-patient sensitivity
        { "feature_bounds", "age:0:1000" },     // a clipping bound the study did not declare
        { "dp_clip", "1000" },                  // the gradient clip
        { StudyPrivacy.MinHonestNodesParameter, "3" }, // h raised from 2 to 3: every share a third of the noise, not a half
        { StudyPrivacy.MinHonestNodesParameter, null }, // dropped: the round sizes no noise
        { FedAvgStudy.RoundsParameter, "1" },   // ρ split over fewer rounds: twice the ρ per round
        { "purpose_of_use", "HRESCH" },         // another purpose: other consent, another budget
    };

    [Theory]
    [MemberData(nameof(Tampered))]
    public void Round_parameters_that_change_the_privacy_of_the_accepted_study_are_refused(string parameter, string? value)
    {
        Accept(Study);
        var request = Request(Study, p =>
        {
            if (value is null)
            {
                p.Remove(parameter);
            }
            else
            {
                p[parameter] = value;
            }
        });
        var e = RefusedUpdate(Work(WorkKind.CommitUpdate, Study, 1, 1, request));
        Assert.Equal(AcceptedStudy.RoundParameters, e.Rule);
        Assert.Contains(parameter, e.Message, StringComparison.Ordinal);
        Assert.Equal(0, Count("submissions"));
        Assert.Equal(0, Count("privacy_rounds"));
    }

    [Fact]
    public void A_study_the_node_did_not_accept_gets_no_key_share_and_no_update()
    {
        // Never offered: the coordinator skips the decision (and so the ledger charge) and asks for a round.
        Assert.Equal(AcceptedStudy.NotAccepted, Assert.Throws<ParticipationRefusedException>(() => _participant.CommitKeyShare(Work(WorkKind.CommitKeyShare, Study, 1, 1, Request(Study)))).Rule);
        Assert.Equal(AcceptedStudy.NotAccepted, RefusedUpdate(Work(WorkKind.CommitUpdate, Study, 1, 1, Request(Study))).Rule);

        // Refused by the site's policy (over this year's budget), then asked anyway.
        var greedy = Study with { Parameters = new Dictionary<string, string>(Study.Parameters!, StringComparer.Ordinal) { ["dp_rho"] = "5" } };
        Assert.False(new StudyDecisions(_node, clock: _clock).Decide(greedy).Accept);
        var e = RefusedUpdate(Work(WorkKind.CommitUpdate, greedy, 1, 1, Request(greedy)));
        Assert.Equal(AcceptedStudy.NotAccepted, e.Rule);
        Assert.Contains("refused study", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, Count("attempt_keys"));
        Assert.Equal(0, Count("privacy_rounds"));
        Assert.Equal(0, Charged());
    }

    [Fact]
    public void The_plan_is_derived_from_the_accepted_study_for_the_glm_and_the_composition()
    {
        // GLM: 1 moments round + max_iterations Newton rounds + 1 evaluation round with a holdout = 5.
        var glm = new StudySpec(new StudyId("dp-glm-plan"), GlmStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 1, 30)
        {
            Parameters = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["family"] = "binomial",
                ["outcome"] = "admission_next_year",
                ["features"] = Features,
                ["max_iterations"] = "3",
                ["holdout"] = "0.2",
                ["dp_rho"] = "0.5",
            },
        };
        var composition = new StudySpec(new StudyId("dp-composition-plan"), "federated-composition", new PurposeOfUse("HOPERAT"), 3, 3, 1, 30)
        {
            Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["year"] = "2020", ["dp_rho"] = "0.3" },
        };
        Assert.Equal(5, new LocalFederatedGlm().PlannedRounds(glm, Scheme.MaxParties));
        Assert.Equal(1, new LocalFederatedComposition().PlannedRounds(composition, Scheme.MaxParties));

        foreach (var (study, planned) in new[] { (glm, 5), (composition, 1) })
        {
            Accept(study);
            // The coordinator's own first request of the study (the node checks the round number, and the request against the study).
            FederatedTwin.Coordinator.Orchestration.IStudyAlgorithm coordinator = study.Algorithm == GlmStudy.AlgorithmName
                ? new FederatedTwin.Coordinator.Orchestration.FederatedGlmAlgorithm(Scheme)
                : new FederatedTwin.Coordinator.Orchestration.FederatedCompositionAlgorithm(Scheme);
            var request = coordinator.ConfigureRound(study, 1, []);
            _ = _participant.CommitKeyShare(Work(WorkKind.CommitKeyShare, study, planned, 1, request));
            var e = Assert.Throws<ParticipationRefusedException>(() => _participant.CommitKeyShare(Work(WorkKind.CommitKeyShare, study, planned + 1, 1, request)));
            Assert.Equal(AcceptedStudy.PlannedRounds, e.Rule);
        }
    }

    [Fact]
    public void A_round_that_would_spend_another_rho_than_planned_or_more_than_was_charged_is_refused()
    {
        // The last line of defence, whatever the parameters say: ρ per round = charge / planned rounds, total ≤ charge.
        var accepted = new AcceptedStudy(Study, 0.4);
        var fedAvg = new LocalFedAvg();
        accepted.CheckSpend(0.2, 0.2, fedAvg, Scheme.MaxParties);
        Assert.Equal(AcceptedStudy.RoundRho, Assert.Throws<ParticipationRefusedException>(() => accepted.CheckSpend(0.4, 0, fedAvg, Scheme.MaxParties)).Rule);
        Assert.Equal(AcceptedStudy.StudyBudget, Assert.Throws<ParticipationRefusedException>(() => accepted.CheckSpend(0.2, 0.4, fedAvg, Scheme.MaxParties)).Rule);

        // Accepted without noise: nothing was charged, so no round may spend anything.
        var exact = new AcceptedStudy(Study with { Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["outcome"] = "admission_next_year", ["features"] = Features } }, 0);
        Assert.Equal(AcceptedStudy.RoundRho, Assert.Throws<ParticipationRefusedException>(() => exact.CheckSpend(0.1, 0, fedAvg, Scheme.MaxParties)).Rule);
    }

    public void Dispose()
    {
        _node.Dispose();
        _federation.Dispose();
    }
}
