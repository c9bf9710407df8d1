using System.Globalization;
using System.Text.Json;

namespace FederatedTwin.Cli.Synthetic;

/// <summary>Writes FHIR R4 resources as NDJSON lines (one Utf8JsonWriter per line, no intermediate objects).</summary>
internal sealed class FhirNdjsonWriter(Dictionary<string, PopulationGenerator.Buffer> buffers)
{
    private const string Snomed = "http://snomed.info/sct";
    private const string Loinc = "http://loinc.org";

    public void Patient(string id, PatientHistory p, (string Given, string Family) name, DateOnly? deceased, (string Line, string City, string State, string Zip) address, string phone, string ssn, string mrn) =>
        Line("Patient", w =>
        {
            w.WriteString("id", id);
            w.WriteStartArray("identifier");
            Identifier(w, "http://hospital.example/mrn", mrn);
            Identifier(w, "http://hl7.org/fhir/sid/us-ssn", ssn);
            w.WriteEndArray();
            w.WriteStartArray("name");
            w.WriteStartObject();
            w.WriteString("use", "official");
            w.WriteString("family", name.Family);
            w.WriteStartArray("given");
            w.WriteStringValue(name.Given);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("telecom");
            w.WriteStartObject();
            w.WriteString("system", "phone");
            w.WriteString("value", phone);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("gender", p.Male ? "male" : "female");
            w.WriteString("birthDate", Date(p.BirthDate));
            if (deceased is { } d)
            {
                w.WriteString("deceasedDateTime", DateTime(d, "T08:00:00Z"));
            }

            w.WriteStartArray("address");
            w.WriteStartObject();
            w.WriteStartArray("line");
            w.WriteStringValue(address.Line);
            w.WriteEndArray();
            w.WriteString("city", address.City);
            w.WriteString("state", address.State);
            w.WriteString("postalCode", address.Zip);
            w.WriteString("country", "US");
            w.WriteEndObject();
            w.WriteEndArray();
        });

    public void Condition(Guid id, string patient, (string System, string Code) code, DateOnly onset, bool sensitive) =>
        Line("Condition", w =>
        {
            w.WriteString("id", id);
            if (sensitive)
            {
                w.WriteStartObject("meta");
                w.WriteStartArray("security");
                w.WriteStartObject();
                w.WriteString("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
                w.WriteString("code", "42CFRPart2");
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }

            CodeableConcept(w, "clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical", "active");
            CodeableConcept(w, "code", code.System, code.Code);
            Reference(w, "subject", "Patient", patient);
            w.WriteString("onsetDateTime", DateTime(onset, "T09:00:00Z"));
            w.WriteString("recordedDate", DateTime(onset, "T09:00:00Z"));
        });

    public void Encounter(Guid id, string patient, string encounterClass, DateOnly start, int days) =>
        Line("Encounter", w =>
        {
            w.WriteString("id", id);
            w.WriteString("status", "finished");
            w.WriteStartObject("class");
            w.WriteString("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
            w.WriteString("code", encounterClass);
            w.WriteEndObject();
            Reference(w, "subject", "Patient", patient);
            w.WriteStartObject("period");
            w.WriteString("start", DateTime(start, "T10:00:00Z"));
            w.WriteString("end", DateTime(start.AddDays(days), days == 0 ? "T11:00:00Z" : "T10:00:00Z"));
            w.WriteEndObject();
        });

    public void Claim(Guid id, string patient, Guid encounter, DateOnly date, double total) =>
        Line("Claim", w =>
        {
            w.WriteString("id", id);
            w.WriteString("status", "active");
            CodeableConcept(w, "type", "http://terminology.hl7.org/CodeSystem/claim-type", "institutional");
            w.WriteString("use", "claim");
            Reference(w, "patient", "Patient", patient);
            w.WriteStartObject("billablePeriod");
            w.WriteString("start", DateTime(date, "T10:00:00Z"));
            w.WriteString("end", DateTime(date, "T11:00:00Z"));
            w.WriteEndObject();
            w.WriteString("created", DateTime(date, "T11:00:00Z"));
            w.WriteStartObject("provider");
            w.WriteString("display", "Synthetic Hospital");
            w.WriteEndObject();
            CodeableConcept(w, "priority", "http://terminology.hl7.org/CodeSystem/processpriority", "normal");
            w.WriteStartArray("insurance");
            w.WriteStartObject();
            w.WriteNumber("sequence", 1);
            w.WriteBoolean("focal", true);
            w.WriteStartObject("coverage");
            w.WriteString("display", "Medicare");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("item");
            w.WriteStartObject();
            w.WriteNumber("sequence", 1);
            CodeableConcept(w, "productOrService", Snomed, "185345009");
            w.WriteStartArray("encounter");
            w.WriteStartObject();
            w.WriteString("reference", $"Encounter/{encounter}");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartObject("total");
            w.WriteNumber("value", total);
            w.WriteString("currency", "USD");
            w.WriteEndObject();
        });

    public void Observation(Guid id, string patient, string kind, DateOnly date, double value, double value2) =>
        Line("Observation", w =>
        {
            w.WriteString("id", id);
            w.WriteString("status", "final");
            if (kind == "hba1c")
            {
                CodeableConcept(w, "code", Loinc, "4548-4");
                Reference(w, "subject", "Patient", patient);
                w.WriteString("effectiveDateTime", DateTime(date, "T09:30:00Z"));
                Quantity(w, "valueQuantity", value, "%");
            }
            else
            {
                CodeableConcept(w, "code", Loinc, "85354-9");
                Reference(w, "subject", "Patient", patient);
                w.WriteString("effectiveDateTime", DateTime(date, "T09:30:00Z"));
                w.WriteStartArray("component");
                w.WriteStartObject();
                CodeableConcept(w, "code", Loinc, "8480-6");
                Quantity(w, "valueQuantity", value, "mm[Hg]");
                w.WriteEndObject();
                w.WriteStartObject();
                CodeableConcept(w, "code", Loinc, "8462-4");
                Quantity(w, "valueQuantity", value2, "mm[Hg]");
                w.WriteEndObject();
                w.WriteEndArray();
            }
        });

    /// <summary>A research opt-out: a Consent whose base provision denies purpose HRESCH from a date on.</summary>
    public void ResearchOptOut(Guid id, string patient, DateOnly from) =>
        Line("Consent", w =>
        {
            w.WriteString("id", id);
            w.WriteString("status", "active");
            CodeableConcept(w, "scope", "http://terminology.hl7.org/CodeSystem/consentscope", "research");
            w.WriteStartArray("category");
            w.WriteStartObject();
            w.WriteStartArray("coding");
            w.WriteStartObject();
            w.WriteString("system", Loinc);
            w.WriteString("code", "57016-8");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            Reference(w, "patient", "Patient", patient);
            w.WriteString("dateTime", DateTime(from, "T12:00:00Z"));
            w.WriteStartObject("provision");
            w.WriteString("type", "deny");
            w.WriteStartObject("period");
            w.WriteString("start", DateTime(from, "T12:00:00Z"));
            w.WriteEndObject();
            w.WriteStartArray("purpose");
            w.WriteStartObject();
            w.WriteString("system", "http://terminology.hl7.org/CodeSystem/v3-ActReason");
            w.WriteString("code", "HRESCH");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });

    private void Line(string type, Action<Utf8JsonWriter> body)
    {
        var buffer = buffers[type];
        var w = buffer.Writer;
        w.Reset(buffer.Bytes);
        w.WriteStartObject();
        w.WriteString("resourceType", type);
        body(w);
        w.WriteEndObject();
        w.Flush();

        System.Buffers.BuffersExtensions.Write(buffer.Bytes, "\n"u8);
        buffer.Lines++;
    }

    private static void Identifier(Utf8JsonWriter w, string system, string value)
    {
        w.WriteStartObject();
        w.WriteString("system", system);
        w.WriteString("value", value);
        w.WriteEndObject();
    }

    private static void CodeableConcept(Utf8JsonWriter w, string name, string system, string code)
    {
        w.WriteStartObject(name);
        w.WriteStartArray("coding");
        w.WriteStartObject();
        w.WriteString("system", system);
        w.WriteString("code", code);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Reference(Utf8JsonWriter w, string name, string type, string id)
    {
        w.WriteStartObject(name);
        w.WriteString("reference", $"{type}/{id}");
        w.WriteEndObject();
    }

    private static void Quantity(Utf8JsonWriter w, string name, double value, string unit)
    {
        w.WriteStartObject(name);
        w.WriteNumber("value", value);
        w.WriteString("unit", unit);
        w.WriteString("system", "http://unitsofmeasure.org");
        w.WriteString("code", unit);
        w.WriteEndObject();
    }

    private static string Date(DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>yyyy-MM-dd followed by a fixed time suffix, formatted without intermediate strings (the generator's hot path).</summary>
    /// The span is only valid until the next call on the same thread: callers hand it straight to the JSON writer.
    private static ReadOnlySpan<char> DateTime(DateOnly d, string time)
    {
        var buffer = _dateTimeBuffer ??= new char[32];
        d.TryFormat(buffer, out _, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        time.CopyTo(buffer.AsSpan(10));
        return buffer.AsSpan(0, 10 + time.Length);
    }

    [ThreadStatic]
    private static char[]? _dateTimeBuffer;
}
