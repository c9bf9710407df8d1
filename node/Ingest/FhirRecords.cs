using System.Text.Json;
using FederatedTwin.Node.Deidentification;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace FederatedTwin.Node.Ingest;

/// <summary>Why a line was quarantined: a code and a fixed sentence, never a value from the line.</summary>
public sealed record QuarantineReason(string Code, string Text)
{
    public static readonly QuarantineReason InvalidJson = new("invalid_json", "the line is not well-formed JSON");
    public static readonly QuarantineReason InvalidEncoding = new("invalid_utf8", "the line is not valid UTF-8 (RFC 8259 section 8.1: JSON text is UTF-8)");
    public static readonly QuarantineReason NotAResource = new("not_a_resource", "the line is not a JSON object with a resourceType");
    public static readonly QuarantineReason UnknownType = new("unknown_resource_type", "the resourceType is not a FHIR R4 resource");
    public static readonly QuarantineReason Oversized = new("oversized_line", "the line is longer than the ingest limit");
    public static readonly QuarantineReason MissingId = new("missing_id", "the resource has no id");
    public static readonly QuarantineReason ImpossibleDate = new("impossible_date", "a date the features need is not a real calendar date");
    public static readonly QuarantineReason DuplicateKey = new("duplicate_key", "an object of the line has a name twice (RFC 8259 section 4: names SHOULD be unique; FHIR JSON gives a repeat no meaning), or two forms of one choice element");
    public static readonly QuarantineReason ConflictingDuplicate = new("conflicting_duplicate", "a resource of the same type and id, with different content, came earlier in this run: this one is not stored (which one is right cannot be told)");

    /// <summary>A parser failed on the line in a way it does not handle (a defect to report): the exception's type only.</summary>
    public static QuarantineReason ParserFailure(Exception e) => new("parser_failure", $"the parser failed on this line ({e.GetType().Name}); please report it");

    /// <summary>A Firely validation failure: its error code only (Firely's messages can quote the offending value).</summary>
    /// <summary>A rule of FHIR R4 JSON that Firely does not enforce and both parsers do (<see cref="FhirElementNames"/>).</summary>
    public static QuarantineReason Structure(string rule) => new("invalid_resource", $"the resource breaks a FHIR R4 JSON rule ({rule})");

    public static QuarantineReason Invalid(string firelyCode) => new("invalid_resource", $"the resource fails FHIR R4 validation (Firely error {firelyCode})");
}

/// <summary>What the features need from one resource, in memory only. Full dates never leave this type; the store gets years.</summary>
public abstract record ClinicalRecord(string Type, string Id)
{
    public string? PatientId { get; init; }

    public IReadOnlyList<string> SecurityLabels { get; init; } = [];
}

public sealed record PatientRecord(string Id, string? Sex, DateOnly? BirthDate, int? DeceasedYear, string Zip3) : ClinicalRecord("Patient", Id);

public sealed record ConditionRecord(string Id, IReadOnlyList<(string? System, string? Code)> Codes, int? OnsetYear, int? AbatementYear) : ClinicalRecord("Condition", Id);

public sealed record EncounterRecord(string Id, string? Class, int? Year, int Days, IReadOnlyList<(string? System, string? Code)> Reasons) : ClinicalRecord("Encounter", Id);

public sealed record ObservationRecord(string Id, int? Year, IReadOnlyList<(string Loinc, decimal Value)> Values) : ClinicalRecord("Observation", Id);

public sealed record CostRecord(string Type, string Id, int? Year, decimal? Amount) : ClinicalRecord(Type, Id);

public sealed record ConsentRecord(string Id, string Status, string? Scope, int? Year, IReadOnlyList<ConsentRule> Rules) : ClinicalRecord("Consent", Id);

/// <summary>One provision of a Consent, flattened: permit or deny, for which purposes (empty = all), over which years (null = open).</summary>
public sealed record ConsentRule(bool Permit, IReadOnlyList<string> Purposes, int? FromYear, int? ToYear, int Depth);

public sealed record OtherRecord(string Type, string Id) : ClinicalRecord(Type, Id);

/// <summary>
/// Parses one resource with the Firely SDK (Hl7.Fhir.R4), so acceptance follows FHIR R4 as Firely
/// implements it (unknown elements, wrong types and malformed primitives are rejected), then keeps
/// only what the feature schema needs.
/// </summary>
public sealed class FhirRecordParser
{
    private readonly BaseFhirJsonDeserializer _deserializer = new(Hl7.Fhir.Model.ModelInfo.ModelInspector, new DeserializerSettings());

    public (ClinicalRecord? Record, QuarantineReason? Reason) Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!ProbeType(json, out var reason))
            {
                return (null, reason);
            }

            bool deserialized;
            Resource? resource;
            IEnumerable<Hl7.Fhir.Utility.CodedException>? issues;
            try
            {
                deserialized = _deserializer.TryDeserializeResource(ref reader, out resource, out issues);
            }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or NullReferenceException or InvalidCastException)
            {
                // Firely throws instead of reporting an issue on some malformed resources (an element named "": its
                // getMappingForElement indexes the empty name; found by the differential fuzz target). Such a resource is
                // not valid R4 either way: refused with the exception's type, never its message.
                return (null, QuarantineReason.Invalid("deserializer-" + e.GetType().Name));
            }

            if (!deserialized || resource is null)
            {
                // JSON129: an element given twice, here two forms of one choice element (a repeated name is refused above).
                if (issues?.Any(i => i.ErrorCode == "JSON129") == true)
                {
                    return (null, QuarantineReason.DuplicateKey);
                }

                var first = issues?.FirstOrDefault();
                return (null, QuarantineReason.Invalid(first?.ErrorCode ?? "unknown"));
            }

            if (string.IsNullOrEmpty(resource.Id))
            {
                return (null, QuarantineReason.MissingId);
            }

            return Extract(resource);
        }
        catch (JsonException)
        {
            return (null, QuarantineReason.InvalidJson);
        }
    }

    private static readonly JsonDocumentOptions UniqueNames = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// What is wrong with the line as JSON, in the order the Firely path checks it: not JSON at all (invalid_json), else a name
    /// twice in an object (duplicate_key), else null. The fast path asks when it refuses a line, since its walk stops at the
    /// first element it refuses and must still give the reason the Firely path gives (found by the differential fuzz target).
    /// </summary>
    public static QuarantineReason? JsonShape(ReadOnlySpan<byte> json)
    {
        var bytes = json.ToArray();
        try
        {
            using var doc = JsonDocument.Parse(bytes, UniqueNames);
            return null;
        }
        catch (JsonException)
        {
            return WellFormed(bytes) ? QuarantineReason.DuplicateKey : QuarantineReason.InvalidJson;
        }
    }

    /// <summary>
    /// Well-formed JSON with no name twice in an object, an object, a known R4 resource type spelled as FHIR spells it:
    /// checked before Firely so the reasons are precise. Firely refuses most repeated names itself but not a second
    /// resourceType, and finds type names without regard to case ("patient" was read as a Patient): FHIR's type names
    /// are case-sensitive, as the fast path's are.
    /// </summary>
    private static bool ProbeType(ReadOnlySpan<byte> json, out QuarantineReason? reason)
    {
        reason = null;
        var bytes = json.ToArray();
        try
        {
            using var doc = JsonDocument.Parse(bytes, UniqueNames);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("resourceType", out var type) || type.ValueKind != JsonValueKind.String)
            {
                reason = QuarantineReason.NotAResource;
                return false;
            }

            var name = type.GetString()!;
            if (Hl7.Fhir.Model.ModelInfo.GetTypeForFhirType(name) is not { } t || !typeof(Resource).IsAssignableFrom(t) || !string.Equals(Hl7.Fhir.Model.ModelInfo.GetFhirTypeNameForType(t), name, StringComparison.Ordinal))
            {
                reason = QuarantineReason.UnknownType;
                return false;
            }

            reason = FhirElementNames.FirstProblem(doc.RootElement);
            return reason is null;
        }
        catch (JsonException)
        {
            reason = WellFormed(bytes) ? QuarantineReason.DuplicateKey : QuarantineReason.InvalidJson;
            return false;
        }
    }

    /// <summary>Whether the line is JSON once repeated names are allowed (so a refusal above was for a repeat).</summary>
    private static bool WellFormed(byte[] json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static (ClinicalRecord?, QuarantineReason?) Extract(Resource resource)
    {
        try
        {
            var labels = resource.Meta?.Security?.Select(s => s.System + "|" + s.Code).ToList() ?? [];
            var id = resource.Id!; // checked by the caller
            ClinicalRecord record = resource switch
            {
                Patient p => new PatientRecord(id, p.Gender?.ToString().ToLowerInvariant(), ParseDate(p.BirthDate), Year(p.Deceased), SafeHarbor.Zip3(p.Address?.FirstOrDefault()?.PostalCode)) { PatientId = p.Id },
                Condition c => new ConditionRecord(id, Codes(c.Code), Year(c.Onset) ?? Year(c.RecordedDateElement), Year(c.Abatement)) { PatientId = PatientOf(c.Subject) },
                Encounter e => new EncounterRecord(id, e.Class?.Code, Year(e.Period?.StartElement), Days(e), e.ReasonCode?.SelectMany(Codes).ToList() ?? []) { PatientId = PatientOf(e.Subject) },
                Observation o => new ObservationRecord(id, Year(o.Effective), ObservationValues(o)) { PatientId = PatientOf(o.Subject) },
                Claim c => new CostRecord("Claim", id, Year(c.BillablePeriod?.StartElement) ?? Year(c.CreatedElement), c.Total?.Value) { PatientId = PatientOf(c.Patient) },
                ExplanationOfBenefit b => new CostRecord("ExplanationOfBenefit", id, Year(b.BillablePeriod?.StartElement) ?? Year(b.CreatedElement), b.Payment?.Amount?.Value ?? b.Total?.FirstOrDefault()?.Amount?.Value) { PatientId = PatientOf(b.Patient) },
                Consent k => new ConsentRecord(id, k.Status?.ToString().ToLowerInvariant() ?? "unknown", k.Scope?.Coding?.FirstOrDefault()?.Code, Year(k.DateTimeElement), Rules(k.Provision, 0)) { PatientId = PatientOf(k.Patient) },
                _ => new OtherRecord(resource.TypeName, id) { PatientId = PatientOfAny(resource) },
            };
            return (record with { SecurityLabels = labels }, null);
        }
        catch (FormatException)
        {
            return (null, QuarantineReason.ImpossibleDate);
        }
        catch (ArgumentOutOfRangeException)
        {
            return (null, QuarantineReason.ImpossibleDate);
        }
    }

    private static IReadOnlyList<(string?, string?)> Codes(CodeableConcept? c) => c?.Coding?.Select(x => (x.System, x.Code)).ToList() ?? [];

    private static IReadOnlyList<(string, decimal)> ObservationValues(Observation o)
    {
        var values = new List<(string, decimal)>();
        var code = o.Code?.Coding?.FirstOrDefault(c => c.System == "http://loinc.org")?.Code;
        if (code is not null && o.Value is Quantity q && q.Value is { } v)
        {
            values.Add((code, v));
        }

        foreach (var component in o.Component ?? [])
        {
            var cc = component.Code?.Coding?.FirstOrDefault(c => c.System == "http://loinc.org")?.Code;
            if (cc is not null && component.Value is Quantity cq && cq.Value is { } cv)
            {
                values.Add((cc, cv));
            }
        }

        return values;
    }

    private static List<ConsentRule> Rules(Consent.provisionComponent? provision, int depth)
    {
        if (provision is null)
        {
            return [];
        }

        var rules = new List<ConsentRule>
        {
            new(provision.Type != Consent.ConsentProvisionType.Deny, provision.Purpose?.Select(p => p.Code).Where(c => c is not null).Cast<string>().ToList() ?? [],
                Year(provision.Period?.StartElement), Year(provision.Period?.EndElement), depth),
        };
        foreach (var nested in provision.Provision ?? [])
        {
            rules.AddRange(Rules(nested, depth + 1));
        }

        return rules;
    }

    private static int Days(Encounter e)
    {
        if (e.Period?.StartElement is null || e.Period.EndElement is null)
        {
            return 0;
        }

        var start = e.Period.StartElement.ToDateTimeOffset(TimeSpan.Zero);
        var end = e.Period.EndElement.ToDateTimeOffset(TimeSpan.Zero);
        return Math.Max(0, (int)Math.Round((end - start).TotalDays));
    }

    private static int? Year(DataType? value) => value switch
    {
        FhirDateTime dt => dt.ToDateTimeOffset(TimeSpan.Zero).Year,
        Date d => ParseDate(d.Value)?.Year,
        Period p => Year(p.StartElement),
        _ => null,
    };

    internal static DateOnly? ParseDate(string? value) => value is null ? null : value.Length switch
    {
        4 => new DateOnly(int.Parse(value, System.Globalization.CultureInfo.InvariantCulture), 7, 1),
        7 => DateOnly.ParseExact(value + "-01", "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        _ => DateOnly.ParseExact(value[..10], "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string? PatientOf(ResourceReference? reference) => PatientOf(reference?.Reference);

    /// <summary>The patient id of a reference: "Patient/x" (relative or absolute) or "urn:uuid:x" (Bundles); null otherwise.</summary>
    internal static string? PatientOf(string? r)
    {
        if (string.IsNullOrEmpty(r))
        {
            return null;
        }

        if (r.StartsWith("urn:uuid:", StringComparison.Ordinal))
        {
            return r["urn:uuid:".Length..];
        }

        var slash = r.LastIndexOf('/');
        return slash >= 0 && r[..slash].EndsWith("Patient", StringComparison.Ordinal) ? r[(slash + 1)..] : null;
    }

    private static string? PatientOfAny(Resource resource) => resource switch
    {
        MedicationRequest m => PatientOf(m.Subject),
        Procedure p => PatientOf(p.Subject),
        Immunization i => PatientOf(i.Patient),
        DocumentReference d => PatientOf(d.Subject),
        AllergyIntolerance a => PatientOf(a.Patient),
        DiagnosticReport r => PatientOf(r.Subject),
        _ => null,
    };
}
