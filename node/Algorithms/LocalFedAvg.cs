using System.Reflection;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Privacy;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace FederatedTwin.Node.Algorithms;

/// <summary>
/// The node side of FedAvg: an ML.NET L-BFGS logistic regression on this site's rows (the same rows as the
/// GLM: consent applied, complete cases, training patients only), warm-started from the round's global
/// weights for a few iterations; the upload is [n·w…, n·b, n] (McMahan et al. 2017), encoded and encrypted.
/// With dp_rho: DP-FedSGD's clipped, noised per-patient gradient sum instead (<see cref="FedAvgPrivacy"/>).
/// </summary>
public sealed class LocalFedAvg : ILocalAlgorithm
{
    public string Name => FedAvgStudy.AlgorithmName;

    /// <summary>h (dp_min_honest_nodes) sizes each node's noise share and fedavg_rounds splits ρ: both must be the accepted study's.</summary>
    public RoundBasis Basis(StudySpec accepted) => FedAvgStudy.Basis(accepted);

    /// <summary>The global weights (plain FedAvg) or the point the DP gradient is taken at (checked finite in <see cref="Private"/>).</summary>
    public IReadOnlySet<string> StateKeys => FedAvgRound.Keys;

    /// <summary>Under DP: the study's rounds, over which ρ is split evenly.</summary>
    public int? PlannedRounds(StudySpec accepted, int maxParties) => FedAvgStudy.Parse(accepted, maxParties).Privacy?.Dp.Rounds;

    /// <summary>The model's rows: its outcome and features over the purpose's patient-years (every round releases their row count).</summary>
    public IReadOnlyList<Federation.ReleasedStatistic> ReleasedStatistics(StudySpec accepted) => [Federation.ReleasedStatistic.ModelRows(Name, accepted.Parameters, accepted.PurposeOfUse)];

    public int ValueCount(RoundRequest request, int maxParties) => FedAvgStudy.Parse(request.Parameters, maxParties).Layout(maxParties).Sum(b => b.Length);

    public LocalStatistics Compute(RoundRequest request, NodeDirectory node, Features.DataSnapshot data, int maxParties)
    {
        var study = FedAvgStudy.Parse(request.Parameters, maxParties);
        var rows = LocalFederatedGlm.Rows(node, data, study.Rows, RoundBasis.PurposeOf(request));
        var codec = new FixedPointCodec(study.Layout(maxParties), maxParties);
        if (study.Privacy is { } dp)
        {
            return new LocalStatistics(Private(dp, codec, rows, request, new CryptographicRandomBits()), codec);
        }

        var local = Train(study, rows, FedAvgRound.Read(request).Weights);
        return new LocalStatistics(codec.Encode(FedAvgAggregate.NodeVector(local, rows.Rows)), codec);
    }

    /// <summary>Under DP, the ρ of one round (the study's ρ over its planned rounds), charged per round to the ledger.</summary>
    public double RoundRho(RoundRequest request, int maxParties) =>
        FedAvgStudy.Parse(request.Parameters, maxParties).Privacy?.Dp.RoundRho ?? 0;

    /// <summary>
    /// DP-FedSGD at the node (<see cref="FedAvgPrivacy"/>): ML.NET's trainer exposes no per-patient gradients to clip, so the
    /// node computes the clipped per-patient gradient sum itself at the round's point, encodes it and adds its discrete
    /// Gaussian share per block before encryption; the exact sums never leave the node.
    /// </summary>
    public static long[] Private(FedAvgPrivacy dp, FixedPointCodec codec, GlmData data, RoundRequest request, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(dp);
        ArgumentNullException.ThrowIfNull(codec);
        ArgumentNullException.ThrowIfNull(request);
        var point = FedAvgRound.Read(request).Point?.ToArray()
            ?? throw new InvalidOperationException("The DP FedAvg round carries no point to evaluate the gradient at.");
        if (!point.All(double.IsFinite))
        {
            throw new InvalidOperationException("The DP FedAvg round's point is not finite.");
        }

        var encoded = dp.NodeGradient(data, point, codec);
        RoundNoise.AddNoise(encoded, codec.Blocks, dp.NodeVariances(codec.Blocks), random);
        return encoded;
    }

    /// <summary>Local training: weights (features…, intercept) after <see cref="FedAvgStudy.LocalIterations"/> L-BFGS iterations from <paramref name="global"/>.</summary>
    public static double[] Train(FedAvgStudy study, GlmData data, IReadOnlyList<double>? global)
    {
        var p = study.Rows.Features.Count;
        if (data.Rows == 0)
        {
            return global?.ToArray() ?? new double[p + 1];
        }

        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, data.Rows).Select(i => new Row
        {
            Features = [.. Enumerable.Range(0, p).Select(j => (float)data.Design[(i * p) + j])],
            Label = data.Responses[i] >= 0.5,
        });
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, p);
        var view = ml.Data.LoadFromEnumerable(rows, schema);
        var trainer = ml.BinaryClassification.Trainers.LbfgsLogisticRegression(new LbfgsLogisticRegressionBinaryTrainer.Options
        {
            MaximumNumberOfIterations = study.LocalIterations,
            L2Regularization = (float)study.L2,
            L1Regularization = 0,
            NumberOfThreads = 1, // deterministic
        });
        var model = global is null ? trainer.Fit(view) : trainer.Fit(view, Rebuild(ml, global));
        var parameters = model.Model.SubModel;
        return [.. parameters.Weights.Select(w => (double)w), parameters.Bias];
    }

    /// <summary>
    /// ML.NET does not let a caller construct linear model parameters (its constructor is internal), so the global
    /// model is rebuilt through that constructor by reflection: (environment, weights, bias, no statistics). A test
    /// checks the rebuilt weights round-trip, so an ML.NET upgrade that changes it fails loudly, not silently.
    /// </summary>
    internal static LinearBinaryModelParameters Rebuild(MLContext ml, IReadOnlyList<double> weights)
    {
        var constructor = typeof(LinearBinaryModelParameters).GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
            .FirstOrDefault(c => c.GetParameters().Length == 4 && c.GetParameters()[2].ParameterType == typeof(float))
            ?? throw new InvalidOperationException("This ML.NET version has no (env, weights, bias, stats) constructor for LinearBinaryModelParameters.");
        var vector = new VBuffer<float>(weights.Count - 1, [.. weights.Take(weights.Count - 1).Select(w => (float)w)]);
        return (LinearBinaryModelParameters)constructor.Invoke([ml, vector, (float)weights[^1], null]);
    }

    private sealed class Row
    {
        public float[] Features { get; set; } = [];

        public bool Label { get; set; }
    }
}
