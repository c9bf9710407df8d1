using System.Globalization;
using System.Text.Json;

namespace FederatedTwin.Synthetic;

/// <summary>Writes FHIR R4 resources as NDJSON lines (one Utf8JsonWriter per line, no intermediate objects).</summary>
internal sealed class FhirNdjsonWriter(Dictionary<string, PopulationGenerator.Buffer> buffers)
{
    private const string Snomed = "http://snomed.info/sct";
    private const string Loinc = "http://loinc.org";

    public void Patient(string id, PatientHistory p, (string Given, string Family) name, DateOnly? deceased, (string Line, string City, string State, string Zip) address, string phone, string ssn, string mrn) =>
        Line("Patient", w =>
        {
            w.WriteString("id"u8, id);
            w.WriteStartArray("identifier"u8);
            Identifier(w, "http://hospital.example/mrn", mrn);
            Identifier(w, "http://hl7.org/fhir/sid/us-ssn", ssn);
            w.WriteEndArray();
            w.WriteStartArray("name"u8);
            w.WriteStartObject();
            w.WriteString("use"u8, "official");
            w.WriteString("family"u8, name.Family);
            w.WriteStartArray("given"u8);
            w.WriteStringValue(name.Given);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("telecom"u8);
            w.WriteStartObject();
            w.WriteString("system"u8, "phone");
            w.WriteString("value"u8, phone);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("gender"u8, p.Male ? "male" : "female");
            w.WriteString("birthDate"u8, Date(p.BirthDate));
            if (deceased is { } d)
            {
                w.WriteString("deceasedDateTime"u8, DateTime(d, "T08:00:00Z"));
            }

            w.WriteStartArray("address"u8);
            w.WriteStartObject();
            w.WriteStartArray("line"u8);
            w.WriteStringValue(address.Line);
            w.WriteEndArray();
            w.WriteString("city"u8, address.City);
            w.WriteString("state"u8, address.State);
            w.WriteString("postalCode"u8, address.Zip);
            w.WriteString("country"u8, "US");
            w.WriteEndObject();
            w.WriteEndArray();
        });

    public void Condition(Guid id, string patient, (string System, string Code) code, DateOnly onset, bool sensitive) =>
        Line("Condition", w =>
        {
            w.WriteString("id"u8, id);
            if (sensitive)
            {
                w.WriteStartObject("meta"u8);
                w.WriteStartArray("security"u8);
                w.WriteStartObject();
                w.WriteString("system"u8, "http://terminology.hl7.org/CodeSystem/v3-ActCode");
                w.WriteString("code"u8, "42CFRPart2");
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }

            CodeableConcept(w, "clinicalStatus", "http://terminology.hl7.org/CodeSystem/condition-clinical", "active");
            CodeableConcept(w, "code", code.System, code.Code);
            Reference(w, "subject", "Patient", patient);
            w.WriteString("onsetDateTime"u8, DateTime(onset, "T09:00:00Z"));
            w.WriteString("recordedDate"u8, DateTime(onset, "T09:00:00Z"));
        });

    public void Encounter(Guid id, string patient, string encounterClass, DateOnly start, int days) =>
        Line("Encounter", w =>
        {
            w.WriteString("id"u8, id);
            w.WriteString("status"u8, "finished");
            w.WriteStartObject("class"u8);
            w.WriteString("system"u8, "http://terminology.hl7.org/CodeSystem/v3-ActCode");
            w.WriteString("code"u8, encounterClass);
            w.WriteEndObject();
            Reference(w, "subject", "Patient", patient);
            w.WriteStartObject("period"u8);
            w.WriteString("start"u8, DateTime(start, "T10:00:00Z"));
            w.WriteString("end"u8, DateTime(start.AddDays(days), days == 0 ? "T11:00:00Z" : "T10:00:00Z"));
            w.WriteEndObject();
        });

    public void Claim(Guid id, string patient, Guid encounter, DateOnly date, double total) =>
        Line("Claim", w =>
        {
            w.WriteString("id"u8, id);
            w.WriteString("status"u8, "active");
            CodeableConcept(w, "type", "http://terminology.hl7.org/CodeSystem/claim-type", "institutional");
            w.WriteString("use"u8, "claim");
            Reference(w, "patient", "Patient", patient);
            w.WriteStartObject("billablePeriod"u8);
            w.WriteString("start"u8, DateTime(date, "T10:00:00Z"));
            w.WriteString("end"u8, DateTime(date, "T11:00:00Z"));
            w.WriteEndObject();
            w.WriteString("created"u8, DateTime(date, "T11:00:00Z"));
            w.WriteStartObject("provider"u8);
            w.WriteString("display"u8, "Synthetic Hospital");
            w.WriteEndObject();
            CodeableConcept(w, "priority", "http://terminology.hl7.org/CodeSystem/processpriority", "normal");
            w.WriteStartArray("insurance"u8);
            w.WriteStartObject();
            w.WriteNumber("sequence"u8, 1);
            w.WriteBoolean("focal"u8, true);
            w.WriteStartObject("coverage"u8);
            w.WriteString("display"u8, "Medicare");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("item"u8);
            w.WriteStartObject();
            w.WriteNumber("sequence"u8, 1);
            CodeableConcept(w, "productOrService", Snomed, "185345009");
            w.WriteStartArray("encounter"u8);
            w.WriteStartObject();
            w.WriteString("reference"u8, $"Encounter/{encounter}");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartObject("total"u8);
            w.WriteNumber("value"u8, total);
            w.WriteString("currency"u8, "USD");
            w.WriteEndObject();
        });

    public void Observation(Guid id, string patient, string kind, DateOnly date, double value, double value2) =>
        Line("Observation", w =>
        {
            w.WriteString("id"u8, id);
            w.WriteString("status"u8, "final");
            if (kind == "hba1c")
            {
                CodeableConcept(w, "code", Loinc, "4548-4");
                Reference(w, "subject", "Patient", patient);
                w.WriteString("effectiveDateTime"u8, DateTime(date, "T09:30:00Z"));
                Quantity(w, "valueQuantity", value, "%");
            }
            else
            {
                CodeableConcept(w, "code", Loinc, "85354-9");
                Reference(w, "subject", "Patient", patient);
                w.WriteString("effectiveDateTime"u8, DateTime(date, "T09:30:00Z"));
                w.WriteStartArray("component"u8);
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
            w.WriteString("id"u8, id);
            w.WriteString("status"u8, "active");
            CodeableConcept(w, "scope", "http://terminology.hl7.org/CodeSystem/consentscope", "research");
            w.WriteStartArray("category"u8);
            w.WriteStartObject();
            w.WriteStartArray("coding"u8);
            w.WriteStartObject();
            w.WriteString("system"u8, Loinc);
            w.WriteString("code"u8, "57016-8");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            Reference(w, "patient", "Patient", patient);
            w.WriteString("dateTime"u8, DateTime(from, "T12:00:00Z"));
            w.WriteStartObject("provision"u8);
            w.WriteString("type"u8, "deny");
            w.WriteStartObject("period"u8);
            w.WriteString("start"u8, DateTime(from, "T12:00:00Z"));
            w.WriteEndObject();
            w.WriteStartArray("purpose"u8);
            w.WriteStartObject();
            w.WriteString("system"u8, "http://terminology.hl7.org/CodeSystem/v3-ActReason");
            w.WriteString("code"u8, "HRESCH");
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
        w.WriteString("resourceType"u8, type);
        body(w);
        w.WriteEndObject();
        w.Flush();

        System.Buffers.BuffersExtensions.Write(buffer.Bytes, "\n"u8);
        buffer.Lines++;
    }

    private static void Identifier(Utf8JsonWriter w, string system, string value)
    {
        w.WriteStartObject();
        w.WriteString("system"u8, system);
        w.WriteString("value"u8, value);
        w.WriteEndObject();
    }

    private static void CodeableConcept(Utf8JsonWriter w, string name, string system, string code)
    {
        w.WriteStartObject(name);
        w.WriteStartArray("coding"u8);
        w.WriteStartObject();
        w.WriteString("system"u8, system);
        w.WriteString("code"u8, code);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Reference(Utf8JsonWriter w, string name, string type, string id)
    {
        w.WriteStartObject(name);
        w.WriteString("reference"u8, $"{type}/{id}");
        w.WriteEndObject();
    }

    private static void Quantity(Utf8JsonWriter w, string name, double value, string unit)
    {
        w.WriteStartObject(name);
        w.WriteNumber("value"u8, value);
        w.WriteString("unit"u8, unit);
        w.WriteString("system"u8, "http://unitsofmeasure.org");
        w.WriteString("code"u8, unit);
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
