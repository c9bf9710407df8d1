using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// One coefficient of a GLM or FedAvg registry document, on the original scale of its feature. A GLM reports its standard
/// error, Wald z (or t) statistic, p-value and 95% limits; a FedAvg model only the coefficient (the others are left out).
/// </summary>
public sealed record ModelTermDocument(
    string Name,
    double Coefficient,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? StdError = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Statistic = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? PValue = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? CiLow = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? CiHigh = null);

/// <summary>
/// The privacy of a GLM or FedAvg document: <c>{"dp": false, "rho": null}</c> for exact aggregates; a DP fit adds its plan,
/// its spend and the true ρ of its rounds as sums of discrete Gaussian shares (Kairouz, Liu &amp; Steinke 2021, Prop. 14),
/// and DP-FedSGD its mechanism and optimizer.
/// </summary>
public sealed record ModelPrivacyDocument(bool Dp, double? Rho)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? RoundsPlanned { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RhoPerRound { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? RoundsRun { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RhoSpent { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MaxRowsPerPatient { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MinHonestNodes { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TrueRho { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Mechanism { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Clip { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? LearningRate { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Momentum { get; init; }

    /// <summary>Exact aggregates: no noise, no ρ.</summary>
    public static ModelPrivacyDocument Exact { get; } = new(false, null);

    /// <summary>The registry's own privacy record of the model (<see cref="ModelPrivacy"/>).</summary>
    public ModelPrivacy ToModelPrivacy() => new(Dp, Rho, RoundsPlanned, RoundsRun, RhoSpent);
}

/// <summary>The sanity checks a DP fit passed (or failed) before its final iterate was released (GlmPrivateRelease).</summary>
public sealed record DpReleaseChecksDocument(
    string Rule,
    int IterationsPlanned,
    int Iterations,
    double LastStepMaxAbs,
    double Damping,
    int DampingDoublings,
    double HessianMinEigenvalue,
    double LastDeviance,
    double NullDeviance,
    double DevianceNoiseSd,
    double ScoreStatistic,
    double ScoreCritical,
    string StandardErrors);

/// <summary>
/// A fitted GLM as the coordinator's registry stores it and its API, dashboard and CLI show it (docs/models.md): the
/// coefficients with their inference on the features' own scale, the fit's statistics, why it was released (or not),
/// its held-out evaluation and its privacy. Whether the twin may use it is decided here, once: <see cref="IsReleased"/>.
/// The twin's registry files hold the subset of it that <see cref="RegisteredModel"/> validates.
/// </summary>
public sealed record GlmModelDocument(
    string Id,
    string Kind,
    string Family,
    string Link,
    string Outcome,
    string? Offset,
    IReadOnlyList<ModelTermDocument> Terms,
    double? Dispersion,
    double? Deviance,
    double? NullDeviance,
    long? ResidualDf,
    long? NullDf,
    double? Aic,
    long Rows,
    int Nodes,
    int Rounds,
    int? Iterations,
    bool? Converged,
    string? Release,
    string? ReleaseRefused,
    DpReleaseChecksDocument? DpReleaseChecks,
    string StudyId,
    string PurposeOfUse,
    string CreatedAt,
    [property: JsonConverter(typeof(GlmEvaluationSummaryConverter))] GlmEvaluationSummary? Evaluation,
    ModelPrivacyDocument Privacy) : IRegistryDocument
{
    /// <summary>
    /// The coefficients' covariance Σ̂ (rows in term order; GlmResult.Covariance: dispersion × inverse information, the
    /// damped iterate's covariance for a DP fit), which the twin draws coefficients from. Left out of documents written
    /// before it existed; the twin then uses the standard errors alone.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyOrder(1)]
    public IReadOnlyList<IReadOnlyList<double>>? Covariance { get; init; }

    /// <summary>
    /// The model lineage this document is a version of (docs/models.md, "Versions"): kind/outcome/template for a model a study
    /// template's refresh run trained, so every run of the template adds a version of the same lineage. Absent from a model of a
    /// one-off study (it is a lineage of one) and from documents written before lineages existed; readers skip it when absent.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyOrder(2)]
    public string? Lineage { get; init; }

    /// <summary>This document's version within <see cref="Lineage"/>: 1, 2, ... in registration order.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyOrder(3)]
    public int? LineageVersion { get; init; }

    /// <summary>What data the model was trained on (<see cref="TrainingWindowDocument"/>); absent from documents written before it existed.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyOrder(4)]
    public TrainingWindowDocument? TrainingWindow { get; init; }

    /// <summary>
    /// Whether the twin may use the model: an exact fit that converged, or a DP fit whose planned rounds ran and whose sanity
    /// checks passed (release dp_planned_rounds). A refusal (release_refused) always wins.
    /// </summary>
    [JsonIgnore]
    public bool IsReleased => ReleaseRefused is null && (Converged is not false || Release == RegisteredModel.ReleaseDpPlannedRounds);

    /// <summary>Why the model is not released, as the registry lists it among the skipped documents; null when it is released.</summary>
    [JsonIgnore]
    public string? NotReleasedReason => IsReleased ? null : ReleaseRefused is { } refused ? "not released: " + refused : "the fit did not converge";

    /// <summary>
    /// The registry document of a finished fit (coefficients on the features' own scale). <paramref name="dp"/> is the study's
    /// DP plan (null for exact aggregates), <paramref name="trueRho"/> the true ρ of its rounds as sums of discrete Gaussian
    /// shares (KLS21 Prop. 14), <paramref name="evaluation"/> the held-out evaluation, whose round is counted in the spend.
    /// </summary>
    public static GlmModelDocument FromFit(GlmResult r, string outcome, string? offset, string studyId, string purposeOfUse, DateTimeOffset createdAt,
        GlmPrivacy? dp = null, double? trueRho = null, GlmEvaluationSummary? evaluation = null)
    {
        ArgumentNullException.ThrowIfNull(r);
        var terms = r.Names.Select((name, i) => new ModelTermDocument(name, r.Coefficients[i], r.StandardErrors[i], r.Statistics[i], r.PValues[i],
            r.LowerConfidence[i], r.UpperConfidence[i])).ToList();
        var roundsRun = r.Rounds + (evaluation is null ? 0 : 1);
        return new GlmModelDocument(
            RegisteredModel.GlmId(outcome, studyId),
            RegisteredModel.GlmKind,
            r.Family.ToString().ToLowerInvariant(),
            r.Family switch { GlmFamily.Binomial => "logit", GlmFamily.Poisson => "log", _ => "identity" },
            outcome,
            offset,
            terms,
            r.Dispersion,
            r.Deviance,
            r.NullDeviance,
            r.ResidualDf,
            r.NullDf,
            r.Aic,
            r.Rows,
            r.Nodes,
            r.Rounds,
            r.Iterations,
            r.Converged,
            // Why the model may be used: the exact convergence rule, or (DP) its planned rounds ran and the sanity
            // checks passed; null when it may not (release_refused says why). docs/models.md.
            !r.Releasable ? null : r.Converged ? RegisteredModel.ReleaseConverged : RegisteredModel.ReleaseDpPlannedRounds,
            r.Releasable ? null : r.PrivateRelease?.Refusal ?? $"the fit did not converge in {r.Iterations} IRLS rounds",
            r.PrivateRelease is { } check
                ? new DpReleaseChecksDocument("final iterate after the planned noisy Newton rounds", check.PlannedIterations, check.Iterations, check.LastStep,
                    check.Damping, check.DampingDoublings, check.MinEigenvalue, check.Deviance, check.NullDeviance, check.DevianceSigma, check.ScoreStatistic,
                    check.ScoreCritical, "damped iterate's covariance after the planned rounds, per eigenvector of H_n: 1/h + s_score^2 a^2 sum_(k<K) m^2k, a = 1/(h_n + lambda), m = 1 - a h, h^2 = h_n^2 - p sigma_H^2; not the remaining distance to the MLE (docs/models.md)")
                : null,
            studyId,
            purposeOfUse,
            createdAt.ToString("O", CultureInfo.InvariantCulture),
            evaluation,
            dp is not null
                ? new ModelPrivacyDocument(true, dp.Rho)
                {
                    RoundsPlanned = dp.Rounds,
                    RhoPerRound = dp.RoundRho,
                    RoundsRun = roundsRun,
                    RhoSpent = dp.RoundRho * roundsRun,
                    MaxRowsPerPatient = dp.MaxRowsPerPatient,
                    MinHonestNodes = dp.MinHonestNodes,
                    TrueRho = trueRho,
                }
                : ModelPrivacyDocument.Exact)
        {
            Covariance = RegisteredModel.CovarianceRows(r.Covariance),
        };
    }

    /// <inheritdoc/>
    public string ToJson() => RegistryJson.Serialize(this);

    /// <summary>
    /// The twin's validated model of this document (the subset <see cref="RegisteredModel"/> holds), without parsing its JSON a
    /// second time; errors name the field (<see cref="RegisteredModelException"/>). Release is not decided here: see <see cref="IsReleased"/>.
    /// </summary>
    public RegisteredModel ToRegisteredModel()
    {
        if (!DateTimeOffset.TryParse(CreatedAt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var created))
        {
            throw new RegisteredModelException("created_at", $"'{CreatedAt}' is not an ISO 8601 time");
        }

        var model = new RegisteredModel(Id, Kind, RegisteredModel.ParseFamily(Family), Outcome, Offset,
            [.. Terms.Select(t => new ModelTerm(t.Name, t.Coefficient, t.StdError, t.CiLow, t.CiHigh))],
            Dispersion, Deviance, NullDeviance, Aic, Rows, Nodes, Rounds, StudyId, PurposeOfUse, created, Privacy.ToModelPrivacy())
        {
            Release = Release,
            Covariance = Covariance,
        };
        model.Validate();
        return model;
    }

    /// <summary>Parses a stored GLM document (<see cref="FormatException"/> if it is not one).</summary>
    public static GlmModelDocument FromJson(string json) => RegistryJson.Deserialize<GlmModelDocument>(json, "a GLM registry document");
}

/// <summary>
/// The held-out evaluation of a GLM (GlmEvaluation.Summarize): <see cref="BinomialEvaluation"/> (AUC, Brier score,
/// calibration) or <see cref="ContinuousEvaluation"/> (RMSE, MAE, R²). <see cref="Holdout"/> is the held-out fraction,
/// set by the algorithm that ran the evaluation round.
/// </summary>
public abstract record GlmEvaluationSummary
{
    /// <summary>Held-out patient-years, null when under the minimum cell size.</summary>
    [JsonPropertyOrder(-1)]
    public long? HeldOutRows { get; init; }

    /// <summary>The fraction of patients held out (parameters.holdout).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyOrder(1)]
    public double? Holdout { get; init; }
}

/// <summary>One risk decile of a binomial evaluation: its size and observed rate null where suppressed.</summary>
public sealed record CalibrationGroupDocument(long? Count, double MeanPredicted, double? ObservedRate);

/// <summary>A binomial GLM's held-out discrimination and calibration.</summary>
public sealed record BinomialEvaluation : GlmEvaluationSummary
{
    public long? HeldOutPositives { get; init; }

    public double? Auc { get; init; }

    public double? Brier { get; init; }

    public IReadOnlyList<CalibrationGroupDocument> Calibration { get; init; } = [];
}

/// <summary>A Poisson or Gaussian GLM's held-out error.</summary>
public sealed record ContinuousEvaluation : GlmEvaluationSummary
{
    public double? Rmse { get; init; }

    public double? Mae { get; init; }

    public double? RSquared { get; init; }
}

/// <summary>Writes an evaluation as its own kind; reads it back by its fields (a continuous one reports rmse).</summary>
internal sealed class GlmEvaluationSummaryConverter : JsonConverter<GlmEvaluationSummary>
{
    public override GlmEvaluationSummary? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        return root.ValueKind != JsonValueKind.Object ? throw new JsonException("an evaluation is a JSON object")
            : root.TryGetProperty("rmse", out _) || root.TryGetProperty("r_squared", out _)
                ? root.Deserialize<ContinuousEvaluation>(options)
                : root.Deserialize<BinomialEvaluation>(options);
    }

    public override void Write(Utf8JsonWriter writer, GlmEvaluationSummary value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, value.GetType(), options);
}

/// <summary>
/// The data a registered model was trained on: the study, the template and run it came from (null for a one-off study), the years
/// of patient-years it used (min_year/max_year; null: every year the nodes hold), when its participants pinned their data (the
/// study's start: each node computes every round on the data version it published when it accepted) and how many hospitals took
/// part. Each node's own data version stays on the coordinator (its decisions), not in a document every node receives.
/// </summary>
public sealed record TrainingWindowDocument(string StudyId, string? Template, int? Run, int? MinYear, int? MaxYear, string AsOf, int Participants,
    int ParticipantsWithKnownDataVersion);
