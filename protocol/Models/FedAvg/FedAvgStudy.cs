using System.Globalization;
using System.Text.Json;
using FederatedTwin.Protocol.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.Glm;

namespace FederatedTwin.Protocol.Models.FedAvg;

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

    /// <summary>The parameter carrying the global weights (features…, intercept) for a round, as JSON; absent in round 1.</summary>
    public const string WeightsParameter = "fedavg_weights";

    public static FedAvgStudy Parse(IReadOnlyDictionary<string, string> p, int maxParties)
    {
        if (p.GetValueOrDefault("family") is { } family && family != "binomial")
        {
            throw new StudyFileException("parameters.family", "federated-fedavg trains a logistic model: binomial only");
        }

        if (Privacy.StudyPrivacy.Rho(p) > 0)
        {
            // Patient-level DP for FedAvg needs a per-patient bound on what a node's locally trained weights can move,
            // which L-BFGS on all of a node's rows does not give (it would take DP-SGD at the node; docs/models.md).
            throw new StudyFileException("parameters." + Privacy.StudyPrivacy.RhoParameter, "federated-fedavg adds no differential-privacy noise (no per-patient bound on locally trained weights): run it with DP off, or use federated-glm");
        }

        var withFamily = new Dictionary<string, string>(p, StringComparer.Ordinal) { ["family"] = "binomial" };
        var rows = GlmStudy.Parse(withFamily, maxParties);
        return new FedAvgStudy(
            rows,
            (int)Number(p, "local_iterations", 10, 1, 1000),
            Number(p, "l2", 1e-3, 0, 1e6),
            Number(p, "max_abs_weight", 100, 1e-3, 1e6));
    }

    public static FedAvgStudy Parse(StudySpec study, int maxParties) => Parse(study.Parameters ?? new Dictionary<string, string>(), maxParties);

    /// <summary>p weights and the intercept, each times the node's rows, then the rows: a node's weights beyond ±max_abs_weight are refused by the codec.</summary>
    public IReadOnlyList<FixedPointBlock> Layout(int maxParties)
    {
        var n = Rows.Spec.Bounds.MaxRowsPerNode;
        return
        [
            new("weighted_parameters", Rows.Features.Count + 1, GlmLayout.ScaleFor(n * MaxAbsWeight, maxParties)),
            new("rows", 1, 1),
        ];
    }

    public static string SerializeWeights(IReadOnlyList<double> weights) => JsonSerializer.Serialize(weights);

    public static double[] DeserializeWeights(string json) => JsonSerializer.Deserialize<double[]>(json) ?? throw new InvalidOperationException("The round carries no weights.");

    private static double Number(IReadOnlyDictionary<string, string> p, string name, double fallback, double min, double max) =>
        p.GetValueOrDefault(name) is not { } v ? fallback
        : double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= min && x <= max ? x
        : throw new StudyFileException("parameters." + name, FormattableString.Invariant($"must be a number from {min} to {max}"));
}
