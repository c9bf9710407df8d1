namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// One node's rows on the original scale: features row-major without an intercept column, the response,
/// optional prior weights (default 1; binomial: number of trials, with y the proportion of successes, as R)
/// and an optional offset on the link scale (e.g. log exposure). Arrays are used as given, not copied.
/// Rows of weight zero take no part in anything, as in R's glm.fit.
/// </summary>
public sealed class GlmData
{
    public GlmData(int features, double[] x, double[] y, double[]? weights = null, double[]? offset = null, int[]? patients = null)
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

        if (patients is not null && patients.Length != y.Length)
        {
            throw new ArgumentException("patients must have one value per row", nameof(patients));
        }

        Features = features;
        Patients = patients;
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

    /// <summary>
    /// Which patient each row belongs to (any integer identifying the patient within this node), or null. Differential
    /// privacy needs it: the unit of privacy is the patient with all their patient-years, not the row.
    /// </summary>
    public IReadOnlyList<int>? Patients { get; }

    /// <summary>
    /// Row indices of positive weight grouped by patient, at most <paramref name="maxRowsPerPatient"/> per patient: the
    /// first ones in row order, a choice that depends on that patient's rows alone (so one patient's presence changes
    /// nothing about another's rows).
    /// </summary>
    public IReadOnlyList<List<int>> RowsByPatient(int maxRowsPerPatient)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRowsPerPatient);
        if (Patients is null)
        {
            throw new InvalidOperationException("Differential privacy needs each row's patient: per-patient clipping cannot be done on anonymous rows.");
        }

        var groups = new Dictionary<int, List<int>>();
        var order = new List<List<int>>();
        for (int i = 0; i < Rows; i++)
        {
            if (Weight(i) == 0)
            {
                continue;
            }

            if (!groups.TryGetValue(Patients[i], out var rows))
            {
                rows = [];
                groups.Add(Patients[i], rows);
                order.Add(rows);
            }

            if (rows.Count < maxRowsPerPatient)
            {
                rows.Add(i);
            }
        }

        return order;
    }

    internal ReadOnlySpan<double> Row(int i) => X.AsSpan(i * Features, Features);

    internal double Weight(int i) => Weights?[i] ?? 1;

    internal double OffsetAt(int i) => Offset?[i] ?? 0;
}
