using Npgsql;
using NpgsqlTypes;

namespace FederatedTwin.Node.Sources.Omop.Storage;

/// <summary>
/// The named queries the OMOP reader runs against a CDM v5.4 schema on PostgreSQL (OHDSI CDM v5.4 table and column names). Only
/// the columns a de-identified fact needs are selected: never a <c>*_source_value</c>, a name, an address line or a free-text
/// field. Every event query is ordered by person, so one patient's resources reach the ingest together, and is read as a
/// stream (Npgsql reads rows off the socket as they are consumed). A person without an observation period is not read, nor
/// are their events: OMOP's convention is that a person's data is only observed inside an OBSERVATION_PERIOD (OHDSI, The Book of
/// OHDSI, ch. 4 "The Common Data Model", OBSERVATION_PERIOD).
/// </summary>
public static class OmopQueries
{
    /// <summary>The tables the reader reads (the CDM v5.4 names), checked to exist before a pull starts.</summary>
    public static readonly IReadOnlyList<string> Tables =
    [
        "person", "observation_period", "death", "location", "visit_occurrence", "condition_occurrence", "measurement", "observation",
        "cost", "procedure_occurrence", "drug_exposure", "concept", "concept_ancestor", "concept_relationship",
    ];

    private static string Observed(string schema, string alias) =>
        $"EXISTS (SELECT 1 FROM {schema}.observation_period op WHERE op.person_id = {alias}.person_id)";

    /// <summary>The tables of <see cref="Tables"/> missing from the schema.</summary>
    public static List<string> MissingTables(NpgsqlConnection c, string schemaName)
    {
        using var command = new NpgsqlCommand("SELECT table_name::text FROM information_schema.tables WHERE table_schema = @schema", c);
        command.Parameters.AddWithValue("schema", schemaName);
        var present = new HashSet<string>(StringComparer.Ordinal);
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                present.Add(reader.GetString(0));
            }
        }

        return [.. Tables.Where(t => !present.Contains(t))];
    }

    /// <summary>Whether CONCEPT_ANCESTOR holds any row (the OHDSI vocabulary ships it filled; a subset may leave it empty).</summary>
    public static bool AncestorTableFilled(NpgsqlConnection c, string schema)
    {
        using var command = new NpgsqlCommand($"SELECT EXISTS (SELECT 1 FROM {schema}.concept_ancestor)", c);
        return (bool)command.ExecuteScalar()!;
    }

    /// <summary>
    /// The concept sets expanded to their descendants: (concept_id, set index). From CONCEPT_ANCESTOR when
    /// <paramref name="fromAncestorTable"/>, which holds every ancestor with itself at level 0 (CDM v5.4, CONCEPT_ANCESTOR); else by
    /// walking CONCEPT_RELATIONSHIP's valid 'Is a' rows (concept_id_1 is a concept_id_2) transitively, UNION dropping the repeats
    /// a cycle would make. The ancestors themselves are always in their sets.
    /// </summary>
    public static List<(long ConceptId, int Set)> ConceptSetMembers(NpgsqlConnection c, string schema, IReadOnlyList<long> ancestors, IReadOnlyList<int> sets, bool fromAncestorTable)
    {
        var sql = fromAncestorTable
            ? $"""
              SELECT s.ancestor, s.set_index FROM unnest(@ancestors, @sets) AS s(ancestor, set_index)
              UNION
              SELECT ca.descendant_concept_id, s.set_index FROM unnest(@ancestors, @sets) AS s(ancestor, set_index)
              JOIN {schema}.concept_ancestor ca ON ca.ancestor_concept_id = s.ancestor
              """
            : $"""
              WITH RECURSIVE d(concept_id, set_index) AS (
                  SELECT s.ancestor, s.set_index FROM unnest(@ancestors, @sets) AS s(ancestor, set_index)
                  UNION
                  SELECT r.concept_id_1, d.set_index FROM d JOIN {schema}.concept_relationship r
                      ON r.concept_id_2 = d.concept_id AND r.relationship_id = 'Is a' AND r.invalid_reason IS NULL)
              SELECT concept_id, set_index FROM d
              """;
        using var command = new NpgsqlCommand(sql, c);
        command.Parameters.Add(new NpgsqlParameter("ancestors", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = ancestors.ToArray() });
        command.Parameters.Add(new NpgsqlParameter("sets", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = sets.ToArray() });
        var members = new List<(long, int)>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            members.Add((reader.GetInt64(0), reader.GetInt32(1)));
        }

        return members;
    }

    /// <summary>
    /// PERSON with the date of death (DEATH) and the ZIP code of its LOCATION: person_id, gender_concept_id, year of birth, zip,
    /// death date. Month and day of birth are not read: the store keeps a birth year at most (45 CFR 164.514(b)(2)(i)(C)).
    /// </summary>
    public static string Persons(string schema) => $"""
        SELECT p.person_id, p.gender_concept_id, p.year_of_birth, l.zip,
               (SELECT min(d.death_date) FROM {schema}.death d WHERE d.person_id = p.person_id) AS death_date
        FROM {schema}.person p LEFT JOIN {schema}.location l ON l.location_id = p.location_id
        WHERE {Observed(schema, "p")}
        ORDER BY p.person_id
        """;

    /// <summary>
    /// VISIT_OCCURRENCE: id, person, visit concept, start and end (datetime, else date), and the codes of the conditions recorded
    /// on the visit (vocabulary|code of their standard and source concepts) as the visit's reasons, so a visit for a sensitive
    /// condition is flagged as its FHIR Encounter with that reasonCode would be.
    /// </summary>
    public static string Visits(string schema) => $"""
        SELECT v.visit_occurrence_id, v.person_id, v.visit_concept_id, COALESCE(v.visit_start_datetime, v.visit_start_date::timestamp),
               COALESCE(v.visit_end_datetime, v.visit_end_date::timestamp), r.codes
        FROM {schema}.visit_occurrence v
        LEFT JOIN (SELECT co.visit_occurrence_id, array_agg(DISTINCT c.vocabulary_id || '|' || c.concept_code) AS codes
                   FROM {schema}.condition_occurrence co
                   JOIN {schema}.concept c ON c.concept_id IN (co.condition_concept_id, co.condition_source_concept_id)
                   WHERE co.visit_occurrence_id IS NOT NULL AND c.vocabulary_id IN ('SNOMED', 'ICD10CM')
                   GROUP BY co.visit_occurrence_id) r ON r.visit_occurrence_id = v.visit_occurrence_id
        WHERE {Observed(schema, "v")}
        ORDER BY v.person_id, v.visit_occurrence_id
        """;

    /// <summary>CONDITION_OCCURRENCE: id, person, standard concept id, start and end date, vocabulary and code of the standard and of the source concept.</summary>
    public static string Conditions(string schema) => $"""
        SELECT co.condition_occurrence_id, co.person_id, co.condition_concept_id, co.condition_start_date, co.condition_end_date,
               c.vocabulary_id, c.concept_code, sc.vocabulary_id, sc.concept_code
        FROM {schema}.condition_occurrence co
        LEFT JOIN {schema}.concept c ON c.concept_id = co.condition_concept_id
        LEFT JOIN {schema}.concept sc ON sc.concept_id = co.condition_source_concept_id AND co.condition_source_concept_id <> 0
        WHERE {Observed(schema, "co")}
        ORDER BY co.person_id, co.condition_occurrence_id
        """;

    /// <summary>
    /// MEASUREMENT or OBSERVATION rows with a LOINC concept and a numeric value (what a lab fact can come from): id, person,
    /// date(time), LOINC code, value.
    /// </summary>
    public static string NumericLoinc(string schema, string table) => table switch
    {
        "measurement" => $"""
            SELECT m.measurement_id, m.person_id, COALESCE(m.measurement_datetime, m.measurement_date::timestamp), c.concept_code, m.value_as_number
            FROM {schema}.measurement m JOIN {schema}.concept c ON c.concept_id = m.measurement_concept_id AND c.vocabulary_id = 'LOINC'
            WHERE m.value_as_number IS NOT NULL AND {Observed(schema, "m")}
            ORDER BY m.person_id, m.measurement_id
            """,
        "observation" => $"""
            SELECT o.observation_id, o.person_id, COALESCE(o.observation_datetime, o.observation_date::timestamp), c.concept_code, o.value_as_number
            FROM {schema}.observation o JOIN {schema}.concept c ON c.concept_id = o.observation_concept_id AND c.vocabulary_id = 'LOINC'
            WHERE o.value_as_number IS NOT NULL AND {Observed(schema, "o")}
            ORDER BY o.person_id, o.observation_id
            """,
        _ => throw new ArgumentOutOfRangeException(nameof(table)),
    };

    /// <summary>
    /// COST rows with their person and date from the event they price (cost_domain_id and cost_event_id, CDM v5.4 COST: Visit,
    /// Condition, Measurement, Observation, Procedure, Drug), and one amount: total_paid (what was paid), else total_charge, else
    /// total_cost. A row whose event is not found or that has no amount is not read.
    /// </summary>
    public static string Costs(string schema) => $"""
        SELECT k.cost_id, e.person_id, e.event_date, COALESCE(k.total_paid, k.total_charge, k.total_cost) AS amount
        FROM {schema}.cost k
        JOIN LATERAL (
            SELECT v.person_id, v.visit_start_date AS event_date FROM {schema}.visit_occurrence v WHERE k.cost_domain_id = 'Visit' AND v.visit_occurrence_id = k.cost_event_id
            UNION ALL SELECT x.person_id, x.condition_start_date FROM {schema}.condition_occurrence x WHERE k.cost_domain_id = 'Condition' AND x.condition_occurrence_id = k.cost_event_id
            UNION ALL SELECT x.person_id, x.measurement_date FROM {schema}.measurement x WHERE k.cost_domain_id = 'Measurement' AND x.measurement_id = k.cost_event_id
            UNION ALL SELECT x.person_id, x.observation_date FROM {schema}.observation x WHERE k.cost_domain_id = 'Observation' AND x.observation_id = k.cost_event_id
            UNION ALL SELECT x.person_id, x.procedure_date FROM {schema}.procedure_occurrence x WHERE k.cost_domain_id = 'Procedure' AND x.procedure_occurrence_id = k.cost_event_id
            UNION ALL SELECT x.person_id, x.drug_exposure_start_date FROM {schema}.drug_exposure x WHERE k.cost_domain_id = 'Drug' AND x.drug_exposure_id = k.cost_event_id
        ) e ON true
        WHERE COALESCE(k.total_paid, k.total_charge, k.total_cost) IS NOT NULL AND {Observed(schema, "e")}
        ORDER BY e.person_id, k.cost_id
        """;
}
