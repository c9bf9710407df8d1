using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Storage;

namespace FederatedTwin.Coordinator.Registry;

/// <summary>One version of a model lineage as lists show it: its registry id, number, study, registration time and training window.</summary>
public sealed record ModelVersion(string Id, string Lineage, int Version, string StudyId, string Kind, string Outcome, string CreatedAt,
    TrainingWindowDocument? TrainingWindow, bool Released, string? NotReleasedReason);

/// <summary>One coefficient in two versions: both values, their difference, and whether it exceeds the combined standard error.</summary>
/// <param name="CombinedStdError">sqrt(se₁² + se₂²), treating the two fits as independent (each is on its own pinned data); null without both SEs.</param>
/// <param name="ExceedsCombinedStdError">|Δ| &gt; combined SE; null when it cannot be said (a term in one version only, or no SEs).</param>
public sealed record CoefficientChange(string Term, double? From, double? To, double? FromStdError, double? ToStdError, double? Difference,
    double? CombinedStdError, bool? ExceedsCombinedStdError);

/// <summary>One evaluation measure (AUC, Brier, RMSE, ...) in two versions; null where a version's document has none.</summary>
public sealed record EvaluationChange(string Measure, double? From, double? To)
{
    public double? Difference => From is { } a && To is { } b ? b - a : null;
}

/// <summary>One risk decile's calibration (mean predicted, observed rate) in two versions.</summary>
public sealed record CalibrationChange(int Decile, long? FromCount, double? FromPredicted, double? FromObserved, long? ToCount, double? ToPredicted, double? ToObserved);

/// <summary>What changed between two versions of a GLM lineage (docs/models.md, "Versions"): the dashboard's diff page and `ftwin model diff`.</summary>
public sealed record ModelDiff(string Lineage, ModelVersion From, ModelVersion To, IReadOnlyList<CoefficientChange> Coefficients,
    IReadOnlyList<EvaluationChange> Evaluation, IReadOnlyList<CalibrationChange> Calibration);

/// <summary>The registry's model lineages: every version kept, readable and comparable.</summary>
public static class ModelVersions
{
    /// <summary>Every version of the lineage a model id (or a lineage id) belongs to, oldest first; empty when unknown.</summary>
    public static IReadOnlyList<ModelVersion> Of(CoordinatorStore store, string modelOrLineage)
    {
        ArgumentNullException.ThrowIfNull(store);
        return [.. store.Read(c => RegistryQueries.Versions(c, modelOrLineage)).Select(ToVersion)];
    }

    /// <summary>
    /// Compares versions <paramref name="from"/> and <paramref name="to"/> of a model's lineage. Throws <see cref="KeyNotFoundException"/>
    /// naming what is missing, <see cref="FormatException"/> when a version is not a GLM document.
    /// </summary>
    public static ModelDiff Diff(CoordinatorStore store, string modelOrLineage, int from, int to)
    {
        ArgumentNullException.ThrowIfNull(store);
        var rows = store.Read(c => RegistryQueries.Versions(c, modelOrLineage));
        if (rows.Count == 0)
        {
            throw new KeyNotFoundException($"No model or lineage '{modelOrLineage}' in the registry.");
        }

        var a = rows.FirstOrDefault(r => r.lineage_version == from) ?? throw new KeyNotFoundException($"Lineage {rows[0].lineage} has no version {from} (versions: {string.Join(", ", rows.Select(r => r.lineage_version))}).");
        var b = rows.FirstOrDefault(r => r.lineage_version == to) ?? throw new KeyNotFoundException($"Lineage {rows[0].lineage} has no version {to} (versions: {string.Join(", ", rows.Select(r => r.lineage_version))}).");
        if (a.kind != RegisteredModel.GlmKind || b.kind != RegisteredModel.GlmKind)
        {
            throw new FormatException($"Only GLM versions are compared; lineage {a.lineage} holds {a.kind} documents.");
        }

        var da = GlmModelDocument.FromJson(a.model_json);
        var db = GlmModelDocument.FromJson(b.model_json);
        return new ModelDiff(a.lineage, ToVersion(a), ToVersion(b), Coefficients(da, db), Evaluation(da.Evaluation, db.Evaluation), Calibration(da.Evaluation, db.Evaluation));
    }

    private static List<CoefficientChange> Coefficients(GlmModelDocument a, GlmModelDocument b)
    {
        var names = a.Terms.Select(t => t.Name).Concat(b.Terms.Select(t => t.Name)).Distinct(StringComparer.Ordinal);
        return [.. names.Select(name =>
        {
            var x = a.Terms.FirstOrDefault(t => t.Name == name);
            var y = b.Terms.FirstOrDefault(t => t.Name == name);
            double? diff = x is not null && y is not null ? y.Coefficient - x.Coefficient : null;
            double? se = x?.StdError is { } s1 && y?.StdError is { } s2 && double.IsFinite(s1) && double.IsFinite(s2) ? Math.Sqrt((s1 * s1) + (s2 * s2)) : null;
            return new CoefficientChange(name, x?.Coefficient, y?.Coefficient, x?.StdError, y?.StdError, diff, se, diff is { } d && se is { } e ? Math.Abs(d) > e : null);
        })];
    }

    private static List<EvaluationChange> Evaluation(GlmEvaluationSummary? a, GlmEvaluationSummary? b)
    {
        var list = new List<EvaluationChange>();
        if (a is BinomialEvaluation || b is BinomialEvaluation)
        {
            var x = a as BinomialEvaluation;
            var y = b as BinomialEvaluation;
            list.Add(new EvaluationChange("auc", x?.Auc, y?.Auc));
            list.Add(new EvaluationChange("brier", x?.Brier, y?.Brier));
        }

        if (a is ContinuousEvaluation || b is ContinuousEvaluation)
        {
            var x = a as ContinuousEvaluation;
            var y = b as ContinuousEvaluation;
            list.Add(new EvaluationChange("rmse", x?.Rmse, y?.Rmse));
            list.Add(new EvaluationChange("mae", x?.Mae, y?.Mae));
            list.Add(new EvaluationChange("r_squared", x?.RSquared, y?.RSquared));
        }

        if (a is not null || b is not null)
        {
            list.Add(new EvaluationChange("held_out_rows", a?.HeldOutRows, b?.HeldOutRows));
        }

        return list;
    }

    private static List<CalibrationChange> Calibration(GlmEvaluationSummary? a, GlmEvaluationSummary? b)
    {
        var x = (a as BinomialEvaluation)?.Calibration ?? [];
        var y = (b as BinomialEvaluation)?.Calibration ?? [];
        return [.. Enumerable.Range(0, Math.Max(x.Count, y.Count)).Select(i => new CalibrationChange(i + 1,
            i < x.Count ? x[i].Count : null, i < x.Count ? x[i].MeanPredicted : null, i < x.Count ? x[i].ObservedRate : null,
            i < y.Count ? y[i].Count : null, i < y.Count ? y[i].MeanPredicted : null, i < y.Count ? y[i].ObservedRate : null))];
    }

    private static ModelVersion ToVersion(ModelVersionRow r)
    {
        TrainingWindowDocument? window = null;
        bool released = true;
        string? reason = null;
        if (r.kind == RegisteredModel.GlmKind)
        {
            try
            {
                var doc = GlmModelDocument.FromJson(r.model_json);
                window = doc.TrainingWindow;
                released = doc.IsReleased;
                reason = doc.NotReleasedReason;
            }
            catch (FormatException e)
            {
                released = false;
                reason = e.Message;
            }
        }

        return new ModelVersion(r.model_id, r.lineage, (int)r.lineage_version, r.study_id, r.kind, r.outcome, r.created_at, window, released, reason);
    }
}
