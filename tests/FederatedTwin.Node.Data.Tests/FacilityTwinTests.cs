using System.Globalization;
using System.Text;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Twins;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Synthetic;
using FederatedTwin.Twin.Simulation;
using Xunit.Abstractions;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>
/// A synthetic hospital (the generator's 4,000 patients, 2019-2024, ingested into a node) with the twin's 16 models fitted on
/// its own rows with the product's GLM (<see cref="GlmPooled"/>, the reference fit the federated GLM reproduces), so
/// calibration-in-the-large holds as it does for models the federation trained on the node's data.
/// </summary>
public sealed class FacilityNode : IDisposable
{
    public const string Purpose = "HOPERAT";

    /// <summary>The features the fitted models use: demographics, the 11 conditions and last year's utilisation (all simulated by the twin).</summary>
    private static readonly string[] Terms = ["age", "sex_male", .. PatientYearSchema.Conditions, "inpatient_admissions", "ed_visits"];

    public FacilityNode()
    {
        var export = DataTestSupport.TempDir("facility-export");
        PopulationGenerator.Generate(4000, SyntheticProfile.Named("rural-community"), 21, export);
        Path = DataTestSupport.TempDir("facility-node");
        using (var node = NodeDirectory.OpenOrInitialize(Path))
        {
            DataTestSupport.Ingest(node, export);
            var builder = new FeatureBuilder(node.Store);
            LastYear = builder.DataLastYear()!.Value;
            Rows = [.. builder.ForStudy(node.LoadPolicy(), Purpose)];
        }

        Directory.Delete(export, recursive: true);
        Models = [.. TwinOutcomes.All.Select(Fit)];
    }

    public string Path { get; }

    public int LastYear { get; }

    public IReadOnlyList<PatientYear> Rows { get; }

    public IReadOnlyList<RegisteredModel> Models { get; }

    private RegisteredModel Fit(string outcome)
    {
        var (column, families) = TwinOutcomes.Requirement(outcome);
        var family = families[0];
        // An onset is fitted on the patient-years at risk (without the condition), whose condition column is then constant (GlmStudy.AtRisk).
        var atRisk = PatientYearSchema.OnsetCondition(column);
        var terms = Terms.Where(t => t != atRisk).ToArray();
        var rows = Rows.Where(r => r.Values["outcome_observed"] == 1 && (atRisk is null || r.Values[atRisk] == 0)).ToList();
        var x = new double[rows.Count * terms.Length];
        var y = new double[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            for (var j = 0; j < terms.Length; j++)
            {
                x[(i * terms.Length) + j] = rows[i].Values[terms[j]]!.Value;
            }

            y[i] = rows[i].Values[column]!.Value;
        }

        var result = GlmPooled.Fit(family, terms, new GlmData(terms.Length, x, y), maxIterations: 50);
        return RegisteredModel.FromGlmResult(result, column, "facility-test", Purpose, DataTestSupport.Epoch, new ModelPrivacy(false, null));
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

[Trait("Category", "Twin")]
public sealed class FacilityTwinTests(FacilityNode hospital, ITestOutputHelper output) : IClassFixture<FacilityNode>
{
    [Fact]
    public void The_cohort_is_the_nodes_living_patients_of_the_year()
    {
        var year = hospital.LastYear;
        var cohort = FacilityCohort.FromRows(hospital.Rows, year, hospital.LastYear);
        var ofYear = hospital.Rows.Where(r => r.Values["year"] == year).ToList();
        var died = hospital.Rows.Where(r => r.Values["year"] == year - 1 && r.Values.GetValueOrDefault("death_next_year") == 1).Select(r => r.Pseudonym).ToHashSet();
        Assert.NotEmpty(died);
        var living = ofYear.Where(r => !died.Contains(r.Pseudonym)).ToList();
        var c = cohort.Cohort;
        Assert.Equal(year, cohort.FeatureYear);
        Assert.Equal(ofYear.Count, cohort.RowsOfYear);
        Assert.Equal(ofYear.Count - living.Count, cohort.DiedInYear);
        Assert.Equal(living.Count, c.Count);
        Assert.All(c.Alive, Assert.True);
        var expected = living.Select(r => r.Values).Select(v => (Age: Math.Min(v["age"]!.Value, 90), Male: v["sex_male"] == 1,
            Mask: Enumerable.Range(0, 11).Sum(k => v[PatientYearSchema.Conditions[k]] == 1 ? 1 << k : 0),
            Admissions: v["inpatient_admissions"]!.Value, Days: Math.Round(v["inpatient_days"]!.Value, MidpointRounding.AwayFromZero),
            Ed: v["ed_visits"]!.Value, Cost: v["cost"]!.Value)).Order().ToList();
        var actual = Enumerable.Range(0, c.Count).Select(i => (Age: (double)c.Age[i], Male: c.Male[i], Mask: (int)c.Conditions[i],
            Admissions: (double)c.InpatientAdmissions[i], Days: (double)c.InpatientDays[i], Ed: (double)c.EdVisits[i], Cost: c.Cost[i])).Order().ToList();
        Assert.Equal(expected, actual);
        Assert.Contains(actual, p => p.Mask != 0 && p.Admissions > 0);

        // The people are in the order of their features, not of the rows (pseudonyms depend on the node's key): the same
        // rows in another order give the same cohort, so a run depends on the data and the seed alone.
        var reversed = FacilityCohort.FromRows(hospital.Rows.Reverse(), year, hospital.LastYear).Cohort;
        Assert.Equal(c.Age, reversed.Age);
        Assert.Equal(c.Conditions, reversed.Conditions);
        Assert.Equal(c.Cost, reversed.Cost);
        Assert.True(c.Age.Max() <= 90);
        Assert.Equal(living.Sum(r => r.Values["inpatient_admissions"]!.Value), c.InpatientAdmissions.Sum(a => (double)a));
        Assert.Equal(living.Sum(r => r.Values["cost"]!.Value), c.Cost.Sum(), 6);
    }

    [Fact]
    public void A_back_cast_from_the_year_before_reproduces_the_last_years_observed_totals()
    {
        var from = hospital.LastYear - 1;
        using var node = NodeDirectory.OpenOrInitialize(hospital.Path);
        var result = FacilityTwinOnNode.Run(node, hospital.Models, FacilityNode.Purpose, from, 1, 400, 2024, false, null);

        // The same closed cohort, observed: the rows of the year before whose next year is observed (alive at its end), their
        // *_next_year outcomes, and their admissions counted on their rows of the last year.
        var cohortRows = hospital.Rows.Where(r => r.Values["year"] == from && r.Values["outcome_observed"] == 1).ToList();
        var ids = cohortRows.Select(r => r.Pseudonym).ToHashSet();
        double Sum(string column) => cohortRows.Sum(r => r.Values[column]!.Value);
        var observed = new Dictionary<string, double>
        {
            [FacilityTwin.People] = cohortRows.Count,
            [FacilityTwin.PeopleAdmitted] = Sum("admission_next_year"),
            [FacilityTwin.Admissions] = hospital.Rows.Where(r => r.Values["year"] == hospital.LastYear && ids.Contains(r.Pseudonym)).Sum(r => r.Values["inpatient_admissions"]!.Value),
            [FacilityTwin.InpatientDays] = Sum("inpatient_days_next_year"),
            [FacilityTwin.EdVisits] = Sum("ed_visits_next_year"),
            [FacilityTwin.Cost] = Sum("cost_next_year"),
            [FacilityTwin.Deaths] = Sum("death_next_year"),
        };

        var year = Assert.Single(result.Years);
        Assert.Equal(hospital.LastYear, year.Year);
        var table = new StringBuilder($"back-cast {from} -> {year.Year}, {result.Patients} patients, {result.Replicates} replicates\nfield | observed | projected mean | 95% interval\n");
        foreach (var (field, value) in observed)
        {
            var e = year[field].Baseline!.Value;
            table.AppendLine(CultureInfo.InvariantCulture, $"{field} | {value:N0} | {e.Mean:N0} | {e.Low:N0} - {e.High:N0}");
        }

        output.WriteLine(table.ToString());
        Assert.Equal(cohortRows.Count, result.Patients);
        Assert.Equal(cohortRows.Count, year[FacilityTwin.People].Baseline!.Value.Mean);
        foreach (var (field, value) in observed.Where(o => o.Key != FacilityTwin.People))
        {
            var e = year[field].Baseline!.Value;
            Assert.True(value >= e.Low && value <= e.High, $"{field}: observed {value} outside the projection's 95% interval [{e.Low}, {e.High}]\n{table}");
        }

        // The check has power: the illustrative demo models (not fitted to this hospital) miss at least one observed total.
        var cohort = FacilityCohort.FromRows(hospital.Rows, from, hospital.LastYear);
        var demo = FacilityTwin.Models([], allowFallback: true);
        var options = new FacilityOptions(1, 400, 2024);
        var demoYear = FacilityTwin.Run(cohort, FacilityTwin.Definition(cohort, demo, options, null, []), false, options).Years[0];
        var missed = observed.Where(o => o.Key != FacilityTwin.People && (o.Value < demoYear[o.Key].Baseline!.Value.Low || o.Value > demoYear[o.Key].Baseline!.Value.High)).Select(o => o.Key).ToList();
        output.WriteLine("demo models miss: " + string.Join(", ", missed));
        Assert.NotEmpty(missed);
    }

    [Fact]
    public void Occupancy_is_the_average_daily_census_over_the_staffed_beds()
    {
        var cohort = FacilityCohort.FromRows(hospital.Rows, hospital.LastYear, hospital.LastYear);
        var models = FacilityTwin.Models(hospital.Models, allowFallback: false);
        var options = new FacilityOptions(3, 6, 5, StaffedBeds: 40);
        var result = FacilityTwin.Run(cohort, FacilityTwin.Definition(cohort, models, options, null, []), false, options);
        Assert.Equal(3, result.Years.Count);
        foreach (var y in result.Years)
        {
            var days = DateTime.IsLeapYear(y.Year) ? 366 : 365;
            Assert.Equal(days, y.Days);
            var bedDays = y[FacilityTwin.InpatientDays].Baseline!.Value;
            var census = y[FacilityTwin.AverageDailyCensus].Baseline!.Value;
            var occupancy = y[FacilityTwin.Occupancy].Baseline!.Value;
            Assert.True(bedDays.Mean > 0);
            Assert.Equal(bedDays.Mean / days, census.Mean, 9);
            Assert.Equal(census.Mean / 40, occupancy.Mean, 9);
            Assert.Equal(census.Low / 40, occupancy.Low, 9);
            Assert.Equal(census.High / 40, occupancy.High, 9);
        }

        var without = FacilityTwin.Run(cohort, FacilityTwin.Definition(cohort, models, options with { StaffedBeds = null }, null, []), false, options with { StaffedBeds = null });
        Assert.Null(without.Years[0][FacilityTwin.Occupancy].Baseline);
        Assert.Contains(without.Notes, n => n.StartsWith("occupancy is null", StringComparison.Ordinal));
        var json = System.Text.Json.Nodes.JsonNode.Parse(without.ToJson())!;
        Assert.Null(json["years"]![0]!["occupancy"]);
        Assert.Equal(without.Years[0][FacilityTwin.AverageDailyCensus].Baseline!.Value.Mean, json["years"]![0]!["average_daily_census"]!.GetValue<double>());
    }

    [Fact]
    public void Staffed_beds_are_validated_and_kept_owner_only()
    {
        foreach (var bad in (string[])["{\"staffed_beds\":0}", "{\"staffed_beds\":-3}", "{\"staffed_beds\":1.5}", "{\"staffed_beds\":\"120\"}", "{\"beds\":120}", "[120]", "{"])
        {
            Assert.Throws<NodeConfigurationException>(() => NodeConfiguration.Parse(bad, "node-config.json"));
        }

        Assert.Throws<NodeConfigurationException>(() => NodeConfiguration.ValidateStaffedBeds(NodeConfiguration.MaxStaffedBeds + 1));
        Assert.Equal(120, NodeConfiguration.Parse("{\"staffed_beds\":120}", "node-config.json").StaffedBeds);
        var dir = DataTestSupport.TempDir("facility-config");
        Assert.Null(NodeConfiguration.Load(dir).StaffedBeds);
        new NodeConfiguration(250).Save(dir);
        Assert.Equal(250, NodeConfiguration.Load(dir).StaffedBeds);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(System.IO.Path.Combine(dir, NodeConfiguration.FileName)));
        }

        Assert.Throws<NodeConfigurationException>(() => new NodeConfiguration(0).Save(dir));
    }

    [Fact]
    public void Ftwin_node_init_and_configure_set_the_staffed_beds()
    {
        var dir = System.IO.Path.Combine(DataTestSupport.TempDir("facility-cli"), "node");
        var (code, text) = DataTestSupport.Ftwin("node", "init", "--node-dir", dir, "--staffed-beds", "0");
        Assert.Equal(2, code);
        Assert.Contains("--staffed-beds must be a positive whole number", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir)); // refused before anything is created
        Assert.Equal(0, DataTestSupport.Ftwin("node", "init", "--node-dir", dir, "--staffed-beds", "180").ExitCode);
        Assert.Equal(180, NodeConfiguration.Load(dir).StaffedBeds);
        Assert.Equal(2, DataTestSupport.Ftwin("node", "configure", "--node-dir", dir, "--staffed-beds", "-5").ExitCode);
        Assert.Equal(180, NodeConfiguration.Load(dir).StaffedBeds);
        Assert.Equal(0, DataTestSupport.Ftwin("node", "configure", "--node-dir", dir, "--staffed-beds", "212").ExitCode);
        Assert.Equal(212, NodeConfiguration.Load(dir).StaffedBeds);
    }

    [Fact]
    public void Missing_models_are_refused_by_name_unless_fallback_is_allowed_and_then_named()
    {
        var partial = hospital.Models.Where(m => m.Outcome is not ("death_next_year" or "onset_dementia_next_year")).ToList();
        var refused = Assert.Throws<FacilityTwinException>(() => FacilityTwin.Models(partial, allowFallback: false));
        Assert.Contains("death, onset:dementia.", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["death", "onset:dementia"], FacilityTwin.MissingOutcomes(partial));

        var cohort = FacilityCohort.FromRows(hospital.Rows, hospital.LastYear, hospital.LastYear);
        var models = FacilityTwin.Models(partial, allowFallback: true);
        var options = new FacilityOptions(1, 3, 1);
        var result = FacilityTwin.Run(cohort, FacilityTwin.Definition(cohort, models, options, null, []), false, options);
        Assert.Equal(["death", "onset:dementia"], result.Models.Where(m => m.Kind == ModelOrigin.Fallback).Select(m => m.Outcome));
        Assert.Equal(2, result.Notes.Count(n => n.StartsWith("FALLBACK:", StringComparison.Ordinal)));
        Assert.Equal(14, result.Models.Count(m => m.Kind == ModelOrigin.Federated));
    }

    [Fact]
    public void A_scenario_run_is_aggregate_only_paired_and_audited()
    {
        const string scenario = """
            name: chf-care
            population: 20000
            start_year: 2030
            replicates: 8
            seed: 4
            interventions:
              - name: chf-care
                target:
                  condition: heart_failure
                coverage: [0.6]
                cost_pmpm: 150
                effects:
                  - outcome: admissions
                    relative_risk: { estimate: 0.75, ci95: [0.64, 0.88] }
            """;
        using var node = NodeDirectory.OpenOrInitialize(hospital.Path);
        new NodeConfiguration(60).Save(node.Path);
        try
        {
            var result = FacilityTwinOnNode.Run(node, hospital.Models, FacilityNode.Purpose, null, 2, null, null, false, scenario);
            Assert.Equal(8, result.Replicates);
            Assert.Equal(4u, result.Seed);
            Assert.Contains(result.Notes, n => n.Contains("population, start_year", StringComparison.Ordinal) || n.Contains("start_year, population", StringComparison.Ordinal));
            var text = result.ToJson();
            var json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
            var first = json["years"]![0]!.AsObject();
            Assert.Equal(hospital.LastYear + 1, first["year"]!.GetValue<int>());
            foreach (var field in (string[])["admissions", "inpatient_days", "average_daily_census", "occupancy", "ed_visits", "cost", "people", "deaths"])
            {
                foreach (var prefix in (string[])["", "scenario_", "difference_"])
                {
                    foreach (var suffix in (string[])["", "_lower", "_upper"])
                    {
                        Assert.True(first[prefix + field + suffix] is System.Text.Json.Nodes.JsonValue v && double.IsFinite(v.GetValue<double>()), prefix + field + suffix);
                    }
                }
            }

            Assert.True(first["difference_admissions"]!.GetValue<double>() < 0);
            Assert.Equal(first["scenario_admissions"]!.GetValue<double>() - first["admissions"]!.GetValue<double>(), first["difference_admissions"]!.GetValue<double>(), 6);
            Assert.Equal(0, first["difference_people"]!.GetValue<double>());
            Assert.Contains("surgical_volumes", text, StringComparison.Ordinal);

            // Aggregate only: no pseudonym of the node's patients, in the table or in the audit record.
            var pseudonyms = hospital.Rows.Select(r => r.Pseudonym).Distinct().ToList();
            Assert.DoesNotContain(pseudonyms, text.Contains);
            Assert.DoesNotContain(pseudonyms, result.ToCsv().Contains);
            var entry = node.Store.Read(c => Dapper.SqlMapper.Query<(string Action, string Detail)>(c, "SELECT action, detail FROM audit_log ORDER BY seq DESC LIMIT 1").Single());
            Assert.Equal(AuditActions.FacilityTwinRun, entry.Action);
            Assert.Contains("\"cohort_size\":" + result.Patients.ToString(CultureInfo.InvariantCulture), entry.Detail, StringComparison.Ordinal);
            Assert.Contains("\"purpose\":\"HOPERAT\"", entry.Detail, StringComparison.Ordinal);
            Assert.Contains(hospital.Models[0].Id, entry.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain(pseudonyms, entry.Detail.Contains);
            output.WriteLine(result.ToCsv());
        }
        finally
        {
            File.Delete(System.IO.Path.Combine(node.Path, NodeConfiguration.FileName));
        }
    }
}
