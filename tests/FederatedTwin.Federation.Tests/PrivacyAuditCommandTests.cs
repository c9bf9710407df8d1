using System.Text.Json.Nodes;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// `ftwin bench privacy-audit` as its own process, small (400 runs of each release, 60 patients per site): the JSON it prints
/// and the audit's power. With 400 runs the largest bound an audit can certify is about 3.4 (100 guesses per side, all
/// right), so a correctly calibrated release must stay under its claimed ε = 1.91 (its true distinguishing power at
/// ρ = 0.1 gives bounds around 0.3; a bound above the claim has probability below 1% even for a mechanism exactly at the
/// claim) and one whose noise is cut to a tenth (ρ really 100 times larger: the canary's two score distributions are 3.6
/// (GLM) and 5.3 (composition) noise SDs apart) must exceed it: the largest rung guesses the 100 highest and 100 lowest of
/// ~200 runs with and ~200 without the canary, where an error has a probability of a few percent, and it takes about a dozen
/// errors to bring the bound down to the claim.
/// </summary>
public sealed class PrivacyAuditCommandTests
{
    private static readonly string[] Fields = ["name", "claimed_epsilon", "delta", "empirical_epsilon", "confidence", "trials", "guesses", "correct"];

    [Fact]
    public void The_audit_prints_one_JSON_object_and_detects_noise_cut_to_a_tenth_but_not_the_correct_noise()
    {
        var calibrated = Audit();
        var miscalibrated = Audit("--miscalibrate", "0.1");

        double claimed = ZcdpAccountant.EpsilonCanonneKamathSteinke(new ZcdpRho(0.1), 1e-5);
        foreach (var name in new[] { "composition", "glm" })
        {
            var good = calibrated[name];
            var bad = miscalibrated[name];
            foreach (var m in new[] { good, bad })
            {
                Assert.All(Fields, f => Assert.True(m.ContainsKey(f), $"{name} has no {f}"));
                Assert.Equal(claimed, m["claimed_epsilon"]!.GetValue<double>(), 12);
                Assert.Equal(1e-5, m["delta"]!.GetValue<double>());
                Assert.True(m["confidence"]!.GetValue<double>() >= 0.99);
                Assert.Equal(400, m["trials"]!.GetValue<int>());
                Assert.InRange(m["correct"]!.GetValue<int>(), 0, m["guesses"]!.GetValue<int>());
            }

            double goodEpsilon = good["empirical_epsilon"]!.GetValue<double>(), badEpsilon = bad["empirical_epsilon"]!.GetValue<double>();
            Assert.True(goodEpsilon < claimed, $"{name}: calibrated noise gave {goodEpsilon} ≥ the claim {claimed}");
            Assert.True(badEpsilon > claimed, $"{name}: noise × 0.1 gave only {badEpsilon} ≤ the claim {claimed}");
            Assert.True(badEpsilon > goodEpsilon);
        }

        // The composition's canary is the worst case: it moves the release by the sensitivity the noise is sized for.
        Assert.Equal(CompositionLayout.L2Sensitivity, calibrated["composition"]["canary_l2"]!.GetValue<double>(), 5);
    }

    private static Dictionary<string, JsonObject> Audit(params string[] extra)
    {
        var run = TestFederation.Ftwin(["bench", "privacy-audit", "--json", "--trials", "400", "--patients", "60", "--seed", "7", .. extra]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("privacy-audit:", run.Stderr, StringComparison.Ordinal); // progress goes to standard error only

        var json = JsonNode.Parse(run.Stdout)!.AsObject();
        Assert.Equal(["mechanisms"], json.Select(p => p.Key));
        return json["mechanisms"]!.AsArray().Select(m => m!.AsObject()).ToDictionary(m => m["name"]!.GetValue<string>());
    }
}
