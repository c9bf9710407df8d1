using FederatedTwin.Analytics.Studies;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.FedAvg;

/// <summary>
/// A FedAvg study (McMahan et al. 2017) of a logistic model: the rows, features and outcome are declared as
/// for the exact GLM (<see cref="GlmStudy"/>, family binomial), each round every node runs a few L-BFGS
/// iterations of its own logistic regression warm-started from the global weights, and the coordinator
/// averages the sample-weighted parameter vectors under encryption. Unlike the GLM this is an approximation
/// whose quality depends on the rounds and local iterations; its use is models that have no closed-form
/// sufficient statistics, and it is here so such a model plugs into the same seam.
/// </summary>
public sealed record FedAvgStudy(GlmStudy Rows, int LocalIterations, double L2, double MaxAbsWeight)
{
    public const string AlgorithmName = "federated-fedavg";

    /// <summary>The round parameter carrying the study's planned rounds, over which a DP study's ρ is split.</summary>
    public const string RoundsParameter = RoundBasis.PlannedRoundsParameter;

    /// <summary>
    /// What every round carries besides the study's parameters: the purpose, min_nodes, the planned rounds and, under DP, h
    /// (the noise shares are sized by it and ρ is split over the rounds); the coordinator writes them and each node requires them.
    /// </summary>
    public static RoundBasis Basis(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return new RoundBasis(study.PurposeOfUse.Code, study.MinNodes, study.Rounds, StudyPrivacy.RoundMinHonestNodesOf(study));
    }

    /// <summary>
    /// Reads the study's parameters. With dp_rho the study runs DP-FedSGD (<see cref="FedAvgPrivacy"/>): the rows and DP
    /// settings (feature_bounds, dp_max_rows_per_patient, h = dp_min_honest_nodes) are the DP GLM's, ρ is split over the study's
    /// rounds, and dp_clip, learning_rate and momentum set the clip and the coordinator's optimizer.
    /// </summary>
    public static FedAvgStudy Parse(IReadOnlyDictionary<string, string> p, int maxParties, int? minHonestNodes = null, int? rounds = null)
    {
        if (p.GetValueOrDefault("family") is { } family && family != "binomial")
        {
            throw new StudyFileException("parameters.family", "federated-fedavg trains a logistic model: binomial only");
        }

        var withFamily = new Dictionary<string, string>(p, StringComparer.Ordinal) { ["family"] = "binomial" };
        var rows = GlmStudy.Parse(withFamily, maxParties, minHonestNodes);
        FedAvgPrivacy? privacy = null;
        if (rows.Spec.Privacy is { } glm)
        {
            var planned = rounds ?? (p.GetValueOrDefault(RoundsParameter) is { } r && int.TryParse(r, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new StudyFileException("parameters." + RoundsParameter, "a DP FedAvg round carries the study's planned rounds"));
            try
            {
                privacy = new FedAvgPrivacy(
                    new GlmPrivacy(glm.Rho, planned, glm.MinHonestNodes, glm.MaxRowsPerPatient, glm.FeatureBounds),
                    rows.Features.Count,
                    p.ContainsKey("dp_clip") ? Number(p, "dp_clip", 0, 1e-9, 1e9) : null,
                    p.ContainsKey("learning_rate") ? Number(p, "learning_rate", 0, 1e-9, 1e6) : null,
                    Number(p, "momentum", 0.9, 0, 0.999));
            }
            catch (ArgumentException e)
            {
                throw new StudyFileException("parameters", e.Message);
            }
        }

        return new FedAvgStudy(
            rows,
            (int)Number(p, "local_iterations", 10, 1, 1000),
            Number(p, "l2", 1e-3, 0, 1e6),
            Number(p, "max_abs_weight", 100, 1e-3, 1e6))
        {
            Privacy = privacy,
        };
    }

    /// <summary>The study as its offer declares it: h is the study's (or its default, min_nodes − 1).</summary>
    public static FedAvgStudy Parse(StudySpec study, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(study);
        var p = study.Parameters ?? new Dictionary<string, string>();
        return Parse(p, maxParties, StudyPrivacy.Rho(p) > 0 ? StudyPrivacy.MinHonestNodes(study) : null, study.Rounds);
    }

    /// <summary>
    /// What the study's rounds really spend at each node, against its stated ρ: each round the sum of h … <paramref name="maxShares"/>
    /// honest discrete Gaussian shares per block (<see cref="FedAvgPrivacy.TrueSpentBy"/>), composed by addition. Null without DP.
    /// </summary>
    public PrivacyAccount? Account(int maxParties, int maxShares) =>
        Privacy is not { } dp ? null
        : new PrivacyAccount(dp.Dp.Rho, dp.Dp.Rounds * dp.TrueSpentBy(Layout(maxParties), maxShares), dp.Dp.MinHonestNodes, maxShares);

    /// <summary>Under DP (dp_rho): DP-FedSGD's clip, noise and optimizer; null for plain FedAvg with ML.NET.</summary>
    public FedAvgPrivacy? Privacy { get; init; }

    /// <summary>p weights and the intercept, each times the node's rows, then the rows: a node's weights beyond ±max_abs_weight are refused by the codec.</summary>
    public IReadOnlyList<FixedPointBlock> Layout(int maxParties)
    {
        var n = Rows.Spec.Bounds.MaxRowsPerNode;
        if (Privacy is { } dp)
        {
            return dp.Layout(n, maxParties);
        }

        return
        [
            new("weighted_parameters", Rows.Features.Count + 1, GlmLayout.ScaleFor(n * MaxAbsWeight, maxParties)),
            new("rows", 1, 1),
        ];
    }

    private static double Number(IReadOnlyDictionary<string, string> p, string name, double fallback, double min, double max) =>
        p.GetValueOrDefault(name) is not { } v ? fallback
        : double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= min && x <= max ? x
        : throw new StudyFileException("parameters." + name, FormattableString.Invariant($"must be a number from {min} to {max}"));
}
