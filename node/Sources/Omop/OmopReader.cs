using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Sources.Omop.Storage;
using Npgsql;

namespace FederatedTwin.Node.Sources.Omop;

/// <summary>A pull from an OMOP database that could not run: the stage, a code and a fixed sentence (never a value from the database).</summary>
public sealed class OmopSourceException(string stage, string code, string message) : Exception(message)
{
    /// <summary>"configuration", "connect", "schema", "concept_sets" or "read".</summary>
    public string Stage { get; } = stage;

    public string Code { get; } = code;
}

/// <summary>
/// Reads an OMOP CDM v5.4 database on PostgreSQL (issue 22) as FHIR R4 resources, one NDJSON stream per CDM table, for the node's
/// one ingest (<see cref="IngestPipeline.Run(IEnumerable{IngestInput}, IReadOnlyList{DeletedResource}, Action{long, long}?, CancellationToken)"/>),
/// so Safe Harbor, consent and the sensitive-category exclusions apply exactly as to a FHIR export. Only what a fact needs is read
/// (<see cref="OmopQueries"/>); each row becomes a resource carrying no more than the FHIR path keeps of its FHIR twin: the year
/// of birth (not month or day), years of events (times only for a visit's length), the ZIP code for the zip3 rule, standard
/// concept codes. Resource ids are the CDM's keys (p&lt;person_id&gt;, v&lt;visit&gt;, c&lt;condition&gt;, m&lt;measurement&gt;,
/// o&lt;observation&gt;, k&lt;cost&gt;), which the ingest replaces by keyed hashes. A condition whose standard concept is in a
/// concept set of the feature schema (<see cref="ConceptSets"/>) is emitted so it lands in that set's condition.
/// </summary>
public sealed partial class OmopReader : IDisposable
{
    private const string Snomed = "http://snomed.info/sct", Icd10Cm = "http://hl7.org/fhir/sid/icd-10-cm", Loinc = "http://loinc.org";
    private readonly NpgsqlDataSource _database;
    private readonly string _schema;

    /// <summary>
    /// A reader of the CDM at <paramref name="connectionString"/> (a PostgreSQL connection string without a password) in
    /// <paramref name="schema"/> (default "public"). Its sessions are read-only (default_transaction_read_only).
    /// </summary>
    /// <exception cref="OmopSourceException">The connection string holds a password or is not one, or the schema name is not a plain identifier.</exception>
    public OmopReader(string connectionString, string? schema = null)
    {
        var builder = CheckConnectionString(connectionString);
        SchemaName = schema is null or "" ? "public" : schema;
        if (!SchemaPattern().IsMatch(SchemaName))
        {
            throw new OmopSourceException("configuration", "invalid_schema", "The OMOP schema name must be a plain PostgreSQL identifier (letters, digits, underscores; at most 63).");
        }

        _schema = "\"" + SchemaName + "\"";
        builder.ApplicationName ??= "ftwin-omop";
        // The node never writes to the CDM: every session is read-only whatever the role may do.
        builder.Options = string.Join(' ', new[] { builder.Options, "-c default_transaction_read_only=on" }.Where(o => !string.IsNullOrEmpty(o)));
        _database = NpgsqlDataSource.Create(builder);
    }

    /// <summary>The CDM schema read.</summary>
    public string SchemaName { get; }

    /// <summary>Rows read and resources emitted per table by the streams of <see cref="Inputs"/>.</summary>
    public OmopTableCounts Counts { get; } = new();

    /// <summary>
    /// Refuses a connection string that holds a password: it would sit in node-config.json in the clear. PostgreSQL gives the
    /// password from the environment (PGPASSWORD), a password file (PGPASSFILE, ~/.pgpass) or needs none (peer, trust,
    /// certificate authentication), and Npgsql reads all of them.
    /// </summary>
    public static NpgsqlConnectionStringBuilder CheckConnectionString(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new OmopSourceException("configuration", "invalid_connection_string", "The OMOP connection string is not a valid PostgreSQL (Npgsql) connection string.");
        }

        if (!string.IsNullOrEmpty(builder.Password))
        {
            throw new OmopSourceException("configuration", "password_in_connection_string",
                "The OMOP connection string holds a password, which would be stored in node-config.json in the clear: remove it, and give the password "
                + "through the PGPASSWORD environment variable or a PostgreSQL password file (PGPASSFILE or ~/.pgpass), or use peer, trust or certificate authentication.");
        }

        return builder;
    }

    /// <summary>Connects and checks that every table read exists in the schema.</summary>
    public void CheckSchema()
    {
        List<string> missing;
        try
        {
            using var connection = _database.OpenConnection();
            missing = OmopQueries.MissingTables(connection, SchemaName);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            var authentication = e is PostgresException { SqlState: "28P01" or "28000" } || (e is not PostgresException && e.Message.Contains("password", StringComparison.OrdinalIgnoreCase));
            throw authentication
                ? new OmopSourceException("connect", "authentication_failed", $"The OMOP database refused the login ({Reason(e)}): give the role's password through PGPASSWORD or a PostgreSQL password file (PGPASSFILE or ~/.pgpass), never in the connection string.")
                : new OmopSourceException("connect", "connection_failed", $"Could not connect to the OMOP database or query it ({Reason(e)}): check its host, port, database and role.");
        }

        if (missing.Count > 0)
        {
            throw new OmopSourceException("schema", "missing_tables", $"The OMOP schema {SchemaName} lacks the CDM v5.4 tables {string.Join(", ", missing)}.");
        }
    }

    /// <summary>The feature schema's concept sets expanded in this CDM's vocabulary: CONCEPT_ANCESTOR when it holds rows, else CONCEPT_RELATIONSHIP 'Is a'.</summary>
    public ConceptSets ExpandConceptSets()
    {
        try
        {
            using var connection = _database.OpenConnection();
            var filled = OmopQueries.AncestorTableFilled(connection, _schema);
            var roots = ConceptSets.Roots;
            var members = OmopQueries.ConceptSetMembers(connection, _schema, [.. roots.Select(r => r.AncestorConceptId)], [.. Enumerable.Range(0, roots.Count)], filled);
            var first = new Dictionary<long, ConceptSetRoot>();
            foreach (var (concept, set) in members.OrderBy(m => m.Set))
            {
                first.TryAdd(concept, roots[set]);
            }

            return new ConceptSets(first, filled);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new OmopSourceException("concept_sets", "concept_set_expansion_failed", $"Could not expand the concept sets in the OMOP vocabulary tables ({Reason(e)}).");
        }
    }

    /// <summary>
    /// One input per CDM table read, each a stream of FHIR R4 NDJSON lines run when the ingest reaches it:
    /// PERSON (+ DEATH, LOCATION) as Patient, VISIT_OCCURRENCE as Encounter, CONDITION_OCCURRENCE as Condition, MEASUREMENT and
    /// OBSERVATION as Observation, COST as ExplanationOfBenefit. <paramref name="sourceId"/> names each input for the quarantine
    /// (a keyed hash: <see cref="Pseudonymizer.SourcePath"/>).
    /// </summary>
    public IReadOnlyList<IngestInput> Inputs(ConceptSets sets, Func<string, string> sourceId)
    {
        IngestInput Input(string table, string sql, Func<NpgsqlDataReader, Utf8JsonWriter, bool> write)
        {
            Counts.Register(table);
            return new(sourceId(table), SourceFormat.Ndjson, () => new RowStream(_database, table, sql, write, Counts));
        }

        return
        [
            Input("person", OmopQueries.Persons(_schema), WritePatient),
            Input("visit_occurrence", OmopQueries.Visits(_schema), WriteEncounter),
            Input("condition_occurrence", OmopQueries.Conditions(_schema), (r, w) => WriteCondition(r, w, sets)),
            Input("measurement", OmopQueries.NumericLoinc(_schema, "measurement"), (r, w) => WriteObservation(r, w, "m")),
            Input("observation", OmopQueries.NumericLoinc(_schema, "observation"), (r, w) => WriteObservation(r, w, "o")),
            Input("cost", OmopQueries.Costs(_schema), WriteCost),
        ];
    }

    public void Dispose() => _database.Dispose();

    // Gender concepts of the OHDSI Gender vocabulary: 8507 MALE, 8532 FEMALE (FHIR administrative-gender male, female).
    private static bool WritePatient(NpgsqlDataReader r, Utf8JsonWriter w)
    {
        var id = r.GetInt64(0);
        w.WriteStartObject();
        w.WriteString("resourceType", "Patient");
        w.WriteString("id", "p" + id.ToString(CultureInfo.InvariantCulture));
        w.WriteString("gender", r.IsDBNull(1) ? "unknown" : r.GetInt64(1) switch { 8507 => "male", 8532 => "female", _ => "unknown" });
        if (!r.IsDBNull(2) && r.GetInt64(2) is >= 1 and <= 9999 and var year)
        {
            w.WriteString("birthDate", year.ToString("D4", CultureInfo.InvariantCulture));
        }

        if (!r.IsDBNull(4))
        {
            w.WriteString("deceasedDateTime", Year(r.GetDateTime(4)));
        }

        if (!r.IsDBNull(3))
        {
            w.WriteStartArray("address");
            w.WriteStartObject();
            w.WriteString("postalCode", r.GetString(3));
            w.WriteEndObject();
            w.WriteEndArray();
        }

        w.WriteEndObject();
        return true;
    }

    /// <summary>
    /// Visit concepts (OHDSI Visit vocabulary) to FHIR Encounter.class (v3-ActCode): 9201 Inpatient Visit, 262 Emergency Room and
    /// Inpatient Visit, 8717 Inpatient Hospital, 32037 Intensive Care as IMP; 9203 Emergency Room Visit, 8870 Emergency Room -
    /// Hospital as EMER; 42898160 Non-hospital institution Visit as NONAC; everything else AMB.
    /// </summary>
    private static string VisitClass(long concept) => concept switch
    {
        9201 or 262 or 8717 or 32037 => "IMP",
        9203 or 8870 => "EMER",
        42898160 => "NONAC",
        _ => "AMB",
    };

    private static bool WriteEncounter(NpgsqlDataReader r, Utf8JsonWriter w)
    {
        if (r.IsDBNull(3))
        {
            return false;
        }

        w.WriteStartObject();
        w.WriteString("resourceType", "Encounter");
        w.WriteString("id", "v" + r.GetInt64(0).ToString(CultureInfo.InvariantCulture));
        w.WriteString("status", "finished");
        w.WriteStartObject("class");
        w.WriteString("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
        w.WriteString("code", VisitClass(r.IsDBNull(2) ? 0 : r.GetInt64(2)));
        w.WriteEndObject();
        Subject(w, "subject", r.GetInt64(1));
        w.WriteStartObject("period");
        w.WriteString("start", Instant(r.GetDateTime(3)));
        if (!r.IsDBNull(4))
        {
            w.WriteString("end", Instant(r.GetDateTime(4)));
        }

        w.WriteEndObject();
        if (!r.IsDBNull(5) && r.GetFieldValue<string[]>(5) is { Length: > 0 } reasons)
        {
            w.WriteStartArray("reasonCode");
            foreach (var reason in reasons)
            {
                var bar = reason.IndexOf('|', StringComparison.Ordinal);
                w.WriteStartObject();
                w.WriteStartArray("coding");
                Coding(w, SystemOf(reason[..bar])!, reason[(bar + 1)..]);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
        return true;
    }

    /// <summary>
    /// A condition with the codes of its standard and source concepts (SNOMED, ICD-10-CM), so the FHIR path's chronic-condition,
    /// ESRD and sensitive lists see what they would see in a FHIR Condition. When the standard concept is in a concept set and the
    /// first of those codes the chronic list maps is not that set's condition, the set's SNOMED code comes first (the FHIR
    /// path takes the first code its list maps).
    /// </summary>
    private static bool WriteCondition(NpgsqlDataReader r, Utf8JsonWriter w, ConceptSets sets)
    {
        if (r.IsDBNull(3))
        {
            return false;
        }

        var codes = new List<(string System, string Code)>(3);
        for (var col = 5; col <= 7; col += 2)
        {
            if (!r.IsDBNull(col) && !r.IsDBNull(col + 1) && SystemOf(r.GetString(col)) is { } system && !codes.Contains((system, r.GetString(col + 1))))
            {
                codes.Add((system, r.GetString(col + 1)));
            }
        }

        if (!r.IsDBNull(2) && sets.SetOf(r.GetInt64(2)) is { } set
            && codes.Select(c => CodeList.ChronicConditions.Match(c.System, c.Code)).FirstOrDefault(m => m is not null) != set.Condition)
        {
            codes.Insert(0, (Snomed, set.SnomedCode));
        }

        w.WriteStartObject();
        w.WriteString("resourceType", "Condition");
        w.WriteString("id", "c" + r.GetInt64(0).ToString(CultureInfo.InvariantCulture));
        if (codes.Count > 0)
        {
            w.WriteStartObject("code");
            w.WriteStartArray("coding");
            foreach (var (system, code) in codes)
            {
                Coding(w, system, code);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        Subject(w, "subject", r.GetInt64(1));
        w.WriteString("onsetDateTime", Year(r.GetDateTime(3)));
        if (!r.IsDBNull(4))
        {
            w.WriteString("abatementDateTime", Year(r.GetDateTime(4)));
        }

        w.WriteEndObject();
        return true;
    }

    private static bool WriteObservation(NpgsqlDataReader r, Utf8JsonWriter w, string prefix)
    {
        if (r.IsDBNull(2) || Number(r, 4) is not { } value)
        {
            return false;
        }

        w.WriteStartObject();
        w.WriteString("resourceType", "Observation");
        w.WriteString("id", prefix + r.GetInt64(0).ToString(CultureInfo.InvariantCulture));
        w.WriteString("status", "final");
        w.WriteStartObject("code");
        w.WriteStartArray("coding");
        Coding(w, Loinc, r.GetString(3));
        w.WriteEndArray();
        w.WriteEndObject();
        Subject(w, "subject", r.GetInt64(1));
        w.WriteString("effectiveDateTime", Year(r.GetDateTime(2)));
        w.WriteStartObject("valueQuantity");
        w.WriteNumber("value", value);
        w.WriteEndObject();
        w.WriteEndObject();
        return true;
    }

    /// <summary>
    /// A COST row as an ExplanationOfBenefit whose payment is the row's amount (total_paid, else total_charge, else total_cost;
    /// the feature's cost sums ExplanationOfBenefit payments). The elements FHIR R4 requires of an ExplanationOfBenefit and that
    /// the CDM does not hold (insurer, provider, insurance) are fixed placeholders naming no one.
    /// </summary>
    private static bool WriteCost(NpgsqlDataReader r, Utf8JsonWriter w)
    {
        if (r.IsDBNull(2) || Number(r, 3) is not { } amount)
        {
            return false;
        }

        var year = Year(r.GetDateTime(2));
        w.WriteStartObject();
        w.WriteString("resourceType", "ExplanationOfBenefit");
        w.WriteString("id", "k" + r.GetInt64(0).ToString(CultureInfo.InvariantCulture));
        w.WriteString("status", "active");
        w.WriteStartObject("type");
        w.WriteStartArray("coding");
        Coding(w, "http://terminology.hl7.org/CodeSystem/claim-type", "institutional");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteString("use", "claim");
        Subject(w, "patient", r.GetInt64(1));
        w.WriteStartObject("billablePeriod");
        w.WriteString("start", year);
        w.WriteEndObject();
        w.WriteString("created", year);
        Placeholder(w, "insurer");
        Placeholder(w, "provider");
        w.WriteString("outcome", "complete");
        w.WriteStartArray("insurance");
        w.WriteStartObject();
        w.WriteBoolean("focal", true);
        Placeholder(w, "coverage");
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteStartObject("payment");
        w.WriteStartObject("amount");
        w.WriteNumber("value", amount);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        return true;
    }

    private static void Placeholder(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteString("display", "OMOP CDM");
        w.WriteEndObject();
    }

    private static void Subject(Utf8JsonWriter w, string name, long personId)
    {
        w.WriteStartObject(name);
        w.WriteString("reference", "Patient/p" + personId.ToString(CultureInfo.InvariantCulture));
        w.WriteEndObject();
    }

    private static void Coding(Utf8JsonWriter w, string system, string code)
    {
        w.WriteStartObject();
        w.WriteString("system", system);
        w.WriteString("code", code);
        w.WriteEndObject();
    }

    /// <summary>The FHIR system of an OHDSI vocabulary_id the FHIR path's code lists know; null for the others.</summary>
    private static string? SystemOf(string vocabulary) => vocabulary switch
    {
        "SNOMED" => Snomed,
        "ICD10CM" => Icd10Cm,
        _ => null,
    };

    /// <summary>A numeric column as a FHIR decimal; null when empty or not finite (a float column's NaN).</summary>
    private static decimal? Number(NpgsqlDataReader r, int column)
    {
        if (r.IsDBNull(column))
        {
            return null;
        }

        var value = r.GetValue(column);
        return value switch
        {
            decimal d => d,
            double x when double.IsFinite(x) && Math.Abs(x) < 7.9e27 => (decimal)x,
            float f when float.IsFinite(f) => (decimal)f,
            long l => l,
            int i => i,
            _ => null,
        };
    }

    // The ingest keeps years only: an event's date goes out as its year (a FHIR partial dateTime), a visit's times in UTC for its length.
    private static string Year(DateTime value) => value.Year.ToString("D4", CultureInfo.InvariantCulture);

    private static string Instant(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string Reason(Exception e) => (e as PostgresException)?.SqlState is { } state ? "SQLSTATE " + state : e.InnerException?.GetType().Name ?? e.GetType().Name;

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex SchemaPattern();
}
