namespace FederatedTwin.Node.Ingest;

/// <summary>One de-identified fact: a year, never a date; codes already reduced to a category.</summary>
public readonly record struct StoredFact(int Year, string Kind, string? Category, double Value, string? Sensitive);

/// <summary>A Patient resource as the store keeps it (Safe Harbor already applied: a birth year only under 90).</summary>
public sealed record StoredPatient(string? Sex, string Zip3, int? DeceasedYear, int? BirthYear, bool NinetyPlus);

/// <summary>A Consent resource as the store keeps it: years and flattened provisions.</summary>
public sealed record StoredConsent(string Status, string? Scope, int? Year, string RulesJson);

/// <summary>
/// What the store keeps of one resource: its keyed resource key and a hash of what is kept (for idempotency and
/// updates), a version (the order it arrived in: the newest copy of a resource wins), and what the
/// features need from it. Encoded compactly so that a patient's resources are one value in the store.
/// </summary>
public sealed class StoredEntry
{
    public required UInt128 Key { get; init; }

    public required UInt128 Hash { get; init; }

    public required long Version { get; init; }

    public required string Type { get; init; }

    /// <summary>The tag of the site's custom sensitive code lists the entry was flagged under (null: built-in lists only).</summary>
    public string? CodeListsTag { get; init; }

    public StoredPatient? Patient { get; init; }

    public StoredConsent? Consent { get; init; }

    public IReadOnlyList<StoredFact> Facts { get; init; } = [];
}

/// <summary>
/// What an entry's body keeps of a resource, the clinical mapping's output and the codec's input: a Patient's or
/// a Consent's stored form, or the facts of anything else (none for a resource no patient owns).
/// </summary>
public readonly record struct StoredPayload(StoredPatient? Patient, StoredConsent? Consent, IReadOnlyList<StoredFact> Facts);
