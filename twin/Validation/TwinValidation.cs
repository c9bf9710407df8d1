using System.Text.Json;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;
using MathNet.Numerics.Distributions;

namespace FederatedTwin.Twin.Validation;

/// <summary>
/// One outcome-year of a back-test: the twin's prediction (mean over replicates) with its 95% interval for the value the
/// federation would publish, the value it published, that value's DP noise SD, and whether the interval contains it.
/// </summary>
public sealed record ValidationRow(string Outcome, int Year, double Predicted, double Lower, double Upper, double Observed, double ObservedNoiseSd)
{
    public bool Contains => Observed >= Lower && Observed <= Upper;
}

/// <summary>
/// A back-test's result (`ftwin twin validate`, `ftwin demo`): the twin trained on the years up to <see cref="CutoffYear"/> and
/// run forward from the composition at it, against what the federation observed in the years after. Suppressed observations
/// are not rows; <see cref="Suppressed"/> names them.
/// </summary>
public sealed record TwinValidation(int CutoffYear, int Population, int Replicates, IReadOnlyList<ValidationRow> Rows, IReadOnlyList<string> Suppressed, string UncertaintySources)
{
    /// <summary>How many rows have the observed value inside [lower, upper].</summary>
    public int Inside => Rows.Count(r => r.Contains);

    /// <summary>The median over rows of (upper − lower) / predicted: at most 1 means the intervals say something.</summary>
    public double MedianWidthRatio
    {
        get
        {
            var ratios = Rows.Select(r => r.Predicted == 0 ? double.PositiveInfinity : (r.Upper - r.Lower) / Math.Abs(r.Predicted)).Order().ToList();
            return ratios.Count == 0 ? double.NaN : ratios.Count % 2 == 1 ? ratios[ratios.Count / 2] : (ratios[(ratios.Count / 2) - 1] + ratios[ratios.Count / 2]) / 2;
        }
    }

    /// <summary>
    /// The file `ftwin demo --out DIR` writes as DIR/results/twin-validation.json: <c>{"cutoff_year", "rows": [{"outcome", "year",
    /// "predicted", "lower", "upper", "observed"}]}</c>, numbers only (a suppressed observation is no row), plus each row's
    /// observed noise SD (a number: whether a row is inside is left to the reader, so every row value but the outcome name is a
    /// number) and the summary, which readers of the required fields may ignore.
    /// </summary>
    public string ToJson(bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteNumber("cutoff_year", CutoffYear);
            w.WriteNumber("population", Population);
            w.WriteNumber("replicates", Replicates);
            w.WriteString("uncertainty", UncertaintySources);
            w.WriteNumber("inside", Inside);
            if (double.IsFinite(MedianWidthRatio))
            {
                w.WriteNumber("median_width_ratio", MedianWidthRatio);
            }

            w.WriteStartArray("rows");
            foreach (var r in Rows)
            {
                w.WriteStartObject();
                w.WriteString("outcome", r.Outcome);
                w.WriteNumber("year", r.Year);
                w.WriteNumber("predicted", Finite(r.Predicted));
                w.WriteNumber("lower", Finite(r.Lower));
                w.WriteNumber("upper", Finite(r.Upper));
                w.WriteNumber("observed", Finite(r.Observed));
                w.WriteNumber("observed_noise_sd", Finite(r.ObservedNoiseSd));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("suppressed");
            foreach (var s in Suppressed)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads a file <see cref="ToJson"/> wrote (the dashboard's copy); <see cref="FormatException"/> if it is not one.</summary>
    public static TwinValidation FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var rows = root.GetProperty("rows").EnumerateArray().Select(r => new ValidationRow(
                r.GetProperty("outcome").GetString() ?? throw new FormatException("a twin validation: a row has no outcome"),
                r.GetProperty("year").GetInt32(), r.GetProperty("predicted").GetDouble(), r.GetProperty("lower").GetDouble(), r.GetProperty("upper").GetDouble(),
                r.GetProperty("observed").GetDouble(), r.TryGetProperty("observed_noise_sd", out var sd) ? sd.GetDouble() : 0)).ToList();
            var suppressed = root.TryGetProperty("suppressed", out var s) ? s.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToList() : [];
            return new TwinValidation(root.GetProperty("cutoff_year").GetInt32(), root.TryGetProperty("population", out var p) ? p.GetInt32() : 0,
                root.TryGetProperty("replicates", out var k) ? k.GetInt32() : 0, rows, suppressed,
                root.TryGetProperty("uncertainty", out var u) ? u.GetString() ?? string.Empty : string.Empty);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"a twin validation: {e.Message}", e);
        }
    }

    private static double Finite(double x) => double.IsFinite(x) ? x : throw new InvalidOperationException("a twin validation number is not finite");
}

/// <summary>
/// The comparison of a back-test: the outcomes compared, how each is read from the twin's yearly totals and from the federation's
/// published totals, and the interval. Kept apart from the run so that it can be tested on its own.
/// </summary>
public static class ValidationComparison
{
    /// <summary>One outcome: its name, its value in a replicate's year, and its observed value and noise SD from the published totals.</summary>
    public sealed record Outcome(string Name, Func<YearTotals, double> Twin, string Numerator, double Multiplier);

    /// <summary>
    /// The compared outcomes. Rates are over the patient-years alive at the start of the year (the twin's person-years count
    /// the same, one per person alive at the start): people admitted (the admission_next_year outcome: any admission), ED
    /// visits, deaths and new onsets per 1,000, and cost per member per month.
    /// </summary>
    public static IReadOnlyList<Outcome> Outcomes { get; } =
    [
        new("people_admitted_per_1000", y => y.Per1000(Metric.Admitted), "admitted", 1000),
        new("ed_visits_per_1000", y => y.Per1000(Metric.EdVisits), "ed_visits", 1000),
        new("deaths_per_1000", y => y.Per1000(Metric.Deaths), "deaths", 1000),
        new("new_onsets_per_1000", y => y.Per1000(Metric.NewOnsets), "new_onsets", 1000),
        new("pmpm", y => y.Pmpm, "cost", 1.0 / 12),
    ];

    /// <summary>
    /// The observed rate of an outcome in a year and its noise SD, or null when the numerator or the denominator is suppressed.
    /// The rate is M·T/N of two noisy sums; its SD by the delta method, M·√(σ_T² + (T/N)²σ_N²)/N (the noises are independent).
    /// </summary>
    public static (double Value, double NoiseSd)? Observed(OutcomeTotalsStudyResult observed, Outcome outcome, int year)
    {
        ArgumentNullException.ThrowIfNull(observed);
        ArgumentNullException.ThrowIfNull(outcome);
        if (observed.Get("patient_years", year) is not { Value: { } n } denominator || observed.Get(outcome.Numerator, year) is not { Value: { } t } numerator || n <= 0)
        {
            return null;
        }

        var ratio = t / n;
        var sd = outcome.Multiplier * Math.Sqrt((numerator.NoiseSd * numerator.NoiseSd) + (ratio * ratio * denominator.NoiseSd * denominator.NoiseSd)) / n;
        return (outcome.Multiplier * ratio, sd);
    }

    /// <summary>
    /// The 95% interval of what the federation would publish: the predictive distribution of the outcome (one value per replicate)
    /// plus the publication's own DP noise, N(0, σ²). Its 2.5% and 97.5% quantiles are those of the mixture
    /// (1/R)·Σ_r N(p_r, σ²), found by bisection on its CDF; with σ = 0 they are the replicates' own quantiles.
    /// </summary>
    public static (double Lower, double Upper) Interval(IReadOnlyList<double> replicates, double noiseSd)
    {
        ArgumentNullException.ThrowIfNull(replicates);
        if (replicates.Count == 0)
        {
            throw new ArgumentException("no replicates", nameof(replicates));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(noiseSd);
        if (noiseSd == 0)
        {
            var own = FederatedTwin.Twin.Scenarios.Estimate.Of(replicates); // the replicates' own type-7 2.5% and 97.5% quantiles
            return (own.Low, own.High);
        }

        double Cdf(double x) => replicates.Average(p => Normal.CDF(p, noiseSd, x));
        double Solve(double q)
        {
            double lo = replicates.Min() - (10 * noiseSd), hi = replicates.Max() + (10 * noiseSd);
            for (var i = 0; i < 100; i++)
            {
                var mid = (lo + hi) / 2;
                (lo, hi) = Cdf(mid) < q ? (mid, hi) : (lo, mid);
            }

            return (lo + hi) / 2;
        }

        return (Solve(0.025), Solve(0.975));
    }

    /// <summary>
    /// Compares the twin's yearly totals (per replicate, <paramref name="perReplicate"/>[r][t] for year firstYear + t) with the
    /// published totals: one row per outcome and year the federation published, the others named in the result's suppressed list.
    /// </summary>
    public static TwinValidation Compare(int cutoffYear, int population, IReadOnlyList<YearTotals[]> perReplicate, OutcomeTotalsStudyResult observed, string uncertaintySources)
    {
        ArgumentNullException.ThrowIfNull(perReplicate);
        ArgumentNullException.ThrowIfNull(observed);
        var rows = new List<ValidationRow>();
        var suppressed = new List<string>();
        var horizon = perReplicate.Count == 0 ? 0 : perReplicate.Min(r => r.Length);
        for (var t = 0; t < horizon; t++)
        {
            var year = cutoffYear + 1 + t;
            if (year < observed.FromYear || year > observed.ToYear)
            {
                continue;
            }

            foreach (var outcome in Outcomes)
            {
                if (Observed(observed, outcome, year) is not { } seen)
                {
                    suppressed.Add($"{outcome.Name} {year}");
                    continue;
                }

                var values = perReplicate.Select(r => outcome.Twin(r[t])).ToArray();
                var (lower, upper) = Interval(values, seen.NoiseSd);
                rows.Add(new ValidationRow(outcome.Name, year, values.Average(), lower, upper, seen.Value, seen.NoiseSd));
            }
        }

        return new TwinValidation(cutoffYear, population, perReplicate.Count, rows, suppressed, uncertaintySources);
    }
}
