using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Census;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// A federated GLM study as its parameters in study.yaml declare it, read the same way by the coordinator
/// and by every node so that both derive the same <see cref="GlmSpec"/> (and so the same fixed-point
/// layouts). Rows are patient-years with an observed outcome; a row with an empty value in any named
/// column is left out (complete cases, as R's default na.action = na.omit). With parameters.holdout, each
/// node keeps that share of its patients out of the fit and evaluates the fitted model on them
/// (<see cref="GlmEvaluation"/>), one more round after convergence.
/// </summary>
public sealed record GlmStudy(GlmSpec Spec, string Outcome, IReadOnlyList<string> Features, string? Offset, double Holdout = 0)
{
    /// <summary>
    /// For an onset outcome (onset_&lt;c&gt;_next_year), the condition c: the node's rows are then only the patient-years
    /// with c = 0, the population at risk, because the feature schema records 0 (not an empty value) for a patient who
    /// already has c, and the twin applies an onset model only to people without the condition (OutcomePasses.OnsetPass).
    /// Fitting on every row would add prevalent cases as non-events and bias the incidence down. Null for other outcomes.
    /// </summary>
    public string? AtRisk => PatientYearSchema.OnsetCondition(Outcome);

    public const string AlgorithmName = "federated-glm";

    /// <summary>
    /// parameters.max_year: only patient-years of this year or before are rows (their outcome is of the year after, so a model
    /// with max_year = C − 1 has seen nothing after year C). A back-test trains on the years up to a cut-off and compares the
    /// twin run forward from it with what was observed after (`ftwin twin validate`). Null: every year.
    /// </summary>
    public int? MaxYear { get; init; }

    /// <summary>
    /// parameters.min_year: only patient-years of this year or after are rows (the twin learns from recent years). With
    /// max_year it bounds the rows a patient can have (one per year), so K defaults to, and is capped at, the window's length.
    /// Null: every year.
    /// </summary>
    public int? MinYear { get; init; }

    /// <summary>Whether a patient-year of <paramref name="year"/> is a row of this study (<see cref="MinYear"/>, <see cref="MaxYear"/>).</summary>
    public bool IncludesYear(double? year) =>
        (MaxYear is not { } max || (year is { } y && y <= max)) && (MinYear is not { } min || (year is { } z && z >= min));

    /// <summary>Reads the study's parameters; errors name the parameter (parameters.family, …). h is the study's (or its default).</summary>
    public static GlmStudy Parse(StudySpec study, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(study);
        var p = study.Parameters ?? new Dictionary<string, string>();
        return Parse(p, maxParties, Privacy.StudyPrivacy.Rho(p) > 0 ? Privacy.StudyPrivacy.MinHonestNodes(study) : null);
    }

    /// <summary>
    /// What every round of the study carries besides its parameters: the purpose, min_nodes and, under DP, h (the noise shares
    /// are sized by it, <see cref="Privacy.StudyPrivacy"/>); the coordinator writes them and each node requires them.
    /// </summary>
    public static RoundBasis Basis(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return RoundBasis.WithMinNodesAndHonestNodes(study);
    }

    /// <summary>Rows a patient contributes at most under DP, unless the study declares parameters.dp_max_rows_per_patient.</summary>
    public const int DefaultMaxRowsPerPatient = 5;

    /// <summary>Newton rounds under DP unless parameters.max_iterations says otherwise: each one spends its share of ρ.</summary>
    public const int DefaultPrivateIterations = 6;

    /// <summary>
    /// Ranges the feature schema documents (docs/features.md): 0/1 indicators, age capped at 90 (Safe Harbor), the
    /// number of the 11 conditions, the schema's years. Count and money columns have no natural bound and must be
    /// declared in parameters.feature_bounds for a DP study.
    /// </summary>
    public static IReadOnlyDictionary<string, FeatureBound> DocumentedBounds { get; } = new Dictionary<string, FeatureBound>(
        new Dictionary<string, FeatureBound>
        {
            ["age"] = new(0, 90),
            ["year"] = new(2000, 2035),
            ["condition_count"] = new(0, PatientYearSchema.Conditions.Count),
            ["sex_male"] = new(0, 1),
            ["medicare_eligible"] = new(0, 1),
            ["cost_from_claims"] = new(0, 1),
            ["death_next_year"] = new(0, 1),
            ["admission_next_year"] = new(0, 1),
        }
        .Concat(PatientYearSchema.Conditions.Select(c => KeyValuePair.Create(c, new FeatureBound(0, 1))))
        .Concat(PatientYearSchema.Conditions.Select(c => KeyValuePair.Create($"onset_{c}_next_year", new FeatureBound(0, 1)))),
        StringComparer.Ordinal);

    /// <summary>
    /// The same, from a round's parameters (the study's, as the node receives them, with the coordinator's derived ones): h from
    /// <paramref name="minHonestNodes"/> or, when null, from the round's dp_min_honest_nodes (a DP round must carry it).
    /// </summary>
    public static GlmStudy Parse(IReadOnlyDictionary<string, string> p, int maxParties, int? minHonestNodes = null)
    {
        var family = Required(p, "family") switch
        {
            "binomial" => GlmFamily.Binomial,
            "poisson" => GlmFamily.Poisson,
            "gaussian" => GlmFamily.Gaussian,
            var other => throw new StudyFileException("parameters.family", $"'{other}' is not one of binomial, poisson, gaussian"),
        };
        var outcome = Column(Required(p, "outcome"), "parameters.outcome");
        var features = Required(p, "features").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(f => Column(f, "parameters.features")).SelectMany(Expand).ToList();
        if (features.Count == 0 || features.Distinct(StringComparer.Ordinal).Count() != features.Count)
        {
            throw new StudyFileException("parameters.features", "a comma-separated list of distinct feature columns is required");
        }

        var offset = p.GetValueOrDefault("offset") is { Length: > 0 } o ? Column(o, "parameters.offset") : null;
        if (offset is not null && family == GlmFamily.Binomial)
        {
            throw new StudyFileException("parameters.offset", "a binomial model with an offset is not supported (its null model has no closed form)");
        }

        if (features.Contains(outcome, StringComparer.Ordinal) || (offset is not null && (features.Contains(offset, StringComparer.Ordinal) || offset == outcome)))
        {
            throw new StudyFileException("parameters.features", "the outcome and the offset cannot also be features");
        }

        if (PatientYearSchema.OnsetCondition(outcome) is { } atRisk && features.Contains(atRisk, StringComparer.Ordinal))
        {
            // Rows are the patient-years at risk (AtRisk), where this column is 0 throughout: no coefficient is defined.
            throw new StudyFileException("parameters.features", $"'{atRisk}' cannot be a feature of {outcome}: only patient-years without {atRisk} are at risk of its onset, so it is 0 in every row");
        }

        // A bound of 0 would make every scaled value 0/0 (GlmBounds refuses it): refused here with the field's name (found by the
        // study-yaml fuzz target: max_abs_response: "+0" escaped as an ArgumentOutOfRangeException).
        var bounds = new GlmBounds(Long(p, "max_rows_per_node", 10_000_000), PositiveNumber(p, "max_abs_feature", 10_000_000))
        {
            MaxAbsResponse = family == GlmFamily.Binomial ? 1 : PositiveNumber(p, "max_abs_response", null),
            MaxAbsOffset = offset is null ? 0 : Number(p, "max_abs_offset", null),
            MaxAbsMean = p.ContainsKey("max_abs_mean") ? PositiveNumber(p, "max_abs_mean", null) : null,
        };
        var (minYear, maxYear) = (YearOf(p, "min_year"), YearOf(p, "max_year"));
        int? window = minYear is { } first && maxYear is { } last ? last - first + 1 : null;
        if (window is < 1)
        {
            throw new StudyFileException("parameters.min_year", "must not be after max_year");
        }

        try
        {
            var rho = Privacy.StudyPrivacy.Rho(p);
            var iterations = (int)Long(p, "max_iterations", rho > 0 ? DefaultPrivateIterations : 25);
            var holdout = Number(p, "holdout", 0);
            if (holdout >= 0.5)
            {
                throw new StudyFileException("parameters.holdout", "the held-out share of patients must be below 0.5");
            }

            var spec = new GlmSpec(family, features, bounds, maxParties, hasOffset: offset is not null, ridge: Number(p, "ridge", 0), maxIterations: iterations)
            {
                StartFromNullModel = p.GetValueOrDefault("start") switch
                {
                    null or "r" => false,
                    "null_model" => true,
                    var other => throw new StudyFileException("parameters.start", $"'{other}' is not one of r (R's mustart from y), null_model"),
                },
                Privacy = rho > 0 ? PrivacyFor(p, features, rho, 1 + iterations + (holdout > 0 ? 1 : 0), minHonestNodes, window) : null,
            };
            return new GlmStudy(spec, outcome, features, offset, holdout) { MinYear = minYear, MaxYear = maxYear };
        }
        catch (ArgumentException e)
        {
            throw new StudyFileException("parameters", e.Message);
        }
    }

    /// <summary>
    /// The DP settings of a study with dp_rho: every feature's range (parameters.feature_bounds "col:low:high,…" over the
    /// schema's documented ranges; an indicator column[level] is 0/1), K = dp_max_rows_per_patient, and h, the minimum of
    /// honest nodes. A feature with no declared or documented range is refused: no default could be right for it. With
    /// min_year and max_year a patient has at most one row per year of the window, so K is the window's length unless declared
    /// smaller: the per-patient sensitivity is then exact rather than the default's guess (a K above the window only adds noise).
    /// </summary>
    private static GlmPrivacy PrivacyFor(IReadOnlyDictionary<string, string> p, IReadOnlyList<string> features, double rho, int rounds, int? minHonestNodes, int? window)
    {
        var declared = new Dictionary<string, FeatureBound>(StringComparer.Ordinal);
        foreach (var item in (p.GetValueOrDefault("feature_bounds") ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(':');
            if (parts.Length != 3
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var low)
                || !double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var high)
                || !(high > low) || !double.IsFinite(low) || !double.IsFinite(high))
            {
                throw new StudyFileException("parameters.feature_bounds", $"'{item}' is not column:low:high with finite low < high");
            }

            declared[parts[0]] = new FeatureBound(low, high);
        }

        var bounds = features.Select(f =>
            declared.TryGetValue(f, out var b) ? b
            : Indicator(f) is not null ? new FeatureBound(0, 1)
            : DocumentedBounds.TryGetValue(f, out var d) ? d
            : throw new StudyFileException("parameters.feature_bounds", $"feature '{f}' has no documented range: declare it (column:low:high) so that it can be clipped")).ToList();
        var nodes = minHonestNodes ?? Privacy.StudyPrivacy.RoundMinHonestNodes(p);
        var k = (int)Long(p, "dp_max_rows_per_patient", window ?? DefaultMaxRowsPerPatient);
        return new GlmPrivacy(rho, rounds, nodes, window is { } w ? Math.Min(k, w) : k, bounds);
    }

    /// <summary>
    /// What the study's planned releases really spend at each node, against its stated ρ: the moments round, max_iterations
    /// Newton rounds and, with a holdout, the evaluation round, each the sum of h … <paramref name="maxShares"/> honest discrete
    /// Gaussian shares per block (<see cref="GlmPrivacy.TrueSpentBy"/>), composed by addition. Null without DP. The layouts are
    /// the spec's (a node computes for no other: <see cref="GlmNode"/> checks every request's layout against them).
    /// </summary>
    public Privacy.PrivacyAccount? Account(int maxShares)
    {
        if (Spec.Privacy is not { } dp)
        {
            return null;
        }

        double Spent(IReadOnlyList<Crypto.Codec.FixedPointBlock> layout) => dp.TrueSpentBy(layout, b => dp.Clip(Spec, b), maxShares);
        int newton = dp.Rounds - 1 - (Holdout > 0 ? 1 : 0);
        var trueRho = Spent(GlmLayout.Moments(Spec)) + (newton * Spent(GlmLayout.Irls(Spec, 1, start: false))) + (Holdout > 0 ? Spent(GlmEvaluation.Layout(this)) : 0);
        return new Privacy.PrivacyAccount(dp.Rho, trueRho, dp.MinHonestNodes, maxShares);
    }

    /// <summary>
    /// Whether a patient is held out: the first 32 bits of the node's keyed pseudonym (an HMAC, so uniform and
    /// unlinkable) against the share, so all of a patient's years fall on one side and a re-run splits the same way.
    /// </summary>
    public bool IsHeldOut(string pseudonym) =>
        Holdout > 0 && uint.Parse(pseudonym.AsSpan(0, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture) < Holdout * 4294967296.0;

    /// <summary>Categorical feature columns and their levels, the first being the reference level.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Categorical { get; } = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal)
    {
        ["age_band"] = LocalVectors.AgeBands,
    };

    /// <summary>
    /// A categorical column becomes one 0/1 indicator per level except the reference (the first), named
    /// column[level] — as R's treatment contrasts do — so coefficients read "age_band[65-74]".
    /// </summary>
    private static IEnumerable<string> Expand(string column) =>
        Categorical.TryGetValue(column, out var levels) ? levels.Skip(1).Select(l => $"{column}[{l}]") : [column];

    /// <summary>An indicator's column and level, or null for a numeric feature.</summary>
    public static (string Column, string Level)? Indicator(string feature)
    {
        var open = feature.IndexOf('[', StringComparison.Ordinal);
        return open > 0 && feature.EndsWith(']') ? (feature[..open], feature[(open + 1)..^1]) : null;
    }

    private static int? YearOf(IReadOnlyDictionary<string, string> p, string name) =>
        p.GetValueOrDefault(name) is not { } v ? null
        : int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var y) && y is >= 1900 and <= 2100 ? y
        : throw new StudyFileException("parameters." + name, "must be a year (1900-2100)");

    private static string Required(IReadOnlyDictionary<string, string> p, string name) =>
        p.GetValueOrDefault(name) is { Length: > 0 } v ? v.Trim() : throw new StudyFileException("parameters." + name, "required for " + AlgorithmName);

    /// <summary>Column names are plain identifiers; which columns exist is the node's feature schema's business.</summary>
    private static string Column(string name, string field) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_')
            ? name
            : throw new StudyFileException(field, $"'{name}' is not a feature column name (lower-case letters, digits and _)");

    private static long Long(IReadOnlyDictionary<string, string> p, string name, long fallback) =>
        p.GetValueOrDefault(name) is not { } v ? fallback
        : long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
        : throw new StudyFileException("parameters." + name, "must be a positive whole number");

    private static double PositiveNumber(IReadOnlyDictionary<string, string> p, string name, double? fallback) =>
        Number(p, name, fallback) is var x && x > 0 ? x : throw new StudyFileException("parameters." + name, "must be a positive number");

    private static double Number(IReadOnlyDictionary<string, string> p, string name, double? fallback) =>
        p.GetValueOrDefault(name) is not { } v
            ? fallback ?? throw new StudyFileException("parameters." + name, "required for this family")
            : double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x) && x >= 0 ? x
            : throw new StudyFileException("parameters." + name, "must be a non-negative number");
}
