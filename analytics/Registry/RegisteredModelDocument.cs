using System.Text.Json;
using System.Text.Json.Serialization;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// The JSON shape of <see cref="RegisteredModel"/>: every member nullable, so a missing field is reported by
/// <see cref="ToModel"/> with its name rather than as a generic deserialization failure. Unknown fields are errors.
/// </summary>
internal sealed class RegisteredModelDocument
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // The coordinator's registry documents carry more than the twin reads (link, z statistics, p-values,
        // degrees of freedom, held-out evaluation): those are skipped; every field the twin uses is validated.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        WriteIndented = true,
        AllowTrailingCommas = false,
        ReadCommentHandling = JsonCommentHandling.Disallow,
    };

    public string? Id { get; set; }
    public string? Kind { get; set; }
    public string? Family { get; set; }
    public string? Outcome { get; set; }
    public string? Offset { get; set; }
    public List<TermDocument?>? Terms { get; set; }
    public double? Dispersion { get; set; }
    public double? Deviance { get; set; }
    public double? NullDeviance { get; set; }
    public double? Aic { get; set; }
    public long? Rows { get; set; }
    public int? Nodes { get; set; }
    public int? Rounds { get; set; }
    public string? StudyId { get; set; }
    public string? PurposeOfUse { get; set; }
    public DateTimeOffset? CreatedAt { get; set; }
    public PrivacyDocument? Privacy { get; set; }
    public string? Release { get; set; }

    /// <summary>Σ̂ as rows, left out when null (documents without it stay as they were).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<List<double>>? Covariance { get; set; }

    public static RegisteredModelDocument From(RegisteredModel m) => new()
    {
        Id = m.Id,
        Kind = m.Kind,
        Family = m.Family.ToString().ToLowerInvariant(),
        Outcome = m.Outcome,
        Offset = m.Offset,
        Terms = [.. m.Terms.Select(t => new TermDocument { Name = t.Name, Coefficient = t.Coefficient, StdError = t.StdError, CiLow = t.CiLow, CiHigh = t.CiHigh })],
        Dispersion = m.Dispersion,
        Deviance = m.Deviance,
        NullDeviance = m.NullDeviance,
        Aic = m.Aic,
        Rows = m.Rows,
        Nodes = m.Nodes,
        Rounds = m.Rounds,
        StudyId = m.StudyId,
        PurposeOfUse = m.PurposeOfUse,
        CreatedAt = m.CreatedAt,
        Privacy = new PrivacyDocument
        {
            Dp = m.Privacy.Dp,
            Rho = m.Privacy.Rho,
            RoundsPlanned = m.Privacy.RoundsPlanned,
            RoundsRun = m.Privacy.RoundsRun,
            RhoSpent = m.Privacy.RhoSpent,
        },
        Release = m.Release,
        Covariance = m.Covariance?.Select(row => row.ToList()).ToList(),
    };

    public RegisteredModel ToModel()
    {
        var family = RegisteredModel.ParseFamily(Family);
        var terms = Required(Terms, "terms").Select((t, j) =>
        {
            var term = t ?? throw new RegisteredModelException($"terms[{j}]", "is null");
            return new ModelTerm(Required(term.Name, $"terms[{j}].name"), Required(term.Coefficient, $"terms[{j}].coefficient"), term.StdError, term.CiLow, term.CiHigh);
        }).ToList();
        var privacy = Required(Privacy, "privacy");
        return new RegisteredModel(
            Required(Id, "id"),
            Required(Kind, "kind"),
            family,
            Required(Outcome, "outcome"),
            Offset,
            terms,
            Dispersion,
            Deviance,
            NullDeviance,
            Aic,
            Required(Rows, "rows"),
            Required(Nodes, "nodes"),
            Required(Rounds, "rounds"),
            Required(StudyId, "study_id"),
            Required(PurposeOfUse, "purpose_of_use"),
            Required(CreatedAt, "created_at"),
            new ModelPrivacy(Required(privacy.Dp, "privacy.dp"), privacy.Rho, privacy.RoundsPlanned, privacy.RoundsRun, privacy.RhoSpent))
        {
            Release = Release,
            Covariance = Covariance?.Select((row, i) => (IReadOnlyList<double>)(row ?? throw new RegisteredModelException($"covariance[{i}]", "is null"))).ToList(),
        };
    }

    private static T Required<T>(T? value, string field)
        where T : class => value ?? throw new RegisteredModelException(field, "is required");

    private static T Required<T>(T? value, string field)
        where T : struct => value ?? throw new RegisteredModelException(field, "is required");

    internal sealed class TermDocument
    {
        public string? Name { get; set; }
        public double? Coefficient { get; set; }
        public double? StdError { get; set; }
        public double? CiLow { get; set; }
        public double? CiHigh { get; set; }
    }

    internal sealed class PrivacyDocument
    {
        public bool? Dp { get; set; }
        public double? Rho { get; set; }
        public int? RoundsPlanned { get; set; }
        public int? RoundsRun { get; set; }
        public double? RhoSpent { get; set; }
    }
}
