using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Twins;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>The patient twin (issue 21): each living patient scored with the released models on its own features.</summary>
[Trait("Category", "Twin")]
public sealed class PatientTwinTests
{
    private const double Z = 1.959963984540054;

    /// <summary>
    /// The demo set's 16 GLMs made to look fitted (a covariance with correlated terms), the admission model also over HbA1c and
    /// systolic BP, so a missing lab leaves admission unscored. Rows = 1 marks them fitted; nothing here is validated as released.
    /// </summary>
    internal static List<RegisteredModel> Models() => [.. DemoModels.Registry().Select(m =>
    {
        List<ModelTerm> terms = m.Outcome == "admission_next_year" ? [.. m.Terms, new ModelTerm("hba1c", 0.11), new ModelTerm("sbp", 0.006)] : [.. m.Terms];
        var se = terms.Select((t, j) => (0.07 * Math.Abs(t.Coefficient)) + 0.003 + (0.001 * j)).ToArray();
        terms = [.. terms.Select((t, j) => t with { StdError = se[j] })];
        IReadOnlyList<IReadOnlyList<double>> covariance = [.. se.Select((a, i) => (IReadOnlyList<double>)[.. se.Select((b, j) => i == j ? a * a : (i + j) % 3 == 0 ? -0.2 * a * b : 0.15 * a * b)])];
        return m with { Id = m.Id.Replace("demo/", "glm/", StringComparison.Ordinal), StudyId = "test-study", Terms = terms, Covariance = covariance, Rows = 1000, Nodes = 3 };
    })];

    private static PatientYear Row(string pseudonym, int age, bool male, string[] conditions, double? hba1c, double? sbp, int admissions, int days, int ed, double cost)
    {
        var v = new FeatureDictionary();
        v.Set(FeatureDictionary.Column("year"), 2025);
        v.Set(FeatureDictionary.Column("age"), age);
        v.Set(FeatureDictionary.Column("age_band"), PatientYearSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(age)));
        v.Set(FeatureDictionary.Column("sex_male"), male ? 1 : 0);
        v.Set(FeatureDictionary.Column("medicare_eligible"), age >= 65 ? 1 : 0);
        foreach (var c in PatientYearSchema.Conditions)
        {
            v.Set(FeatureDictionary.Column(c), conditions.Contains(c) ? 1 : 0);
        }

        v.Set(FeatureDictionary.Column("condition_count"), conditions.Length);
        v.Set(FeatureDictionary.Column("inpatient_admissions"), admissions);
        v.Set(FeatureDictionary.Column("inpatient_days"), days);
        v.Set(FeatureDictionary.Column("ed_visits"), ed);
        v.Set(FeatureDictionary.Column("ambulatory_visits"), 4);
        v.Set(FeatureDictionary.Column("cost"), cost);
        v.Set(FeatureDictionary.Column("cost_from_claims"), 1);
        v.Set(FeatureDictionary.Column("hba1c"), hba1c);
        v.Set(FeatureDictionary.Column("sbp"), sbp);
        v.Set(FeatureDictionary.Column("dbp"), sbp is null ? null : sbp - 45);
        v.Set(FeatureDictionary.Column("outcome_observed"), 0);
        return new PatientYear(pseudonym, v);
    }

    private static List<PatientYear> Patients() =>
    [
        Row("0a", 78, true, ["heart_failure", "diabetes", "ckd"], 8.1, 142, 2, 9, 3, 61_000),
        Row("0b", 67, false, ["hypertension"], 5.6, 128, 0, 0, 0, 3_400),
        Row("0c", 52, true, [], 6.0, 151, 0, 0, 1, 1_200),
        Row("0d", 90, false, ["dementia", "copd", "heart_failure"], null, 118, 1, 4, 2, 30_000), // no HbA1c: admission not scored
        Row("0e", 34, false, ["asthma"], 5.2, null, 0, 0, 4, 5_000),                            // no BP: admission not scored
    ];

    /// <summary>A term's value read from the row by name, independently of the scorer: the intercept, an indicator, or the column.</summary>
    private static double? Value(PatientYear row, string term)
    {
        if (term == ModelTerm.Intercept)
        {
            return 1;
        }

        var open = term.IndexOf('[', StringComparison.Ordinal);
        if (open > 0)
        {
            var band = PatientYearSchema.AgeBands[(int)row.Values[term[..open]]!.Value];
            return band == term[(open + 1)..^1] ? 1 : 0;
        }

        return row.Values[term];
    }

    /// <summary>(η, se) by the textbook sums, or null when a value is missing.</summary>
    private static (double Eta, double Se)? Linear(RegisteredModel m, PatientYear row)
    {
        var x = m.Terms.Select(t => Value(row, t.Name)).ToArray();
        if (x.Any(v => v is null))
        {
            return null;
        }

        var eta = 0.0;
        for (var j = 0; j < x.Length; j++)
        {
            eta += m.Terms[j].Coefficient * x[j]!.Value;
        }

        var q = 0.0;
        for (var i = 0; i < x.Length; i++)
        {
            for (var j = 0; j < x.Length; j++)
            {
                q += x[i]!.Value * m.Covariance![i][j] * x[j]!.Value;
            }
        }

        return (eta, Math.Sqrt(q));
    }

    private static double Logistic(double eta) => 1 / (1 + Math.Exp(-eta));

    private static void Close(double expected, double actual, double relative = 1e-12) =>
        Assert.True(Math.Abs(expected - actual) <= relative * Math.Max(1, Math.Abs(expected)), $"expected {expected:R}, got {actual:R}");

    [Fact]
    public void Each_patients_risks_and_expectations_equal_the_registry_models_predictions_recomputed_from_the_sums()
    {
        var models = Models();
        var twin = new PatientTwin(models);
        Assert.Equal(16, twin.Used.Count);
        Assert.Empty(twin.MissingOutcomes);
        var checkedRisks = 0;
        foreach (var row in Patients())
        {
            var result = twin.Score(row);
            foreach (var m in models)
            {
                var name = m.Outcome switch
                {
                    "admission_next_year" => PatientTwin.Admission,
                    "death_next_year" => PatientTwin.Death,
                    var o when PatientYearSchema.OnsetCondition(o) is { } c => "onset_" + c,
                    _ => null,
                };
                if (name is null)
                {
                    continue;
                }

                if (PatientYearSchema.OnsetCondition(m.Outcome) is { } condition && row.Values[condition] == 1)
                {
                    Assert.False(result.Baseline.Risks.ContainsKey(name), $"{row.Pseudonym} has {condition}: not at risk of its onset");
                    Assert.DoesNotContain(name, result.Missing);
                    continue;
                }

                if (Linear(m, row) is not { } lin)
                {
                    Assert.False(result.Baseline.Risks.ContainsKey(name));
                    Assert.Contains(name, result.Missing);
                    continue;
                }

                var risk = result.Baseline.Risks[name];
                Close(Logistic(lin.Eta), risk.Value);
                Close(Logistic(lin.Eta - (Z * lin.Se)), risk.Lower, 1e-10);
                Close(Logistic(lin.Eta + (Z * lin.Se)), risk.Upper, 1e-10);
                Assert.True(risk.Lower < risk.Value && risk.Value < risk.Upper);
                checkedRisks++;
            }

            // Counts and cost: at baseline the population twin's expectations reduce to each model's own mean (e^η).
            var ed = Linear(models.Single(m => m.Outcome == "ed_visits_next_year"), row)!.Value;
            Close(Math.Exp(ed.Eta), result.Baseline.EdVisits!.Value.Value);
            Close(Math.Exp(ed.Eta + (Z * ed.Se)), result.Baseline.EdVisits!.Value.Upper, 1e-10);
            Close(1 - Math.Exp(-Math.Exp(ed.Eta)), result.Baseline.Risks[PatientTwin.EdVisit].Value, 1e-10);
            var admission = Linear(models.Single(m => m.Outcome == "admission_next_year"), row);
            if (admission is null)
            {
                Assert.Null(result.Baseline.InpatientDays);
                Assert.Null(result.Baseline.Cost);
                Assert.Contains(PatientTwin.ExpectedCost, result.Missing);
                continue;
            }

            var days = Linear(models.Single(m => m.Outcome == "inpatient_days_next_year"), row)!.Value;
            Close(Math.Exp(days.Eta), result.Baseline.InpatientDays!.Value.Value);
            var cost = Linear(models.Single(m => m.Outcome == "cost_next_year"), row)!.Value;
            Close(Math.Exp(cost.Eta), result.Baseline.Cost!.Value.Value, 1e-10);
            Assert.True(result.Baseline.Cost!.Value.Lower < result.Baseline.Cost.Value.Value && result.Baseline.Cost.Value.Value < result.Baseline.Cost.Value.Upper);
        }

        Assert.True(checkedRisks >= 30, $"{checkedRisks} risks checked");
    }

    [Fact]
    public void Without_a_released_model_an_outcome_is_reported_missing_never_filled_from_the_demo_set()
    {
        var models = Models().Where(m => m.Outcome is not ("death_next_year" or "cost_next_year")).ToList();
        var twin = new PatientTwin(models);
        Assert.Contains(twin.MissingOutcomes, m => m.Outcome == PatientTwin.Death);
        Assert.Contains(twin.MissingOutcomes, m => m.Outcome == PatientTwin.ExpectedCost);
        Assert.DoesNotContain(twin.Used, m => m.Id.StartsWith("demo/", StringComparison.Ordinal));
        var result = twin.Score(Patients()[0]);
        Assert.False(result.Baseline.Risks.ContainsKey(PatientTwin.Death));
        Assert.Null(result.Baseline.Cost);
        Assert.True(result.Baseline.Risks.ContainsKey(PatientTwin.Admission));
    }

    private static TwinIntervention Program(ChronicCondition? target = null) => new(
        "care-management", target, new AgeBand(18, 120), null, 0, 1, [0.4], [
            new InterventionEffect(EffectOutcome.Admissions, 0.7),
            new InterventionEffect(EffectOutcome.EdVisits, 0.8),
            new InterventionEffect(EffectOutcome.Death, 0.9),
            new InterventionEffect(EffectOutcome.OtherCost, 0.85),
            new InterventionEffect(EffectOutcome.Onset, 0.75, ChronicCondition.HeartFailure),
        ], 95, 0);

    [Fact]
    public void A_zero_effect_intervention_gives_exactly_zero_paired_differences_and_a_real_one_does_not()
    {
        var models = Models();
        var none = new PatientTwin(models, [Program().WithNoEffect()]);
        var some = new PatientTwin(models, [Program()]);
        var differences = 0;
        foreach (var row in Patients())
        {
            var zero = none.Score(row);
            Assert.True(zero.Eligible);
            foreach (var (name, d) in zero.Differences!)
            {
                Assert.Equal(0.0, d);
                differences++;
            }

            Assert.Equal(zero.Baseline.Risks.Count, zero.Scenario!.Risks.Count);
            if (zero.Baseline.Cost is not null)
            {
                Assert.Equal(-95.0 * 12, zero.Benefit); // no effect: the program's cost is the only difference
            }

            var real = some.Score(row);
            Assert.True(real.Differences![PatientTwin.ExpectedEdVisits] < 0);
            Assert.True(real.Differences[PatientTwin.Death] < 0);
            if (real.Baseline.Cost is not null)
            {
                Assert.True(real.Differences[PatientTwin.Admission] < 0);
                Assert.True(real.Differences[PatientTwin.ExpectedInpatientDays] < 0);
                Assert.True(real.Differences[PatientTwin.ExpectedCost] < 0);
                Assert.Equal(real.Baseline.Cost!.Value.Value - real.Scenario!.Cost!.Value.Value - (95.0 * 12), real.Benefit);
            }
        }

        Assert.True(differences > 50, $"{differences} differences checked");
    }

    [Fact]
    public void Eligibility_follows_the_target_condition_and_an_ineligible_patient_has_no_benefit()
    {
        var twin = new PatientTwin(Models(), [Program(ChronicCondition.HeartFailure)]);
        var results = Patients().Select(twin.Score).ToList();
        Assert.Equal(new[] { "0a", "0d" }, results.Where(r => r.Eligible == true).Select(r => r.Pseudonym));
        Assert.All(results.Where(r => r.Eligible == false), r => Assert.Null(r.Benefit));
        Assert.All(results.Where(r => r.Eligible == false), r => Assert.Null(r.Differences));
        var ranked = PatientTwinReport.Rank(results, PatientTwin.BenefitKey, 5);
        Assert.Equal("0a", ranked[0].Pseudonym); // the only eligible patient with a cost
    }

    private const string Scenario = """
        name: outreach
        start_year: 2027
        models: demo    # replaced by the node's own models whatever it says
        interventions:
          - name: outreach
            target:
              age: [0, 120]
              risk: { model: RISK, min: 0.0, max: 1.0 }
            coverage: [0.5]
            cost_pmpm: 40
            effects:
              - outcome: ed_visits
                relative_risk: 0.8
              - outcome: death
                odds_ratio: 0.9
        """;

    [Theory]
    [InlineData("patients", "--json", "--top", "10")]
    [InlineData("facility", "--years", "1")]
    [InlineData("reidentify", "--source", "/nonexistent", "--worklist", "/nonexistent", "--out", "/nonexistent/out", "--purpose", "TREAT")]
    public async Task Twin_commands_refuse_a_node_directory_that_does_not_exist_instead_of_creating_one(params string[] rest)
    {
        var missing = Path.Combine(DataTestSupport.TempDir("twin-missing-node"), "not-a-node");
        var parse = FtwinCommand.Create().Parse(["node", "twin", rest[0], "--node-dir", missing, .. rest[1..]]);
        Assert.Empty(parse.Errors);
        Assert.Equal(2, await parse.InvokeAsync());
        Assert.False(Directory.Exists(missing)); // before, the command created and initialised a node here
    }

    [Fact]
    public void Twin_patients_reads_a_scenario_against_the_nodes_own_models_and_refuses_a_band_only_the_demo_set_can_evaluate()
    {
        var dir = DataTestSupport.TempDir("patient-twin-scenario");
        var models = Models();
        var listing = models.Select(m => new NodeModelListing(m.Id, "1", m.Kind, m.StudyId, m.Outcome, m.Release, true, null, DataTestSupport.Epoch)).ToList();
        using var node = NodeDirectory.OpenOrInitialize(dir);
        DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);

        // A band on the death model (its terms are the twin's): resolved to the node's glm/ model, scored as if enrolled.
        var file = Path.Combine(dir, "death-band.yaml");
        File.WriteAllText(file, Scenario.Replace("RISK", "death", StringComparison.Ordinal));
        var output = Path.Combine(dir, "scenario.json");
        Assert.Equal(0, NodeTwinCommands.RunPatients(node, new ReleasedModels(models, listing), new PatientTwinRequest("HOPERAT", PatientTwin.BenefitKey, 100, false, file, output), TextWriter.Null));
        var json = JsonNode.Parse(File.ReadAllText(output))!;
        Assert.Equal("outreach", json["scenario"]!.GetValue<string>());
        var patients = json["patients"]!.AsArray();
        Assert.NotEmpty(patients);
        Assert.All(patients, p => Assert.True(p!["eligible"]!.GetValue<bool>()));
        Assert.All(patients, p => Assert.True(p!["differences"]!["expected_ed_visits"]!.GetValue<double>() < 0));
        Assert.All(patients, p => Assert.True(p!["differences"]!["death"]!.GetValue<double>() < 0));
        var benefits = patients.Where(p => p!["benefit"] is not null).Select(p => p!["benefit"]!.GetValue<double>()).ToList();
        Assert.Equal(benefits.OrderDescending(), benefits); // ranked by benefit

        // The node's admission model has HbA1c and blood-pressure terms the twin's engine cannot evaluate, so "admission"
        // resolves to the demo model while the file is read: refused, never used to select a real patient.
        File.WriteAllText(file, Scenario.Replace("RISK", "admission", StringComparison.Ordinal));
        var refused = Assert.Throws<PatientTwinException>(() => NodeTwinCommands.RunPatients(node, new ReleasedModels(models, listing),
            new PatientTwinRequest("HOPERAT", PatientTwin.Admission, 10, false, file, Path.Combine(dir, "refused.json")), TextWriter.Null));
        Assert.Contains("not one of this node's released models", refused.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "refused.json")));
    }

    [Fact]
    public void Twin_patients_scores_the_living_latest_rows_and_writes_no_identifier_from_the_FHIR_source()
    {
        var dir = DataTestSupport.TempDir("patient-twin-phi");
        var output = Path.Combine(dir, "worklist.json");
        int lastYear;
        IReadOnlySet<string> dead;
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);
            var features = new FeatureBuilder(node.Store);
            lastYear = features.DataLastYear()!.Value;
            dead = features.DeceasedBy(lastYear);
            var models = Models();
            var listing = models.Select(m => new NodeModelListing(m.Id, "1", m.Kind, m.StudyId, m.Outcome, m.Release, true, null, DataTestSupport.Epoch)).ToList();
            var code = NodeTwinCommands.RunPatients(node, new ReleasedModels(models, listing), new PatientTwinRequest("HOPERAT", PatientTwin.Admission, 100, false, null, output), TextWriter.Null);
            Assert.Equal(0, code);
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(output));
        }
        var json = JsonNode.Parse(File.ReadAllText(output))!;
        var patients = json["patients"]!.AsArray();
        Assert.NotEmpty(patients);
        Assert.Equal(16, json["models"]!.AsArray().Count(m => m!["used"]!.GetValue<bool>()));
        Assert.All(patients, p => Assert.DoesNotContain(p!["pseudonym"]!.GetValue<string>(), dead));
        Assert.All(patients, p => Assert.InRange(p!["risks"]!["death"]!["p"]!.GetValue<double>(), 0, 1));
        using (var c = TestStore.OpenReadOnly(Path.Combine(dir, "node.db")))
        {
            var alive = c.Query<string>("SELECT pseudonym FROM patients WHERE deceased_year IS NULL OR deceased_year > @lastYear", new { lastYear }).ToHashSet();
            Assert.All(patients, p => Assert.Contains(p!["pseudonym"]!.GetValue<string>(), alive));
        }

        var entry = Assert.Single(AuditSource.Open(AuditService.Node, dir).Entries, e => e.Action == AuditActions.PatientTwinRun);
        Assert.Equal(patients.Count, JsonNode.Parse(entry.Detail)!["patients_listed"]!.GetValue<long>());
        Assert.DoesNotContain(patients[0]!["pseudonym"]!.GetValue<string>(), entry.Detail, StringComparison.Ordinal);

        var (exitCode, report) = PhiScan.Run(dir, Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson")); // node.db and the command's output file inside it
        Assert.True(exitCode == 0, report);
        Assert.Contains("0 identifiers leaked", report, StringComparison.Ordinal);
        Assert.DoesNotContain("scanned 0 files", report, StringComparison.Ordinal);
    }
}

/// <summary>Re-identification: deliberate, local, audited, and only for the purposes the site policy lists.</summary>
[Trait("Category", "Twin")]
public sealed class ReidentificationTests
{
    private static string WorklistOf(NodeDirectory node, string dir, out List<string> pseudonyms)
    {
        var features = new FeatureBuilder(node.Store);
        var last = features.DataLastYear()!.Value;
        pseudonyms = [.. features.All().Where(r => r.Values["year"] == last).Select(r => r.Pseudonym).Distinct()];
        var path = Path.Combine(dir, "worklist.txt");
        File.WriteAllLines(path, [.. pseudonyms, new string('f', 32)]); // and one no export holds
        return path;
    }

    [Fact]
    [Trait("Category", "Adversarial")]
    public void Re_identification_for_research_is_refused_with_an_audit_record_naming_the_rule()
    {
        var dir = DataTestSupport.TempDir("reid-refused");
        var output = Path.Combine(DataTestSupport.TempDir("reid-refused-out"), "ids.json");
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);
            var worklist = Reidentification.ReadWorklist(WorklistOf(node, dir, out _));
            var refused = Assert.Throws<ReidentificationRefusedException>(() => Reidentification.Run(node, DataTestSupport.NdjsonSample, worklist, output, "HRESCH", "tester@host"));
            Assert.Equal("reidentification_purpose_refused", refused.Rule);
        }

        Assert.False(File.Exists(output));
        var entry = Assert.Single(AuditSource.Open(AuditService.Node, dir).Entries, e => e.Action == AuditActions.ReidentificationRefused);
        var detail = JsonNode.Parse(entry.Detail)!;
        Assert.Equal("reidentification_purpose_refused", detail["rule"]!.GetValue<string>());
        Assert.Equal("HRESCH", detail["purpose"]!.GetValue<string>());
        Assert.DoesNotContain(AuditSource.Open(AuditService.Node, dir).Entries, e => e.Action == AuditActions.Reidentification);

        // And no policy can allow it: the schema lists TREAT and HOPERAT only.
        var yaml = SitePolicy.DefaultYaml.Replace("reidentification_purposes: [TREAT, HOPERAT]", "reidentification_purposes: [TREAT, HRESCH]", StringComparison.Ordinal);
        Assert.NotEqual(SitePolicy.DefaultYaml, yaml);
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse(yaml));
        Assert.Contains("reidentification_purposes", error.Message, StringComparison.Ordinal);
        // Absent: deny by default.
        var absent = SitePolicy.Parse(string.Join('\n', SitePolicy.DefaultYaml.Split('\n').Where(l => !l.StartsWith("reidentification_purposes", StringComparison.Ordinal))));
        Assert.False(absent.Reidentification("TREAT").Accept);
    }

    [Fact]
    public void Re_identification_for_treatment_maps_each_pseudonym_to_its_own_Patient_in_an_owner_only_file()
    {
        var dir = DataTestSupport.TempDir("reid-treat");
        var output = Path.Combine(DataTestSupport.TempDir("reid-treat-out"), "ids.json");
        List<string> pseudonyms;
        ReidentificationSummary summary;
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);
            var worklist = Reidentification.ReadWorklist(WorklistOf(node, dir, out pseudonyms));
            summary = Reidentification.Run(node, DataTestSupport.NdjsonSample, worklist, output, "TREAT", "tester@host");
        }

        Assert.NotEmpty(pseudonyms);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(output));
        }
        Assert.Equal(pseudonyms.Count + 1, summary.WorklistSize);
        Assert.Equal(pseudonyms.Count, summary.Matched);
        var bytes = File.ReadAllBytes(output);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), summary.OutputSha256);

        // Independently: each mapped Patient resource must have the sex and birth year the store keeps for that pseudonym.
        var source = File.ReadLines(Path.Combine(DataTestSupport.NdjsonSample, "Patient.000.ndjson")).Select(l => JsonNode.Parse(l)!).ToDictionary(p => p["id"]!.GetValue<string>());
        var mapped = JsonNode.Parse(bytes)!;
        Assert.Equal(new[] { new string('f', 32) }, mapped["not_found"]!.AsArray().Select(n => n!.GetValue<string>()));
        using var c = TestStore.OpenReadOnly(Path.Combine(dir, "node.db"));
        foreach (var pseudonym in pseudonyms)
        {
            var entry = mapped["patients"]![pseudonym]!;
            var patient = source[entry["patient_id"]!.GetValue<string>()];
            var stored = c.QuerySingle<(string? sex, int? birth_year, long age_90_plus)>("SELECT sex, birth_year, age_90_plus FROM patients WHERE pseudonym = @pseudonym", new { pseudonym });
            Assert.Equal(patient["gender"]?.GetValue<string>(), stored.sex);
            if (stored.age_90_plus == 0)
            {
                Assert.Equal(int.Parse(patient["birthDate"]!.GetValue<string>()[..4], System.Globalization.CultureInfo.InvariantCulture), stored.birth_year);
            }

            var identifiers = entry["identifiers"]!.AsArray().Select(i => i!.GetValue<string>()).ToList();
            Assert.NotEmpty(identifiers);
            Assert.All(patient["identifier"]!.AsArray(), i => Assert.Contains($"{i!["system"]?.GetValue<string>()}|{i["value"]!.GetValue<string>()}", identifiers));
        }

        var audit = Assert.Single(AuditSource.Open(AuditService.Node, dir).Entries, e => e.Action == AuditActions.Reidentification);
        var detail = JsonNode.Parse(audit.Detail)!;
        Assert.Equal(summary.OutputSha256, detail["output_sha256"]!.GetValue<string>());
        Assert.Equal(pseudonyms.Count, detail["matched"]!.GetValue<long>());
        Assert.DoesNotContain(pseudonyms[0], audit.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(mapped["patients"]![pseudonyms[0]]!["patient_id"]!.GetValue<string>(), audit.Detail, StringComparison.Ordinal);
        using (var db = TestStore.OpenReadOnly(Path.Combine(dir, "node.db")))
        {
            // Nothing of the mapping in node.db but the audit record (no Patient id stored anywhere).
            var id = mapped["patients"]![pseudonyms[0]]!["patient_id"]!.GetValue<string>();
            Assert.Equal(0L, db.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE detail LIKE @p", new { p = "%" + id + "%" }));
        }

        var report = FederatedTwin.Cli.Compliance.ComplianceReport.Build(dir, new DateOnly(2000, 1, 1), new DateOnly(2100, 1, 1));
        Assert.Contains("id=\"reidentifications\"", report, StringComparison.Ordinal);
        Assert.Contains(summary.OutputSha256, report, StringComparison.Ordinal);
    }
}
