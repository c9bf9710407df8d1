using FederatedTwin.Analytics.Census;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Composition;
using Microsoft.Extensions.Logging.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Differencing across studies, against a coordinator that runs the same exact statistic again over another set of hospitals: the
/// difference of the two sums would be the statistic of the hospitals in one set and not the other. The node's release ledger (its
/// decryption shares, with what each released and over which member hospitals) refuses it, and audits the rule. A real node store,
/// real policy decisions, real key shares and encryption; the peers are real key holders on the node's pinned roster.
/// </summary>
public sealed class ReleaseLedgerTests : IDisposable
{
    private static readonly IAdditiveThresholdScheme Scheme = RlweThresholdScheme.Default;

    private readonly NodeDirectory _node;
    private readonly RoundParticipant _participant;
    private readonly SimulatedFederation _federation;

    public ReleaseLedgerTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("release-ledger"));
        _node.WriteSiteInput(SiteInput.Synthetic(7));
        File.WriteAllText(_node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        _participant = new RoundParticipant(_node, Scheme, [new LocalFederatedSum(), new LocalFederatedComposition()], NullLogger<RoundParticipant>.Instance);
        _federation = SimulatedFederation.Around(_node, peers: 4);
    }

    /// <summary>The first three peers: with this node, the four hospitals of the first census.</summary>
    private List<Peer> Three => [.. _federation.Peers.Take(3)];

    /// <summary>All four peers: one hospital more than <see cref="Three"/>.</summary>
    private List<Peer> Four => [.. _federation.Peers];

    /// <summary>An exact census (federated-sum of patients by age band and sex), accepted by the node.</summary>
    private StudySpec Census(string id, string year = "2024")
    {
        var study = new StudySpec(new StudyId(id), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30)
        {
            Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["vector"] = LocalVectors.PatientsByAgeBandAndSex, ["year"] = year },
        };
        Assert.True(new StudyDecisions(_node).Decide(study).Accept);
        return study;
    }

    private static RoundRequest CensusRequest(StudySpec study) =>
        new("federated-sum", 16, new Dictionary<string, string>(study.Parameters!, StringComparer.Ordinal) { ["purpose_of_use"] = study.PurposeOfUse.Code });

    /// <summary>A composition of the year, exact or with dp_rho, accepted by the node.</summary>
    private StudySpec Composition(string id, string year = "2024", string? rho = null)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["year"] = year };
        if (rho is not null)
        {
            parameters["dp_rho"] = rho;
        }

        var study = new StudySpec(new StudyId(id), CompositionStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 5, 1, 30) { Parameters = parameters };
        Assert.True(new StudyDecisions(_node).Decide(study).Accept);
        return study;
    }

    /// <summary>The round the coordinator would ask for: the study's parameters and those derived from it (dp_min_honest_nodes for a DP release).</summary>
    private static RoundRequest CompositionRequest(StudySpec study)
    {
        var parameters = new Dictionary<string, string>(study.Parameters!, StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            ["min_nodes"] = study.MinNodes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (FederatedTwin.Analytics.Privacy.StudyPrivacy.RoundMinHonestNodesOf(study) is { } h)
        {
            parameters[FederatedTwin.Analytics.Privacy.StudyPrivacy.MinHonestNodesParameter] = h.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return new(CompositionStudy.AlgorithmName, CompositionStudy.VectorLength, parameters);
    }

    private SimulatedAttempt Attempt(StudySpec study, IReadOnlyList<Peer> peers) =>
        new(_participant, _federation, study, study.Algorithm == "federated-sum" ? CensusRequest(study) : CompositionRequest(study), peers: peers);

    private static string Rule(Action phase) => Assert.Throws<ParticipationRefusedException>(phase).Rule!;

    /// <summary>The node's audited refusals of a study: (action, rule), as its audit trail records them.</summary>
    private List<(string Action, string? Rule)> Refusals(StudySpec study) => [.. _node.Store.Read(c => c.Query<(string action, string detail)>(
            "SELECT action, detail FROM audit_log WHERE study_id=@s AND action IN (@k, @u, @d) ORDER BY seq",
            new { s = study.Id.Value, k = AuditActions.KeyShareRefused, u = AuditActions.SubmissionRefused, d = AuditActions.DecryptionShareRefused }).ToList())
        .Select(r => (r.action, JsonNode.Parse(r.detail)!["rule"]?.GetValue<string>()))];

    [Fact]
    public void An_exact_census_over_one_hospital_more_than_an_earlier_one_is_refused_before_the_nodes_key_joins_and_audited_as_release_differencing()
    {
        Attempt(Census("census-2024"), Three).Run();

        // Another study of the same statistic and cohort, with peer3 added: the difference of the two sums would be peer3's census.
        var again = Census("census-2024-again");
        var attempt = Attempt(again, Four);
        Assert.Equal(ProtocolRules.ReleaseDifferencing, Rule(() => attempt.OpenKeys(attempt.CommitKeys())));
        Assert.Equal(new List<(string, string?)> { (AuditActions.KeyShareRefused, ProtocolRules.ReleaseDifferencing) }, Refusals(again));
        Assert.Equal(0, _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM commitment_sets WHERE study_id=@s", new { s = again.Id.Value })));

        // Nor with one hospital fewer: then the difference would be peer2's.
        var fewer = Census("census-2024-fewer");
        var without = Attempt(fewer, Three.Take(2).ToList());
        Assert.Equal(ProtocolRules.ReleaseDifferencing, Rule(() => without.OpenKeys(without.CommitKeys())));
        Assert.Contains("without peer2", Assert.Throws<ParticipationRefusedException>(() => without.OpenKeys(without.KeySet)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_release_that_becomes_a_difference_while_its_attempt_runs_is_refused_at_decryption()
    {
        // Two studies of the same census at once: the second is past its key and update phases (its ledger check then found nothing) when
        // the first is decrypted over another set of hospitals. The share that would decrypt the second is the one that is refused.
        var first = Census("census-a");
        var second = Census("census-b");
        var late = Attempt(second, Four);
        var aggregate = late.OpenUpdates(late.CommitUpdates(late.OpenKeys(late.CommitKeys())));
        Attempt(first, Three).Run();

        Assert.Equal(ProtocolRules.ReleaseDifferencing, Rule(() => late.Decrypt(aggregate)));
        Assert.Equal(new List<(string, string?)> { (AuditActions.DecryptionShareRefused, ProtocolRules.ReleaseDifferencing) }, Refusals(second));
        Assert.Equal(0, _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM decryption_shares WHERE study_id=@s", new { s = second.Id.Value })));
    }

    [Fact]
    public void The_same_statistic_over_the_same_hospitals_is_released_again()
    {
        var first = Attempt(Census("census-2024"), Three);
        var sum = first.DecryptedSum(first.Run());
        var again = Attempt(Census("census-2024-again"), Three);
        Assert.Equal(sum, again.DecryptedSum(again.Run())); // nothing new: the same hospitals' same census
    }

    [Fact]
    public void A_members_key_rotation_does_not_make_it_another_hospital()
    {
        Attempt(Census("census-2024"), Three).Run();

        // peer2 rotates its key: roster version 2 lists the same member under its new key.
        using var rotated = new Peer("peer2");
        _federation.Pin(2, [.. Three.Take(2), rotated, _federation.Peers[3]]);
        Attempt(Census("census-2024-after-rotation"), [.. Three.Take(2), rotated]).Run();
    }

    [Fact]
    public void An_exact_composition_of_the_year_contains_its_census_so_it_is_refused_over_another_set_too()
    {
        Attempt(Census("census-2024"), Three).Run();
        var composition = Composition("composition-2024");
        var attempt = Attempt(composition, Four);
        Assert.Equal(ProtocolRules.ReleaseDifferencing, Rule(() => attempt.OpenKeys(attempt.CommitKeys())));
        Assert.Equal(new List<(string, string?)> { (AuditActions.KeyShareRefused, ProtocolRules.ReleaseDifferencing) }, Refusals(composition));
    }

    [Fact]
    public void Another_cohort_over_another_set_is_not_refused_and_neither_are_dp_releases()
    {
        // What the ledger does not stop (docs/threat-model.md): another year is another cohort, so its sum over another set is released.
        Attempt(Census("census-2024"), Three).Run();
        Attempt(Census("census-2023", year: "2023"), Four).Run();

        // A DP composition over another set carries fresh noise (charged to the privacy ledger); so does the next one.
        Attempt(Composition("dp-composition-a", rho: "0.1"), Three).Run();
        Attempt(Composition("dp-composition-b", rho: "0.1"), Four).Run();

        var ledger = new ReleaseLedger(_node.Store).All();
        Assert.Equal(4, ledger.Count);
        Assert.Equal([true, true, false, false], ledger.Select(r => r.Exact));
        Assert.Equal(["peer0", "peer1", "peer2", "self"], ledger[0].Hospitals); // the roster's member names, not keys
        Assert.Equal(["patients_by_age_band_and_sex over year 2024, purpose HOPERAT"], ledger[0].Statistics);
    }

    [Fact]
    public void An_exact_census_with_a_count_under_the_sites_minimum_is_refused_unless_the_site_allows_exact_small_counts()
    {
        // Four women of 90+ at this site: the sum's cell could be under 11 whatever the other hospitals have.
        var counts = SiteInput.Synthetic(7).Vectors[LocalVectors.PatientsByAgeBandAndSex];
        counts[14] = 4;
        _node.WriteSiteInput(new SiteInput(new Dictionary<string, long[]> { [LocalVectors.PatientsByAgeBandAndSex] = counts }));
        var strict = FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT").Replace("exact_small_counts: true", "exact_small_counts: false", StringComparison.Ordinal);
        Approve(strict);
        Assert.False(_node.LoadPolicy().ExactSmallCounts);

        var census = Census("census-2024");
        var refused = Attempt(census, Three);
        Assert.Equal(ProtocolRules.ExactSmallCounts, Rule(() => refused.CommitUpdates(refused.OpenKeys(refused.CommitKeys()))));
        Assert.Equal(new List<(string, string?)> { (AuditActions.SubmissionRefused, ProtocolRules.ExactSmallCounts) }, Refusals(census));
        Assert.Equal(0, _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM submissions")));

        // The site's compliance officer approves exact small counts (the coordinator's suppression then keeps them from analysts).
        Approve(strict.Replace("exact_small_counts: false", "exact_small_counts: true", StringComparison.Ordinal));
        var allowed = new SimulatedAttempt(_participant, _federation, census, CensusRequest(census), attempt: 2, peers: Three);
        Assert.Equal(counts, allowed.DecryptedSum(allowed.Run())); // the peers sent zeros
    }

    /// <summary>A policy change as the site makes it: the file, signed by the node's compliance officer (policy-signers.txt).</summary>
    private void Approve(string policy)
    {
        File.WriteAllText(_node.PolicyPath, policy);
        File.WriteAllText(_node.PolicyPath + ".sig", PolicySignature.Sign(File.ReadAllBytes(_node.PolicyPath), _federation.Officer).ToJson());
    }

    public void Dispose()
    {
        _node.Dispose();
        _federation.Dispose();
    }
}
