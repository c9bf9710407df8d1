using System.Text.Json.Serialization;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// A published table as the registry stores it: name, shape (levels per dimension including "total"), labels, the cells
/// row-major with null where suppressed, and how many are suppressed.
/// </summary>
public sealed record PublishedTableDocument(
    string Name,
    IReadOnlyList<int> Shape,
    IReadOnlyList<IReadOnlyList<string>> Labels,
    IReadOnlyList<long?> Cells,
    int Suppressed);

/// <summary>
/// The privacy of a composition release: whether the counts were noised, the stated zCDP ρ and the L2 sensitivity of one
/// patient's contribution; a DP release adds the honest shares its noise relies on, the counts' integer scale and the
/// true ρ as a distributed discrete Gaussian (Kairouz, Liu &amp; Steinke 2021, Prop. 14).
/// </summary>
public sealed record CompositionPrivacyDocument(bool Dp, double? Rho, double L2Sensitivity)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? MinHonestNodes { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Scale { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? TrueRho { get; init; }
}

/// <summary>
/// A population composition release as the coordinator's registry stores it (kind "composition", id
/// composition/&lt;year&gt;/&lt;study&gt;): the composition table (age band × sex × condition count), one prevalence table per
/// condition in the schema's order, provenance and privacy. Written by CompositionRelease, read by the twin's ReleasedComposition.
/// </summary>
public sealed record CompositionDocument(
    string Id,
    string Kind,
    string Outcome,
    int Year,
    int MinimumCellSize,
    string Suppression,
    PublishedTableDocument Composition,
    IReadOnlyDictionary<string, PublishedTableDocument> Prevalence,
    string StudyId,
    string PurposeOfUse,
    string CreatedAt,
    CompositionPrivacyDocument Privacy) : IRegistryDocument
{
    /// <summary>The <see cref="Kind"/> (and <see cref="Outcome"/>) of every composition document.</summary>
    public const string CompositionKind = "composition";

    /// <inheritdoc/>
    public string ToJson() => RegistryJson.Serialize(this);

    /// <summary>The document indented, as exported to a registry directory the twin reads.</summary>
    public string ToIndentedJson() => System.Text.Json.JsonSerializer.Serialize(this, RegistryJson.Indented);

    /// <summary>Parses a stored composition document (<see cref="FormatException"/> if it is not one).</summary>
    public static CompositionDocument FromJson(string json) => RegistryJson.Deserialize<CompositionDocument>(json, "a composition registry document");
}
