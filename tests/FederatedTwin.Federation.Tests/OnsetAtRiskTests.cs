using FederatedTwin.Analytics.Studies;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// An onset outcome (onset_&lt;c&gt;_next_year) is 0, not empty, for a patient who already has c, so a GLM of it must
/// leave those patient-years out itself: the twin applies an onset model only to people without the condition.
/// </summary>
public sealed class OnsetAtRiskTests
{
    private static Dictionary<string, string> Parameters(string outcome, string features) => new(StringComparer.Ordinal)
    {
        ["family"] = "binomial",
        ["outcome"] = outcome,
        ["features"] = features,
        ["holdout"] = "0.2",
    };

    [Fact]
    public void An_onset_glm_fits_only_the_patient_years_at_risk_and_refuses_its_own_condition_as_a_feature()
    {
        using var node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("onset-at-risk"));
        File.WriteAllText(node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        var export = TestFederation.TempDir("onset-at-risk-export");
        PopulationGenerator.Generate(400, SyntheticProfile.All[0], 7, export);
        new IngestPipeline(node).Run(export);

        const string outcome = "onset_hypertension_next_year";
        string[] features = ["age", "sex_male", "diabetes", "condition_count"];
        var glm = GlmStudy.Parse(Parameters(outcome, string.Join(',', features)), RlweThresholdScheme.Default.MaxParties, minHonestNodes: 3);
        Assert.Equal("hypertension", glm.AtRisk);

        // The training rows counted from the node's feature rows directly: observed, complete, and without hypertension.
        var observed = new FeatureBuilder(node.Store).ForStudy(node.LoadPolicy(), "HOPERAT")
            .Where(r => !glm.IsHeldOut(r.Pseudonym) && r.Values.GetValueOrDefault("outcome_observed") == 1
                && r.Values.GetValueOrDefault(outcome) is not null && features.All(f => r.Values.GetValueOrDefault(f) is not null))
            .ToList();
        var atRisk = observed.Where(r => r.Values["hypertension"] == 0).ToList();
        Assert.True(atRisk.Count < observed.Count, "the generated sites have patient-years with hypertension already");
        Assert.True(atRisk.Sum(r => r.Values[outcome]!.Value) > 0, "and onsets among those at risk");

        var rows = LocalFederatedGlm.Rows(node, glm, "HOPERAT");
        Assert.Equal(atRisk.Count, rows.Rows);
        Assert.Equal(atRisk.Sum(r => r.Values[outcome]!.Value), rows.Responses.Sum());
        Assert.Equal(atRisk.Select(r => r.Values["age"]!.Value), rows.Design.Chunk(features.Length).Select(x => x[0]));

        // Its own condition would be 0 in every row: refused when the study is read, by coordinator and node alike.
        var e = Assert.Throws<StudyFileException>(() => GlmStudy.Parse(Parameters(outcome, "age,hypertension"), RlweThresholdScheme.Default.MaxParties, minHonestNodes: 3));
        Assert.Equal("parameters.features", e.Field);

        // Other outcomes keep every observed row: a condition is an ordinary feature there.
        var admission = GlmStudy.Parse(Parameters("admission_next_year", "age,hypertension"), RlweThresholdScheme.Default.MaxParties, minHonestNodes: 3);
        Assert.Null(admission.AtRisk);
        Assert.Null(GlmStudy.Parse(Parameters("onset_unknown_next_year", "age"), RlweThresholdScheme.Default.MaxParties, minHonestNodes: 3).AtRisk);
    }
}
