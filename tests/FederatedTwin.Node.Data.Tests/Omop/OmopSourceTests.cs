using System.Diagnostics;
using System.Globalization;
using System.Text;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Omop;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using Xunit.Abstractions;

namespace FederatedTwin.Node.Data.Tests.Omop;

/// <summary>
/// The OMOP CDM source (issue 22) against the Synthea27Nj CDM v5.4 sample in a real PostgreSQL: what the node computes from the
/// CDM is checked against SQL written here, independently of the product's queries and concept sets.
/// </summary>
[Collection("Omop")]
[Trait("Category", "Omop")]
public sealed class OmopSourceTests(OmopCdmFixture cdm, ITestOutputHelper output)
{
    private static readonly string[] Bands = ["0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85-89", "90+"];

    private (NodeDirectory Node, PullSummary Summary, OmopPuller Puller) Pull(string schema, string name = "cdm-test", string? connection = null)
    {
        var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("omop-node"), time: DataTestSupport.Clock());
        var (summary, puller) = PullInto(node, schema, name, connection);
        return (node, summary, puller);
    }

    private (PullSummary, OmopPuller) PullInto(NodeDirectory node, string schema, string name = "cdm-test", string? connection = null)
    {
        var puller = new OmopPuller(DataTestSupport.Clock());
        var source = new DataSource(name, SourceKind.Omop, OmopConnection: connection ?? cdm.ConnectionString, OmopSchema: schema);
        return (puller.PullAsync(node, source, new PullOptions(null), CancellationToken.None).GetAwaiter().GetResult(), puller);
    }

    /// <summary>The census the node computes (persons alive at the start of each year, by age band and sex) equals a count written in SQL on the CDM.</summary>
    [Fact]
    public void The_census_by_year_age_band_and_sex_equals_a_count_on_the_cdm()
    {
        var (node, summary, _) = Pull("cdm");
        using (node)
        {
            Assert.True(summary.Complete);
            Assert.Equal(0, summary.Quarantined);
            Assert.Equal(28, cdm.Scalar<long>("SELECT count(*) FROM cdm.person"));
            Assert.Equal(28L, node.Store.Read(c => FeatureQueries.PatientCount(c, FeatureQueries.PublishedVersion(c))));
            var compared = 0L;
            for (var year = 2000; year <= 2022; year++)
            {
                // Opt-out purpose (operations): every patient without a Consent counts, as on the FHIR path.
                var node_ = Census.PatientsByAgeBandAndSex(node.Store, year, "HOPERAT", optIn: false);
                var expected = new long[Bands.Length * 2];
                // Alive at the start of the year (died that year or later), born by then; 90 and over when the age at death (or in
                // 2026, the test clock's year) is over 89 (Safe Harbor); male 8507, female 8532.
                foreach (var row in cdm.Rows($"""
                    SELECT CASE WHEN LEAST(COALESCE(d.y, 2026), 2026) - p.year_of_birth >= 90 THEN 90 ELSE LEAST({year} - p.year_of_birth, 90) END AS age,
                           p.gender_concept_id
                    FROM cdm.person p LEFT JOIN (SELECT person_id, min(extract(year FROM death_date))::int AS y FROM cdm.death GROUP BY person_id) d ON d.person_id = p.person_id
                    WHERE EXISTS (SELECT 1 FROM cdm.observation_period op WHERE op.person_id = p.person_id)
                      AND (d.y IS NULL OR d.y >= {year}) AND p.year_of_birth <= {year} AND p.gender_concept_id IN (8507, 8532)
                    """))
                {
                    var age = Convert.ToInt32(row[0], CultureInfo.InvariantCulture);
                    var band = age switch { < 18 => 0, < 35 => 1, < 50 => 2, < 65 => 3, < 75 => 4, < 85 => 5, < 90 => 6, _ => 7 };
                    expected[(band * 2) + (Convert.ToInt32(row[1], CultureInfo.InvariantCulture) == 8507 ? 1 : 0)]++;
                }

                Assert.Equal(expected, node_);
                compared += expected.Sum();
            }

            Assert.True(compared > 28 * 10, $"only {compared} patient-years compared");
        }
    }

    /// <summary>
    /// Condition facts per feature condition equal a count over concept lists written here from the sample's CONCEPT table (not
    /// from the product's concept sets or code lists): the sample's condition concepts of each chronic condition.
    /// </summary>
    [Fact]
    public void Conditions_per_feature_condition_equal_a_count_over_a_hand_written_concept_list()
    {
        var handWritten = new Dictionary<string, long[]>
        {
            ["heart_failure"] = [4229440], // Chronic congestive heart failure
            ["diabetes"] = [201826, 4226121, 192279], // Type 2 diabetes mellitus; Retinopathy due to type 2 DM; Disorder of kidney due to DM
            ["ckd"] = [443614], // Chronic kidney disease stage 1
            ["hypertension"] = [320128], // Essential hypertension
            ["cad"] = [317576], // Coronary arteriosclerosis
            ["asthma"] = [4051466], // Childhood asthma
            ["dementia"] = [378419], // Alzheimer's disease
            ["copd"] = [], ["depression"] = [], ["obesity"] = [], ["cancer"] = [], // none in the sample
        };
        var (node, _, _) = Pull("cdm");
        using (node)
        {
            var facts = ConditionFacts(node);
            foreach (var (condition, concepts) in handWritten)
            {
                var ids = concepts.Length == 0 ? "NULL" : string.Join(',', concepts);
                var rows = cdm.Scalar<long>($"SELECT count(*) FROM cdm.condition_occurrence WHERE condition_concept_id IN ({ids})");
                var persons = cdm.Scalar<long>($"SELECT count(DISTINCT person_id) FROM cdm.condition_occurrence WHERE condition_concept_id IN ({ids})");
                Assert.True(facts.GetValueOrDefault(condition).Rows == rows, $"{condition}: node {facts.GetValueOrDefault(condition).Rows} facts, CDM {rows} rows");
                Assert.Equal(persons, facts.GetValueOrDefault(condition).Patients);
            }

            // Every category the node found is one of the lists above (none beyond them).
            Assert.All(facts.Keys.Where(k => k != "esrd"), k => Assert.Contains(k, handWritten.Keys));
            Assert.True(facts["diabetes"].Rows >= 3);
        }
    }

    /// <summary>No person_source_value, visit_source_value or full birth date of the CDM is anywhere in the node's directory.</summary>
    [Fact]
    public void No_source_value_or_full_birth_date_reaches_the_node_directory()
    {
        var person = File.ReadAllLines(Path.Combine(cdm.CsvDirectory, "PERSON.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        var sourceValues = person.Select(p => p[11]).Where(v => v.Length > 0).ToList();
        var birthDates = person.Select(p => p[5]).Where(v => v.Length >= 10).Select(v => v[..10]).Distinct().ToList();
        var visitSourceValues = File.ReadAllLines(Path.Combine(cdm.CsvDirectory, "VISIT_OCCURRENCE.csv")).Skip(1).Select(l => l.Split(',')[10]).Where(v => v.Length > 0).ToList();
        Assert.Equal(28, sourceValues.Count);
        Assert.True(birthDates.Count > 0);
        Assert.True(visitSourceValues.Count > 1000);

        var (node, summary, _) = Pull("cdm");
        var dir = node.Path;
        node.Dispose();
        Assert.True(summary.Accepted > 0);
        var needles = sourceValues.Concat(birthDates).Concat(visitSourceValues).Append("Patient/p").Distinct().ToList();
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            var bytes = File.ReadAllBytes(file);
            foreach (var needle in needles)
            {
                if (bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0 || bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(needle)) >= 0)
                {
                    found.Add($"{Path.GetFileName(file)}: {needle}");
                }
            }
        }

        Assert.Empty(found);
    }

    /// <summary>
    /// An HIV infection and an alcohol dependence (42 CFR Part 2) with an emergency visit for it and a routine visit with its COST row, inserted into a CDM, are excluded
    /// exactly as their FHIR equivalents are; the person, without a Consent, follows the consent defaults as on the FHIR path.
    /// </summary>
    [Fact]
    public void Sensitive_conditions_and_consent_defaults_apply_as_on_the_fhir_path()
    {
        cdm.CreateSchemaCopy("cdm_sensitive", "concept", "concept_relationship");
        cdm.Execute("""
            INSERT INTO cdm_sensitive.concept VALUES
              (439727, 'Human immunodeficiency virus infection', 'Condition', 'SNOMED', 'Clinical Finding', 'S', '86406008', '1970-01-01', '2099-12-31', NULL),
              (435243, 'Alcohol dependence', 'Condition', 'SNOMED', 'Clinical Finding', 'S', '66590003', '1970-01-01', '2099-12-31', NULL)
              ON CONFLICT DO NOTHING;
            INSERT INTO cdm_sensitive.person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) VALUES (900001, 8532, 1970, 0, 0);
            INSERT INTO cdm_sensitive.observation_period VALUES (1, 900001, '2015-01-01', '2023-12-31', 32817);
            INSERT INTO cdm_sensitive.visit_occurrence (visit_occurrence_id, person_id, visit_concept_id, visit_start_date, visit_start_datetime, visit_end_date, visit_end_datetime, visit_type_concept_id)
              VALUES (1, 900001, 9203, '2021-03-04', '2021-03-04 10:00:00', '2021-03-04', '2021-03-04 12:00:00', 32817),
                     (2, 900001, 9202, '2021-05-04', '2021-05-04 10:00:00', '2021-05-04', '2021-05-04 10:30:00', 32817);
            INSERT INTO cdm_sensitive.condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, condition_start_date, condition_type_concept_id, visit_occurrence_id)
              VALUES (1, 900001, 439727, '2020-05-01', 32817, NULL), (2, 900001, 435243, '2021-03-04', 32817, 1);
            INSERT INTO cdm_sensitive.cost (cost_id, cost_event_id, cost_domain_id, cost_type_concept_id, total_charge, total_paid) VALUES (1, 2, 'Visit', 32817, 400.00, 123.45);
            """);
        var (omop, summary, _) = Pull("cdm_sensitive");

        // The same person as FHIR R4: a Condition coded SNOMED 86406008, one coded 66590003, an emergency Encounter for it, a routine visit.
        var export = DataTestSupport.TempDir("omop-fhir-twin");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), "{\"resourceType\":\"Patient\",\"id\":\"x1\",\"gender\":\"female\",\"birthDate\":\"1970-06-01\"}\n");
        File.WriteAllText(Path.Combine(export, "Condition.000.ndjson"),
            "{\"resourceType\":\"Condition\",\"id\":\"h1\",\"subject\":{\"reference\":\"Patient/x1\"},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"86406008\"}]},\"onsetDateTime\":\"2020-05-01\"}\n"
            + "{\"resourceType\":\"Condition\",\"id\":\"a1\",\"subject\":{\"reference\":\"Patient/x1\"},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"66590003\"}]},\"onsetDateTime\":\"2021-03-04\"}\n");
        File.WriteAllText(Path.Combine(export, "Encounter.000.ndjson"),
            "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"EMER\"},\"subject\":{\"reference\":\"Patient/x1\"},"
            + "\"period\":{\"start\":\"2021-03-04T10:00:00Z\",\"end\":\"2021-03-04T12:00:00Z\"},\"reasonCode\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"66590003\"}]}]}\n"
            + "{\"resourceType\":\"Encounter\",\"id\":\"e2\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},\"subject\":{\"reference\":\"Patient/x1\"},"
            + "\"period\":{\"start\":\"2021-05-04T10:00:00Z\",\"end\":\"2021-05-04T10:30:00Z\"}}\n");
        File.WriteAllText(Path.Combine(export, "ExplanationOfBenefit.000.ndjson"),
            "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"b1\",\"status\":\"active\",\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/claim-type\",\"code\":\"institutional\"}]},"
            + "\"use\":\"claim\",\"patient\":{\"reference\":\"Patient/x1\"},\"billablePeriod\":{\"start\":\"2021-05-04\"},\"created\":\"2021-05-04\",\"insurer\":{\"display\":\"x\"},"
            + "\"provider\":{\"display\":\"x\"},\"outcome\":\"complete\",\"insurance\":[{\"focal\":true,\"coverage\":{\"display\":\"x\"}}],\"payment\":{\"amount\":{\"value\":123.45}}}\n");
        using var fhir = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("omop-fhir-node"), time: DataTestSupport.Clock());
        Assert.Equal(0, DataTestSupport.Ingest(fhir, export, DataTestSupport.Clock()).Quarantined);
        using (omop)
        {
            Assert.Equal(0, summary.Quarantined);
            var fromOmop = new FeatureBuilder(omop.Store).SensitiveExclusions();
            Assert.Equal(new Dictionary<string, long> { ["hiv"] = 1, ["sud"] = 2 }, fromOmop);
            Assert.Equal(new FeatureBuilder(fhir.Store).SensitiveExclusions(), fromOmop);

            // Without a Consent: research is opt-in by default (left out), operations opt-out (counted), on both paths.
            foreach (var (purpose, optIn, expected) in new[] { ("HRESCH", true, 0L), ("HOPERAT", false, 1L) })
            {
                Assert.Equal(expected, Census.PatientsByAgeBandAndSex(omop.Store, 2021, purpose, optIn).Sum());
                Assert.Equal(Census.PatientsByAgeBandAndSex(fhir.Store, 2021, purpose, optIn), Census.PatientsByAgeBandAndSex(omop.Store, 2021, purpose, optIn));
            }

            var row = Assert.Single(new FeatureBuilder(omop.Store).All(), r => r.Values["year"] == 2021);
            Assert.Equal(0, row.Values["ed_visits"]); // the emergency visit for alcohol dependence is excluded (sud)
            Assert.Equal(1, row.Values["ambulatory_visits"]);
            Assert.Equal(123.45, row.Values["cost"]); // COST.total_paid of the visit
            Assert.Equal(1, row.Values["cost_from_claims"]);
            Assert.Equal(new FeatureBuilder(fhir.Store).All().Single(r => r.Values["year"] == 2021).Values, row.Values);
        }
    }

    /// <summary>A second pull of an unchanged CDM changes nothing; a connection string with a password is refused before anything runs.</summary>
    [Fact]
    public void A_second_pull_is_unchanged_and_a_password_in_the_connection_string_is_refused()
    {
        var (node, first, _) = Pull("cdm");
        using (node)
        {
            var (second, puller) = PullInto(node, "cdm");
            Assert.True(second.Complete);
            Assert.Equal(first.LinesRead, second.LinesRead);
            Assert.Equal(second.LinesRead, puller.LastIngest!.Unchanged);
            Assert.Equal(0, puller.LastIngest.PatientsUpdated);
            var state = node.Store.Read(c => SourceQueries.Get(c, "source:cdm-test"))!;
            Assert.Equal("succeeded", state.LastStatus);
            Assert.Equal(second.TransactionTime, state.Watermark);

            var withPassword = cdm.ConnectionString + ";Password=hunter2-secret";
            var refused = Assert.Throws<OmopSourceException>(() => PullInto(node, "cdm", connection: withPassword));
            Assert.Equal("password_in_connection_string", refused.Code);
            Assert.Contains("PGPASSWORD", refused.Message, StringComparison.Ordinal);
            Assert.Contains("PGPASSFILE", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("hunter2", refused.Message, StringComparison.Ordinal);
            var after = node.Store.Read(c => SourceQueries.Get(c, "source:cdm-test"))!;
            Assert.Equal("failed", after.LastStatus);
            Assert.Equal(second.TransactionTime, after.Watermark);

            var entries = node.Store.Read(c => AuditLog.ReadAll(c).Entries);
            Assert.Equal(2, entries.Count(e => e.Action == AuditActions.SourcePulled));
            var failed = Assert.Single(entries, e => e.Action == AuditActions.SourcePullFailed);
            Assert.Contains("password_in_connection_string", failed.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain(entries, e => e.Detail.Contains("hunter2", StringComparison.Ordinal) || e.Detail.Contains("127.0.0.1", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// The concept sets expand through CONCEPT_RELATIONSHIP 'Is a' when CONCEPT_ANCESTOR is empty (the sample), and through
    /// CONCEPT_ANCESTOR alone once it holds rows: an ancestor row putting Childhood asthma under Heart failure moves that
    /// condition's facts from asthma to heart failure, and Chronic congestive heart failure is no longer reached by 'Is a'.
    /// </summary>
    [Fact]
    public void Concept_sets_use_is_a_relationships_when_the_ancestor_table_is_empty_and_the_ancestor_table_when_filled()
    {
        using (var reader = new OmopReader(cdm.ConnectionString, "cdm"))
        {
            var sets = reader.ExpandConceptSets();
            Assert.False(sets.FromAncestorTable);
            Assert.Contains(4229440L, sets.Members("heart_failure")); // Chronic congestive heart failure 'Is a' ... Heart failure (316139)
            Assert.Contains(201826L, sets.Members("diabetes"));
            Assert.Contains(320128L, sets.Members("hypertension"));
            Assert.DoesNotContain(4051466L, sets.Members("heart_failure"));
        }

        cdm.CreateSchemaCopy("cdm_ancestor", [.. OmopCdmFixture.Tables.Where(t => t != "concept_ancestor")]);
        cdm.Execute("INSERT INTO cdm_ancestor.concept_ancestor VALUES (316139, 316139, 0, 0), (316139, 4051466, 1, 1)");
        using (var reader = new OmopReader(cdm.ConnectionString, "cdm_ancestor"))
        {
            var sets = reader.ExpandConceptSets();
            Assert.True(sets.FromAncestorTable);
            Assert.Equal(new HashSet<long> { 316139, 4051466 }, sets.Members("heart_failure"));
            Assert.Equal(new HashSet<long> { 317009 }, sets.Members("asthma"));
        }

        var (node, _, _) = Pull("cdm_ancestor", "ancestor");
        using (node)
        {
            var facts = ConditionFacts(node);
            Assert.Equal(2, facts["heart_failure"].Rows); // 4229440 through its own SNOMED code (chronic-conditions.csv), 4051466 through the set
            Assert.False(facts.ContainsKey("asthma"));
        }
    }

    /// <summary>Rows read per table equal counts written here; prints the figures of a few pulls (persons, rows, resources, seconds, rows/s).</summary>
    [Fact]
    public void Rows_read_per_table_equal_the_cdm_and_the_figures_are_reported()
    {
        var expected = new Dictionary<string, long>
        {
            ["person"] = cdm.Scalar<long>("SELECT count(*) FROM cdm.person"),
            ["visit_occurrence"] = cdm.Scalar<long>("SELECT count(*) FROM cdm.visit_occurrence"),
            ["condition_occurrence"] = cdm.Scalar<long>("SELECT count(*) FROM cdm.condition_occurrence"),
            ["measurement"] = cdm.Scalar<long>("SELECT count(*) FROM cdm.measurement m JOIN cdm.concept c ON c.concept_id = m.measurement_concept_id WHERE c.vocabulary_id = 'LOINC' AND m.value_as_number IS NOT NULL"),
        };
        Assert.Equal(1791, expected["visit_occurrence"]);
        output.WriteLine($"cluster start and sample load: {cdm.LoadSeconds:F2} s");
        for (var run = 0; run < 3; run++)
        {
            var clock = Stopwatch.StartNew();
            var (node, summary, puller) = Pull("cdm");
            var seconds = clock.Elapsed.TotalSeconds;
            node.Dispose();
            var rows = puller.LastCounts!.RowsRead;
            foreach (var (table, count) in expected)
            {
                Assert.Equal(count, rows[table]);
            }

            var total = rows.Values.Sum();
            output.WriteLine($"run {run + 1}: persons {rows["person"]}, rows read {string.Join(", ", rows.Select(r => $"{r.Key} {r.Value}"))}; "
                + $"resources emitted {puller.LastCounts.ResourcesEmitted.Values.Sum()} ({string.Join(", ", puller.LastCounts.ResourcesEmitted.Select(r => $"{r.Key} {r.Value}"))}); "
                + $"accepted {summary.Accepted}, quarantined {summary.Quarantined}; {seconds:F2} s, {total / seconds:F0} rows/s");
        }
    }

    /// <summary>Condition facts per category (non-sensitive), as rows and distinct patients.</summary>
    private static Dictionary<string, (long Rows, long Patients)> ConditionFacts(NodeDirectory node)
    {
        var rows = node.Store.Read(c => FeatureQueries.PatientsWithFacts(c, FeatureQueries.PublishedVersion(c)).ToList());
        var result = new Dictionary<string, (long Rows, long Patients)>();
        var facts = new List<StoredFact>();
        foreach (var row in rows)
        {
            facts.Clear();
            EntryCodec.ReadFacts(row.Data, new HashSet<string>(), facts);
            foreach (var group in facts.Where(f => f.Kind == "condition" && f.Category is not null).GroupBy(f => f.Category!))
            {
                var (r, p) = result.GetValueOrDefault(group.Key);
                result[group.Key] = (r + group.Count(), p + 1);
            }
        }

        return result;
    }
}
