using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// One coefficient of a registered model. <see cref="Name"/> is <see cref="Intercept"/> or a patient-year feature
/// column (docs/features.md); the coefficient is on the ORIGINAL scale of that column (years, dollars, counts, 0/1).
/// Standard error and the 95% Wald interval are null only for models that were not fitted (<see cref="RegisteredModel.Rows"/> = 0).
/// </summary>
public sealed record ModelTerm(string Name, double Coefficient, double? StdError = null, double? CiLow = null, double? CiHigh = null)
{
    /// <summary>R's name for the intercept, as GlmResult.Names reports it.</summary>
    public const string Intercept = "(Intercept)";
}

/// <summary>
/// Whether the aggregates behind a model were differentially private (zCDP), the ρ the study was given and, for a DP
/// fit, its planned and run rounds and the ρ they spent (null when not known, e.g. a hand-written document).
/// </summary>
public sealed record ModelPrivacy(bool Dp, double? Rho, int? RoundsPlanned = null, int? RoundsRun = null, double? RhoSpent = null);

/// <summary>
/// A trained model as the coordinator's model registry stores it: one JSON document per model (snake_case, format in
/// docs/scenarios.md). Validation errors name the offending field (<see cref="RegisteredModelException.Field"/>).
/// </summary>
/// <param name="Id">Registry id, e.g. glm/admission_next_year/aco-2026-readmit: '/'-separated segments of lowercase letters, digits, '_', '-', '.', '@', none starting with '.'.</param>
/// <param name="Kind">Model kind; only "glm" exists.</param>
/// <param name="Family">GLM family with its canonical link (logit, log, identity).</param>
/// <param name="Outcome">The response column, e.g. admission_next_year.</param>
/// <param name="Offset">Column used as offset (added to η with coefficient 1), or null.</param>
/// <param name="Terms">"(Intercept)" first, then one term per feature column.</param>
/// <param name="Dispersion">Estimated dispersion (Gaussian: Pearson χ²/(n − p)), 1 for binomial and Poisson; null if not fitted.</param>
/// <param name="Deviance">Residual deviance; null if not fitted.</param>
/// <param name="NullDeviance">Null deviance; null if not fitted.</param>
/// <param name="Aic">AIC as R computes it; null if not fitted.</param>
/// <param name="Rows">Rows of positive weight the fit used; 0 marks an illustrative model that was never fitted (the demo set).</param>
/// <param name="Nodes">Nodes that contributed.</param>
/// <param name="Rounds">Secure-aggregation rounds the fit used.</param>
/// <param name="StudyId">The study that trained it.</param>
/// <param name="PurposeOfUse">The study's HL7 v3 PurposeOfUse code.</param>
/// <param name="CreatedAt">When it was registered.</param>
/// <param name="Privacy">Differential-privacy status of the aggregates.</param>
public sealed partial record RegisteredModel(
    string Id,
    string Kind,
    GlmFamily Family,
    string Outcome,
    string? Offset,
    IReadOnlyList<ModelTerm> Terms,
    double? Dispersion,
    double? Deviance,
    double? NullDeviance,
    double? Aic,
    long Rows,
    int Nodes,
    int Rounds,
    string StudyId,
    string PurposeOfUse,
    DateTimeOffset CreatedAt,
    ModelPrivacy Privacy)
{
    /// <summary>The only <see cref="Kind"/> so far.</summary>
    public const string GlmKind = "glm";

    /// <summary><see cref="Release"/> of a fit that met the exact convergence rule.</summary>
    public const string ReleaseConverged = "converged";

    /// <summary>
    /// <see cref="Release"/> of a DP fit released after its planned (budgeted) rounds: the final noisy-Newton iterate
    /// with its DP standard errors, not a converged MLE (<see cref="GlmPrivateRelease"/>).
    /// </summary>
    public const string ReleaseDpPlannedRounds = "dp_planned_rounds";

    /// <summary>
    /// Why the model was released: <see cref="ReleaseConverged"/> or <see cref="ReleaseDpPlannedRounds"/>; null for an
    /// unfitted model (rows = 0) and for documents written before this field existed.
    /// </summary>
    public string? Release { get; init; }

    /// <summary>
    /// The coefficients' estimated covariance matrix Σ̂ (one row per term, in <see cref="Terms"/> order, on the original
    /// feature scale): GlmResult.Covariance, i.e. dispersion × the inverse information, and for a DP fit the damped
    /// iterate's covariance (GlmNoisyNewtonFit.DampedIterationCovariance). Null for unfitted models and for documents written
    /// before this field existed; the twin then draws the coefficients independently from their standard errors (the diagonal of Σ̂).
    /// </summary>
    public IReadOnlyList<IReadOnlyList<double>>? Covariance { get; init; }

    /// <summary>A document's family: binomial, poisson or gaussian; anything else an error naming the field.</summary>
    public static GlmFamily ParseFamily(string? family) => family switch
    {
        "binomial" => GlmFamily.Binomial,
        "poisson" => GlmFamily.Poisson,
        "gaussian" => GlmFamily.Gaussian,
        null => throw new RegisteredModelException("family", "is required"),
        var f => throw new RegisteredModelException("family", $"'{f}' is not one of binomial, poisson, gaussian"),
    };

    /// <summary>The registry id of a GLM: glm/&lt;outcome&gt;/&lt;study id&gt;.</summary>
    public static string GlmId(string outcome, string studyId) => $"{GlmKind}/{outcome}/{studyId}";

    /// <summary>
    /// Builds the registry record of a converged federated (or pooled) GLM fit. <paramref name="outcome"/> is the response
    /// column and <paramref name="offset"/> the offset column, which GlmResult does not carry. Coefficients, standard
    /// errors and Wald limits are copied as GlmResult reports them: on the original feature scale.
    /// </summary>
    public static RegisteredModel FromGlmResult(GlmResult result, string outcome, string studyId, string purposeOfUse,
        DateTimeOffset createdAt, ModelPrivacy privacy, string? offset = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        // Exact fits keep the strict rule; a DP fit is released after its planned rounds if its sanity checks passed.
        if (!result.Releasable)
        {
            throw new ArgumentException(result.PrivateRelease is { Refusal: { } refusal }
                ? $"the {outcome} DP fit of study {studyId} ran its {result.Iterations} planned rounds but is not released: {refusal}"
                : $"the {outcome} fit of study {studyId} did not converge in {result.Iterations} iterations; it is not registered", nameof(result));
        }

        if (result.PrivateRelease is not null && !privacy.Dp)
        {
            throw new ArgumentException("a DP fit is registered with privacy.dp = true", nameof(privacy));
        }

        var terms = result.Names.Select((name, j) => new ModelTerm(name, result.Coefficients[j], result.StandardErrors[j],
            result.LowerConfidence[j], result.UpperConfidence[j])).ToList();
        var model = new RegisteredModel(GlmId(outcome, studyId), GlmKind, result.Family, outcome, offset, terms, result.Dispersion,
            result.Deviance, result.NullDeviance, result.Aic, result.Rows, result.Nodes, result.Rounds, studyId, purposeOfUse, createdAt, privacy)
        {
            Release = result.Converged ? ReleaseConverged : ReleaseDpPlannedRounds,
            Covariance = CovarianceRows(result.Covariance),
        };
        model.Validate();
        return model;
    }

    /// <summary>A p × p matrix as rows (the registry documents' form of <see cref="Covariance"/>).</summary>
    public static IReadOnlyList<IReadOnlyList<double>> CovarianceRows(double[,] covariance)
    {
        ArgumentNullException.ThrowIfNull(covariance);
        return [.. Enumerable.Range(0, covariance.GetLength(0)).Select(i => (IReadOnlyList<double>)[.. Enumerable.Range(0, covariance.GetLength(1)).Select(j => covariance[i, j])])];
    }

    /// <summary>The coefficient of a term, or null if the model has no such term.</summary>
    public double? Coefficient(string name) => Terms.FirstOrDefault(t => t.Name == name)?.Coefficient;

    /// <summary>Checks every field; throws <see cref="RegisteredModelException"/> naming the first bad one.</summary>
    public void Validate()
    {
        Require(Id is not null && IdPattern().IsMatch(Id) && !Id.EndsWith('/'), "id",
            $"'{Id}' is not a registry id ('/'-separated segments of lowercase letters, digits, '_', '-', '.', '@', none starting with '.')");
        Require(Kind == GlmKind, "kind", $"'{Kind}' is not a known model kind (known: {GlmKind})");
        Require(Enum.IsDefined(Family), "family", $"'{Family}' is not one of binomial, poisson, gaussian");
        Require(Outcome is not null && ColumnPattern().IsMatch(Outcome), "outcome", $"'{Outcome}' is not a column name");
        Require(Offset is null || ColumnPattern().IsMatch(Offset), "offset", $"'{Offset}' is not a column name");
        // GlmSpec refuses an offset for binomial fits (its null model has no closed form).
        Require(Offset is null || Family != GlmFamily.Binomial, "offset", "an offset is supported for the poisson and gaussian families only (GlmSpec)");
        Require(Terms is { Count: > 0 }, "terms", "needs at least the (Intercept) term");
        Require(Terms![0]?.Name == ModelTerm.Intercept, "terms[0].name", $"the first term must be {ModelTerm.Intercept}, as GlmResult.Names reports it");
        var fitted = Rows > 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var j = 0; j < Terms.Count; j++)
        {
            var t = Terms[j];
            var f = $"terms[{j}]";
            Require(t is not null, f, "is null");
            // A categorical column enters a GLM as treatment indicators named column[level] (GlmStudy.Expand, e.g. age_band[65-74]).
            Require(t!.Name == ModelTerm.Intercept || (t.Name is not null && (ColumnPattern().IsMatch(t.Name) || IndicatorPattern().IsMatch(t.Name))), f + ".name",
                $"'{t.Name}' is neither {ModelTerm.Intercept}, a column name nor an indicator column[level]");
            Require(seen.Add(t.Name!), f + ".name", $"'{t.Name}' appears twice");
            Require(double.IsFinite(t.Coefficient), f + ".coefficient", "must be a finite number");
            Require(t.StdError is null || (double.IsFinite(t.StdError.Value) && t.StdError >= 0), f + ".std_error", "must be a finite number >= 0");
            Require(t.CiLow is null || double.IsFinite(t.CiLow.Value), f + ".ci_low", "must be a finite number");
            Require(t.CiHigh is null || double.IsFinite(t.CiHigh.Value), f + ".ci_high", "must be a finite number");
            Require(t.CiLow is null || t.CiHigh is null || t.CiLow <= t.CiHigh, f + ".ci_high", "must not be below ci_low");
            Require(!fitted || (t.StdError is not null && t.CiLow is not null && t.CiHigh is not null), f + ".std_error",
                "a fitted model (rows > 0) reports std_error, ci_low and ci_high for every term");
        }

        Require(Rows >= 0, "rows", "must not be negative");
        Require(Nodes >= 0, "nodes", "must not be negative");
        Require(Rounds >= 0, "rounds", "must not be negative");
        Require(!fitted || Nodes >= 1, "nodes", "a fitted model (rows > 0) comes from at least one node");
        Statistic(Dispersion, "dispersion", fitted, positive: true);
        Statistic(Deviance, "deviance", fitted, positive: false);
        Statistic(NullDeviance, "null_deviance", fitted, positive: false);
        Statistic(Aic, "aic", fitted, positive: null);
        try
        {
            _ = new StudyId(StudyId);
        }
        catch (ArgumentException e)
        {
            throw new RegisteredModelException("study_id", $"'{StudyId}': {e.Message.Split(" (Parameter", 2)[0]}");
        }

        Require(PurposeOfUse is not null && Protocol.Federation.PurposeOfUse.Known.Contains(PurposeOfUse), "purpose_of_use",
            $"'{PurposeOfUse}' is not an HL7 v3 PurposeOfUse code this product knows ({string.Join(", ", Protocol.Federation.PurposeOfUse.Known.Order(StringComparer.Ordinal))})");
        Require(Privacy is not null, "privacy", "is required");
        Require(!Privacy!.Dp || (Privacy.Rho is { } rho && double.IsFinite(rho) && rho > 0), "privacy.rho", "a DP model reports the zCDP rho it spent (> 0)");
        Require(Privacy.Dp || Privacy.Rho is null, "privacy.rho", "must be null when dp is false");
        Require(Privacy.Dp || (Privacy.RoundsPlanned is null && Privacy.RoundsRun is null && Privacy.RhoSpent is null), "privacy",
            "rounds_planned, rounds_run and rho_spent must be null when dp is false");
        Require(Privacy.RoundsPlanned is null or > 0, "privacy.rounds_planned", "must be positive");
        Require(Privacy.RoundsRun is null or >= 0, "privacy.rounds_run", "must not be negative");
        Require(Privacy.RhoSpent is null || (double.IsFinite(Privacy.RhoSpent.Value) && Privacy.RhoSpent >= 0
            && Privacy.RhoSpent <= Privacy.Rho * (1 + 1e-9)), "privacy.rho_spent", "must be between 0 and privacy.rho");
        Require(Release is null or ReleaseConverged or ReleaseDpPlannedRounds, "release",
            $"'{Release}' is not one of {ReleaseConverged}, {ReleaseDpPlannedRounds}");
        Require(Release is null || fitted, "release", "must be null for a model that was not fitted (rows = 0)");
        Require(Release != ReleaseDpPlannedRounds || Privacy.Dp, "release", $"{ReleaseDpPlannedRounds} is for DP fits only (privacy.dp = true)");
        ValidateCovariance();
    }

    private void ValidateCovariance()
    {
        if (Covariance is not { } v)
        {
            return;
        }

        var p = Terms.Count;
        Require(Rows > 0, "covariance", "must be null for a model that was not fitted (rows = 0)");
        Require(v.Count == p && v.All(row => row is not null && row.Count == p), "covariance", $"must be a {p} x {p} matrix (one row and column per term)");
        for (var i = 0; i < p; i++)
        {
            for (var j = 0; j < p; j++)
            {
                var x = v[i][j];
                Require(double.IsFinite(x), $"covariance[{i}][{j}]", "must be a finite number");
                Require(Math.Abs(x - v[j][i]) <= 1e-9 * Math.Max(1, Math.Sqrt(Math.Abs(v[i][i] * v[j][j]))), $"covariance[{i}][{j}]", "the matrix must be symmetric");
            }

            Require(v[i][i] >= 0, $"covariance[{i}][{i}]", "a variance must not be negative");
            // The standard errors are √diag(Σ̂) (GlmResult): a matrix that disagrees with them belongs to another fit.
            Require(Terms[i].StdError is not { } se || Math.Abs(Math.Sqrt(v[i][i]) - se) <= 1e-6 * Math.Max(se, 1e-300), $"covariance[{i}][{i}]",
                $"is not terms[{i}].std_error squared");
        }
    }

    /// <summary>The JSON document (snake_case, indented).</summary>
    public string ToJson() => JsonSerializer.Serialize(RegisteredModelDocument.From(this), RegisteredModelDocument.Options);

    /// <summary>Parses and validates a JSON document; errors name the field.</summary>
    public static RegisteredModel FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        RegisteredModelDocument? doc;
        try
        {
            doc = JsonSerializer.Deserialize<RegisteredModelDocument>(json, RegisteredModelDocument.Options);
        }
        catch (JsonException e)
        {
            var path = e.Path is null or "$" ? "(document)" : e.Path.StartsWith("$.", StringComparison.Ordinal) ? e.Path[2..] : e.Path;
            var line = e.LineNumber is { } l ? string.Create(CultureInfo.InvariantCulture, $" (line {l + 1})") : string.Empty;
            throw new RegisteredModelException(path, $"not valid for the registered-model format{line}: {e.Message.Split(" Path:", 2)[0]}");
        }

        var model = (doc ?? throw new RegisteredModelException("(document)", "is null")).ToModel();
        model.Validate();
        return model;
    }

    /// <summary>Loads one registered-model file; errors name the file and the field.</summary>
    public static RegisteredModel Load(string path)
    {
        try
        {
            return FromJson(File.ReadAllText(path));
        }
        catch (RegisteredModelException e)
        {
            throw new RegisteredModelException(e.Field, e.Problem, path);
        }
    }

    /// <summary>The path of this model inside a registry directory: the id's segments as folders, then ".json".</summary>
    public string RelativePath() => Path.Combine([.. Id.Split('/')]) + ".json";

    private static void Require(bool ok, string field, string problem)
    {
        if (!ok)
        {
            throw new RegisteredModelException(field, problem);
        }
    }

    private static void Statistic(double? value, string field, bool fitted, bool? positive)
    {
        Require(fitted == value.HasValue, field, fitted ? "is required for a fitted model (rows > 0)" : "must be null for a model that was not fitted (rows = 0)");
        Require(value is null || double.IsFinite(value.Value), field, "must be a finite number");
        Require(value is null || positive is null || (positive.Value ? value > 0 : value >= 0), field, positive == true ? "must be positive" : "must not be negative");
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_.@-]*(/[a-z0-9][a-z0-9_.@-]*)*$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex ColumnPattern();

    [GeneratedRegex(@"^[a-z][a-z0-9_]*\[[A-Za-z0-9+._-]+\]$")]
    private static partial Regex IndicatorPattern();
}

/// <summary>A registered-model document is invalid; <see cref="Field"/> is the snake_case path of the offending field.</summary>
public sealed class RegisteredModelException : Exception
{
    /// <summary>Creates the error for one field, optionally naming the file it came from.</summary>
    public RegisteredModelException(string field, string problem, string? source = null)
        : base(source is null ? $"{field}: {problem}" : $"{source}: {field}: {problem}")
    {
        Field = field;
        Problem = problem;
        Origin = source;
    }

    /// <summary>Required by CA1032.</summary>
    public RegisteredModelException()
        : this("(document)", "invalid")
    {
    }

    /// <summary>Required by CA1032.</summary>
    public RegisteredModelException(string message)
        : this("(document)", message)
    {
    }

    /// <summary>Required by CA1032.</summary>
    public RegisteredModelException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = "(document)";
        Problem = message;
    }

    /// <summary>Field path, e.g. terms[2].coefficient.</summary>
    public string Field { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }

    /// <summary>The file the document came from, if known.</summary>
    public string? Origin { get; }
}
