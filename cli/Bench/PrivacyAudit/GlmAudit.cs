using System.Globalization;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Features;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Cli.Bench.PrivacyAudit;

/// <summary>
/// The DP GLM under audit: a logistic model of next-year admission on age, sex and three chronic conditions, with the
/// study's default DP settings (K = 5 rows per patient, 6 Newton rounds after the moments round, so ρ is spent over 7
/// aggregations). Every round is released as the nodes release it: <see cref="LocalFederatedGlm.Rows(IEnumerable{PatientYear}, GlmStudy, bool)"/>
/// picks the design rows, <see cref="GlmNode.Encode"/> clips features, caps rows and clips each patient's total per block,
/// and <see cref="LocalFederatedGlm.Release"/> encodes and adds the node's discrete Gaussian shares. The audit measures the
/// transcript the coordinator sees (the noisy sums of all rounds), of which the model is post-processing.
/// <para>
/// The canary is the worst case the clipping allows: a patient of the first site with K patient-years, each admitted the
/// next year (y = 1) and with every feature at the upper end of its declared range (x̃ = +1), so its K rows add up in one
/// direction and its totals reach the clip bounds: K in the moments round's row count, weight and response sums. In a
/// Newton round no patient reaches every bound at once (the Hessian's is reached at μ = ½, the score's as μ → 0), so the
/// round's coefficients are chosen as a malicious coordinator would (DP must hold for any β the rounds carry: the nodes
/// accept any β, and adaptive composition covers adaptively chosen ones): among the fit's own first β̃ (the null model's
/// intercept), β̃ = 0 and β̃ = (−60, 0, …) (η clamped at −50, μ ≈ 0), the one whose canary moves the release furthest
/// relative to its measured noise.
/// </para>
/// </summary>
internal static class GlmAudit
{
    public const string Outcome = "admission_next_year";
    public const string Features = "age,sex_male,diabetes,heart_failure,copd";

    private const int CalibrationRuns = 64;

    public static AuditedRelease Create(AuditPopulation population, double claimedRho, double noiseMultiplier, int maxParties, IRandomBitSource random)
    {
        int nodes = population.Sites.Count;
        var glm = GlmStudy.Parse(
            new Dictionary<string, string>
            {
                ["family"] = "binomial",
                ["outcome"] = Outcome,
                ["features"] = Features,
                [StudyPrivacy.RhoParameter] = (claimedRho / (noiseMultiplier * noiseMultiplier)).ToString("R", CultureInfo.InvariantCulture),
            },
            maxParties,
            minHonestNodes: nodes);
        var spec = glm.Spec;
        var dp = spec.Privacy ?? throw new InvalidOperationException("The audited GLM study has no DP settings.");
        var data = population.Sites.Select(rows => LocalFederatedGlm.Rows(rows, glm)).ToArray();
        var canaryData = LocalFederatedGlm.Rows(population.Sites[0].Concat(Canary(population.Sites[0][0], glm, dp)), glm);

        // The moments round, then the fit's first Newton request (its layout and design scale), as the coordinator makes them.
        var fit = new GlmNoisyNewtonFit(spec);
        var moments = fit.NextRequest();
        var exactMoments = new double[moments.Length];
        foreach (var d in data)
        {
            var v = GlmNode.Compute(spec, moments, d);
            for (int i = 0; i < v.Length; i++)
            {
                exactMoments[i] += v[i];
            }
        }

        fit.Accept(exactMoments);
        var newton = fit.NextRequest();
        if (newton.Kind != GlmRoundKind.Iterate || newton.Beta is null)
        {
            throw new InvalidOperationException("The DP fit's second round is not a Newton round.");
        }

        int p = spec.Coefficients;
        IReadOnlyList<double>[] candidates = [newton.Beta, new double[p], [-60, .. new double[p - 1]]];
        var beta = candidates.MaxBy(b =>
        {
            var round = Round(glm, newton with { Beta = b }, data, canaryData, maxParties);
            return new AuditedRelease("glm", claimedRho, [round]).Calibrate(CalibrationRuns, random).SignalToNoise;
        })!;

        var rounds = new List<AuditedRound> { Round(glm, moments, data, canaryData, maxParties) };
        for (int r = 2; r <= dp.Rounds; r++)
        {
            rounds.Add(Round(glm, newton with { Round = r, Beta = beta }, data, canaryData, maxParties));
        }

        return new AuditedRelease("glm", claimedRho, rounds);
    }

    private static AuditedRound Round(GlmStudy glm, GlmRequest request, GlmData[] data, GlmData canaryData, int maxParties)
    {
        var values = data.Select(d => GlmNode.Encode(glm.Spec, request, d)).ToArray();
        var withCanary = GlmNode.Encode(glm.Spec, request, canaryData);
        var codec = new FixedPointCodec(request.Layout, maxParties);
        var effect = codec.Decode(withCanary).Zip(codec.Decode(values[0]), (a, b) => a - b).ToArray();
        var releases = Enumerable.Range(0, data.Length).Select(n => (NodeRelease)((canary, random) =>
            LocalFederatedGlm.Release(glm, request.Layout, n == 0 && canary ? withCanary : values[n], maxParties, random))).ToList();
        return new AuditedRound($"{request.Kind.ToString().ToLowerInvariant()} {request.Round}", releases, effect, maxParties);
    }

    /// <summary>K patient-years of one patient, each with the outcome and every feature at the top of its declared range.</summary>
    private static IEnumerable<PatientYear> Canary(PatientYear template, GlmStudy glm, GlmPrivacy dp)
    {
        for (int k = 0; k < dp.MaxRowsPerPatient; k++)
        {
            var values = new Dictionary<string, double?>(StringComparer.Ordinal)
            {
                ["year"] = CompositionAudit.Year - k,
                ["outcome_observed"] = 1,
                [glm.Outcome] = 1,
            };
            for (int j = 0; j < glm.Features.Count; j++)
            {
                if (GlmStudy.Indicator(glm.Features[j]) is not null)
                {
                    throw new InvalidOperationException("The audit's canary sets plain feature columns only.");
                }

                values[glm.Features[j]] = dp.FeatureBounds[j].High;
            }

            yield return AuditPopulation.Canary(template, "canary-glm", values);
        }
    }
}
