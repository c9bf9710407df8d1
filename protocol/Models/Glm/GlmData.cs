namespace FederatedTwin.Protocol.Models.Glm;

/// <summary>
/// One node's rows on the original scale: features row-major without an intercept column, the response,
/// optional prior weights (default 1; binomial: number of trials, with y the proportion of successes, as R)
/// and an optional offset on the link scale (e.g. log exposure). Arrays are used as given, not copied.
/// Rows of weight zero take no part in anything, as in R's glm.fit.
/// </summary>
public sealed class GlmData
{
    public GlmData(int features, double[] x, double[] y, double[]? weights = null, double[]? offset = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(features);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Length != (long)y.Length * features)
        {
            throw new ArgumentException($"x holds {x.Length} values, not rows × features = {y.Length} × {features}.", nameof(x));
        }

        if (weights is not null && weights.Length != y.Length)
        {
            throw new ArgumentException("weights must have one value per row", nameof(weights));
        }

        if (offset is not null && offset.Length != y.Length)
        {
            throw new ArgumentException("offset must have one value per row", nameof(offset));
        }

        if (!x.All(double.IsFinite) || !y.All(double.IsFinite) || (offset is not null && !offset.All(double.IsFinite)))
        {
            throw new ArgumentException("features, responses and offsets must be finite");
        }

        if (weights is not null && !weights.All(w => w >= 0 && double.IsFinite(w)))
        {
            throw new ArgumentException("weights must be finite and non-negative", nameof(weights));
        }

        Features = features;
        X = x;
        Y = y;
        Weights = weights;
        Offset = offset;
    }

    public int Features { get; }

    public int Rows => Y.Length;

    /// <summary>The design rows, row-major (no intercept column); for reading, e.g. to pool rows in a reference fit.</summary>
    public IReadOnlyList<double> Design => X;

    public IReadOnlyList<double> Responses => Y;

    public IReadOnlyList<double>? Offsets => Offset;

    internal double[] X { get; }

    internal double[] Y { get; }

    internal double[]? Weights { get; }

    internal double[]? Offset { get; }

    internal ReadOnlySpan<double> Row(int i) => X.AsSpan(i * Features, Features);

    internal double Weight(int i) => Weights?[i] ?? 1;

    internal double OffsetAt(int i) => Offset?[i] ?? 0;
}
