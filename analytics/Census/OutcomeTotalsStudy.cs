using System.Globalization;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Census;

/// <summary>
/// What the federation observed, year by year (<c>federated-outcomes</c>): for each outcome year Y from parameters.from_year to
/// to_year, over the patient-years of Y − 1 whose next year is observed, the number of such patient-years and the sums of the
/// twin's yearly outcomes in Y (people admitted, ED visits, deaths, new onsets, cost). It is what the twin, run forward from an
/// earlier year, is compared with (`ftwin twin validate`). Always under DP: each node clips every patient's values to the
/// study's bounds, encodes them, adds its discrete Gaussian share per measure and encrypts; the coordinator publishes the
/// decrypted noisy sums with small counts suppressed. Read the same way by the coordinator and by every node.
/// </summary>
/// <param name="FromYear">The first outcome year.</param>
/// <param name="ToYear">The last outcome year.</param>
/// <param name="Bounds">Each measure's per-patient-year bound (its sensitivity), in <see cref="Measures"/> order.</param>
public sealed record OutcomeTotalsStudy(int FromYear, int ToYear, double Rho, int MinimumCellSize, int MinHonestNodes, IReadOnlyList<double> Bounds)
{
    public const string AlgorithmName = "federated-outcomes";

    /// <summary>At most this many outcome years in one study (each year is one more value per measure a patient touches).</summary>
    public const int MaxYears = 5;

    /// <summary>
    /// The measures, in vector order. patient_years counts the rows of Y − 1 with an observed next year (the denominator);
    /// admitted is admission_next_year (0/1), ed_visits ed_visits_next_year, deaths death_next_year, new_onsets the sum of the
    /// onset_&lt;c&gt;_next_year columns, cost cost_next_year (whole dollars).
    /// </summary>
    public static IReadOnlyList<string> Measures { get; } = ["patient_years", "admitted", "ed_visits", "deaths", "new_onsets", "cost"];

    /// <summary>Which measures are counts of patient-years, held to the minimum cell size when published (ED visits, onsets and cost are not).</summary>
    public static bool IsPatientCount(string measure) => measure is "patient_years" or "admitted" or "deaths";

    /// <summary>Default bounds: ED visits at 20 a year, new onsets at 3 a year, cost at $100,000 (the demo GLMs' cost clip).</summary>
    private static readonly IReadOnlyDictionary<string, (string Parameter, double Default)> Clips = new Dictionary<string, (string, double)>(StringComparer.Ordinal)
    {
        ["ed_visits"] = ("max_ed_visits", 20),
        ["new_onsets"] = ("max_onsets", 3),
        ["cost"] = ("max_cost", 100_000),
    };

    public int Years => ToYear - FromYear + 1;

    public static int VectorLength(OutcomeTotalsStudy study) => Measures.Count * (study ?? throw new ArgumentNullException(nameof(study))).Years;

    /// <summary>The study as its offer declares it: h is the study's (or its default, min_nodes − 1).</summary>
    public static OutcomeTotalsStudy Parse(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return Parse(study.Parameters ?? new Dictionary<string, string>(), StudyPrivacy.MinHonestNodes(study));
    }

    /// <summary>What every round carries besides the study's parameters: the purpose, min_nodes and h (the noise shares and scales are sized by it).</summary>
    public static RoundBasis Basis(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return RoundBasis.WithMinNodesAndHonestNodes(study);
    }

    /// <summary>The study as a round carries it: h from <paramref name="minHonestNodes"/> or, when null, from the round's dp_min_honest_nodes.</summary>
    public static OutcomeTotalsStudy Parse(IReadOnlyDictionary<string, string> p, int? minHonestNodes)
    {
        ArgumentNullException.ThrowIfNull(p);
        var from = Year(p, "from_year");
        var to = Year(p, "to_year");
        if (to < from || to - from + 1 > MaxYears)
        {
            throw new StudyFileException("parameters.to_year", $"must be from from_year to from_year + {MaxYears - 1}");
        }

        var rho = StudyPrivacy.Rho(p);
        if (rho <= 0)
        {
            // Totals of outcomes of identifiable years have no minimum-cell-size protection of their own (a cost sum is not a count):
            // the study is defined only with noise.
            throw new StudyFileException("parameters." + StudyPrivacy.RhoParameter, $"{AlgorithmName} releases only noisy totals: dp_rho is required");
        }

        var bounds = Measures.Select(m => Clips.TryGetValue(m, out var clip) ? Bound(p, clip.Parameter, clip.Default) : 1).ToList();
        return new OutcomeTotalsStudy(from, to, rho, CountTableRelease.StudyMinimumCellSize(p), minHonestNodes ?? StudyPrivacy.RoundMinHonestNodes(p), bounds);
    }

    /// <summary>
    /// The target variance of measure <paramref name="m"/>'s sums, in its own units: a patient has one row per year, so it moves
    /// each of the measure's <see cref="Years"/> values by at most its bound B (‖Δ‖₂ = B√Y); each of the measures spends ρ/M of
    /// the study's ρ, σ² = B²·Y/(2ρ/M) (Bun &amp; Steinke 2016, Prop. 1.6; zCDP composes by addition, Lemma 2.3).
    /// </summary>
    public double TargetVariance(int m) => Bounds[m] * Bounds[m] * Years * Measures.Count / (2 * Rho);

    /// <summary>The noise's standard deviation on each of measure <paramref name="m"/>'s published sums (h honest shares).</summary>
    public double NoiseSd(int m) => Math.Sqrt(TargetVariance(m));

    /// <summary>Each node's share of the variance of measure <paramref name="m"/> (<see cref="NoiseShare"/>).</summary>
    public double PerNodeVariance(int m) => NoiseShare.PerNodeVariance(TargetVariance(m), MinHonestNodes);

    /// <summary>
    /// Measure <paramref name="m"/>'s fixed-point scale: the smallest power of two that lifts one share's integer σ to
    /// <see cref="DistributedDiscreteGaussian.NegligibleShareSigma"/> (its values are whole numbers, so still exact).
    /// </summary>
    public double Scale(int m) => DistributedDiscreteGaussian.IntegerScale(Math.Sqrt(PerNodeVariance(m)));

    /// <summary>One block per measure (its values for each outcome year, in order), at the measure's scale.</summary>
    public IReadOnlyList<FixedPointBlock> Layout => [.. Measures.Select((name, m) => new FixedPointBlock(name, Years, Scale(m)))];

    /// <summary>The per-node variances by block, for <see cref="DiscreteGaussian.AddNoise(long[], FixedPointCodec, IReadOnlyList{double}, IRandomBitSource)"/>.</summary>
    public IReadOnlyList<double> PerNodeVariances => [.. Measures.Select((_, m) => PerNodeVariance(m))];

    /// <summary>
    /// What a release really spends, against the stated ρ: per measure, the Y sums of h … N honest shares of integer variance
    /// σ_m²·s_m²/h with ‖Δ‖₂ = B_m·s_m·√Y and ‖Δ‖₁ = B_m·s_m·Y (<see cref="DistributedDiscreteGaussian.WorstRho"/>), added over the measures.
    /// </summary>
    public PrivacyAccount Account(int maxShares)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxShares, MinHonestNodes);
        var trueRho = Measures.Select((_, m) => DistributedDiscreteGaussian.WorstRho(MinHonestNodes, maxShares, PerNodeVariance(m) * Scale(m) * Scale(m), Years,
            Bounds[m] * Scale(m) * Math.Sqrt(Years), Bounds[m] * Scale(m) * Years)).Sum();
        return new PrivacyAccount(Rho, trueRho, MinHonestNodes, maxShares);
    }

    /// <summary>
    /// One patient-year's contribution (the row of year Y − 1): the measures in order, each clipped to its bound (cost rounded to
    /// whole dollars first, so every value is a whole number and the per-patient sums stay exact). Null when the row's next
    /// year is not observed or any outcome is missing: it does not count in the denominator either.
    /// </summary>
    public double[]? Contribution(IReadOnlyDictionary<string, double?> row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.GetValueOrDefault("outcome_observed") != 1
            || row.GetValueOrDefault("admission_next_year") is not { } admitted
            || row.GetValueOrDefault("ed_visits_next_year") is not { } ed
            || row.GetValueOrDefault("death_next_year") is not { } death
            || row.GetValueOrDefault("cost_next_year") is not { } cost)
        {
            return null;
        }

        var onsets = PatientYearSchema.Conditions.Sum(c => row.GetValueOrDefault(PatientYearSchema.OnsetOutcome(c)) ?? 0);
        double[] values = [1, admitted, ed, death, onsets, Math.Round(cost)];
        for (var m = 0; m < values.Length; m++)
        {
            values[m] = Math.Clamp(values[m], 0, Bounds[m]);
        }

        return values;
    }

    /// <summary>The vector index of measure <paramref name="m"/> in outcome year <paramref name="year"/>.</summary>
    public int Index(int m, int year) => (m * Years) + (year - FromYear);

    private static int Year(IReadOnlyDictionary<string, string> p, string name) =>
        p.GetValueOrDefault(name) is { } y && int.TryParse(y, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 1900 and <= 2100
            ? n : throw new StudyFileException("parameters." + name, "required: an outcome year (1900-2100)");

    private static double Bound(IReadOnlyDictionary<string, string> p, string name, double fallback) =>
        p.GetValueOrDefault(name) is not { } v ? fallback
        : double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 1 && x <= 10_000_000 && Math.Floor(x) == x ? x
        : throw new StudyFileException("parameters." + name, "must be a whole number from 1 to 10,000,000");
}
