using System.Globalization;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Node.Twins;

/// <summary>The facility twin cannot run (missing models, a bad option); the message says what to do.</summary>
public sealed class FacilityTwinException(string message) : Exception(message);

/// <summary>How to run the facility twin.</summary>
/// <param name="Years">Simulated years (the horizon), 1..30.</param>
/// <param name="Replicates">Replicates; null: the scenario file's, else 20.</param>
/// <param name="Seed">Seed of the draws; null: the scenario file's, else 1.</param>
/// <param name="StaffedBeds">The hospital's staffed beds (node-config.json); null: occupancy is not computed.</param>
public sealed record FacilityOptions(int Years, int? Replicates = null, uint? Seed = null, int? StaffedBeds = null)
{
    /// <summary>Default replicates without a scenario file or option.</summary>
    public const int DefaultReplicates = 20;
}

/// <summary>
/// The facility twin (issue 21): the hospital's own patients (<see cref="FacilityCohort"/>) run forward on the twin engine
/// with the node's released models, baseline and optionally a scenario, through <see cref="ScenarioRunner.RunOnCohort"/>,
/// so the replicates draw coefficients N(β̂, Σ̂) and intervention effects exactly as a population scenario does (King, Tomz
/// &amp; Wittenberg 2000) and baseline and scenario are paired by common random numbers. The result is aggregate only: per
/// simulated year the hospital's admissions, bed-days, average daily census, occupancy, ED visits, cost, people and deaths.
/// </summary>
public static class FacilityTwin
{
    /// <summary>
    /// The model set of a facility run: one model per twin outcome from <paramref name="models"/>. Refused, naming every
    /// outcome without a model, unless <paramref name="allowFallback"/>: then the illustrative demo models fill exactly those
    /// outcomes and the result names each fallback. The demo models are never used silently for a real hospital.
    /// </summary>
    public static ModelSet Models(IReadOnlyList<RegisteredModel> models, bool allowFallback)
    {
        ArgumentNullException.ThrowIfNull(models);
        var missing = MissingOutcomes(models);
        if (missing.Count > 0 && !allowFallback)
        {
            throw new FacilityTwinException(
                $"the node's released models do not cover {missing.Count} of the {TwinOutcomes.All.Count} twin outcomes: {string.Join(", ", missing)}. "
                + "The facility twin needs a released model for every outcome (docs/twins.md, \"Facility twin\"); "
                + "--allow-fallback fills the missing ones with the illustrative demo models and names each in the output.");
        }

        try
        {
            return ModelSet.FromModels(models, "node", $"Models released to this node ({models.Count})" + (missing.Count > 0 ? $"; demo fallback for {string.Join(", ", missing)}" : string.Empty) + ".",
                fallback: missing.Count > 0 ? ModelSet.DemoFallback() : null);
        }
        catch (ModelSetException e)
        {
            throw new FacilityTwinException($"the node's released models cannot run the twin: {e.Message}");
        }
    }

    /// <summary>The twin outcomes that no model of <paramref name="models"/> predicts (its outcome column and a family the step draws from).</summary>
    public static IReadOnlyList<string> MissingOutcomes(IReadOnlyList<RegisteredModel> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        return [.. TwinOutcomes.All.Where(o =>
        {
            var (column, families) = TwinOutcomes.Requirement(o);
            return !models.Any(m => m.Outcome == column && families.Contains(m.Family));
        })];
    }

    /// <summary>
    /// The definition a facility run executes: the baseline alone, or a scenario file's interventions parsed against
    /// <paramref name="models"/> (twin/Scenarios parsers) for the years after the cohort's feature year. Replicates and seed
    /// come from the options, else the file, else the defaults; <paramref name="notes"/> names the file's fields that do not
    /// apply to a given cohort.
    /// </summary>
    public static ScenarioDefinition Definition(FacilityCohort cohort, ModelSet models, FacilityOptions options, string? scenarioYaml, List<string> notes)
    {
        ArgumentNullException.ThrowIfNull(cohort);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(notes);
        if (options.Years is < 1 or > 30)
        {
            throw new FacilityTwinException("--years must be between 1 and 30");
        }

        if (options.Replicates is { } r && r is < 2 or > 10_000)
        {
            throw new FacilityTwinException("--replicates must be between 2 and 10,000");
        }

        var start = cohort.FeatureYear + 1;
        if (scenarioYaml is null)
        {
            return new ScenarioDefinition("baseline", options.Seed ?? 1, cohort.Cohort.Count, start, options.Years, options.Replicates ?? FacilityOptions.DefaultReplicates, models, [], null);
        }

        var parsed = ScenarioParser.ParseForCohort(scenarioYaml, models, start, options.Years, cohort.Cohort.Count, out var ignored);
        if (ignored.Count > 0)
        {
            notes.Add($"scenario fields not used by the facility twin (its cohort is the hospital's own patients from {cohort.FeatureYear}, its models the node's, its horizon --years): {string.Join(", ", ignored)}");
        }

        return parsed with { Seed = options.Seed ?? parsed.Seed, Replicates = options.Replicates ?? parsed.Replicates };
    }

    /// <summary>Runs the baseline (and the scenario, if <paramref name="definition"/> has interventions or came from a file).</summary>
    public static FacilityResult Run(FacilityCohort cohort, ScenarioDefinition definition, bool withScenario, FacilityOptions options, IReadOnlyList<string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(cohort);
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(options);
        if (cohort.Cohort.Count == 0)
        {
            throw new FacilityTwinException($"no living patients in the node's rows of {cohort.FeatureYear}: nothing to run");
        }

        if (options.StaffedBeds is { } beds)
        {
            NodeConfiguration.ValidateStaffedBeds(beds);
        }

        var run = ScenarioRunner.RunOnCohort(definition, cohort.Cohort);
        var years = new List<FacilityYear>(definition.Horizon);
        for (var t = 0; t < definition.Horizon; t++)
        {
            var calendar = definition.StartYear + t;
            var fields = new List<FacilityField>(Fields.Count);
            foreach (var (name, value) in Fields)
            {
                fields.Add(Field(run, t, name, y => value(y, calendar), withScenario));
            }

            fields.Insert(3, options.StaffedBeds is { } b
                ? Field(run, t, Occupancy, y => BedDays(y) / DaysIn(calendar) / b, withScenario)
                : new FacilityField(Occupancy, null, null, null));
            years.Add(new FacilityYear(calendar, DaysIn(calendar), fields));
        }

        var allNotes = new List<string>(notes ?? [])
        {
            "Exact counts: the facility table is for the hospital's own staff on its own node (docs/twins.md); it holds aggregates only, no patient.",
            $"Closed cohort: the {cohort.Cohort.Count.ToString("N0", CultureInfo.InvariantCulture)} patients of this node alive at the end of {cohort.FeatureYear}; no new patients arrive, and patients of other hospitals admitted here are not in the node's data.",
            "Surgical volumes and procedures are not modelled: the federation's models predict admissions, inpatient days, ED visits, cost, deaths and condition onsets only.",
            "Inpatient days are the days of stays starting in the year (the feature schema's inpatient_days), so the average daily census counts a stay crossing the new year in the year it began.",
        };
        if (options.StaffedBeds is null)
        {
            allNotes.Add("occupancy is null: the node's configuration declares no staffed beds (ftwin node configure --node-dir DIR --staffed-beds N).");
        }

        var fallbacks = run.ModelOrigins.Where(o => o.Kind == ModelOrigin.Fallback).ToList();
        foreach (var f in fallbacks)
        {
            allNotes.Add($"FALLBACK: outcome {f.Outcome} uses the illustrative demo model {f.Id} (not fitted to any hospital's data): {f.Reason}");
        }

        var sources = run.UncertaintySources.Select(s => s.Source == UncertaintySource.Composition
            ? s with { Included = false, Note = "the cohort is the hospital's own patients: nothing drawn" }
            : s).ToList();
        return new FacilityResult(cohort.FeatureYear, cohort.RowsOfYear, cohort.DiedInYear, cohort.Cohort.Count, withScenario ? definition.Name : null,
            definition.Seed, run.Replicates, options.StaffedBeds, years, run.ModelOrigins, sources, allNotes);
    }

    /// <summary>Field names of the facility table, in output order.</summary>
    public const string Admissions = "admissions", InpatientDays = "inpatient_days", AverageDailyCensus = "average_daily_census", Occupancy = "occupancy",
        EdVisits = "ed_visits", Cost = "cost", People = "people", PeopleAdmitted = "people_admitted", Deaths = "deaths", InterventionCost = "intervention_cost";

    private static readonly IReadOnlyList<(string Name, Func<YearTotals, int, double> Value)> Fields =
    [
        (Admissions, (y, _) => y[Metric.Admissions]),
        (InpatientDays, (y, _) => BedDays(y)),
        // Average daily census = bed-days / days in the period (the standard census-days definition, e.g. AHRQ/CDC NHSN).
        (AverageDailyCensus, (y, year) => BedDays(y) / DaysIn(year)),
        (EdVisits, (y, _) => y[Metric.EdVisits]),
        (Cost, (y, _) => y[Metric.TotalCost]),
        (People, (y, _) => y[Metric.PersonYears]),
        (PeopleAdmitted, (y, _) => y[Metric.Admitted]),
        (Deaths, (y, _) => y[Metric.Deaths]),
        (InterventionCost, (y, _) => y[Metric.InterventionCost]),
    ];

    private static double BedDays(YearTotals y) => y[Metric.BedDays];

    /// <summary>Days in a calendar year (366 in a leap year).</summary>
    public static int DaysIn(int year) => DateTime.IsLeapYear(year) ? 366 : 365;

    private static FacilityField Field(CohortRun run, int t, string name, Func<YearTotals, double> value, bool withScenario) =>
        new(name, run.BaselineOf(t, value), withScenario ? run.ScenarioOf(t, value) : null, withScenario ? run.DifferenceOf(t, value) : null);
}

/// <summary>The facility twin on a node directory: its rows, its configuration, its audit trail.</summary>
public static class FacilityTwinOnNode
{
    /// <summary>
    /// Runs the facility twin on <paramref name="node"/>'s own patients with <paramref name="models"/> (the node's released
    /// models; the command passes <c>NodeModelRegistry.Released(node).Models</c>): rows through
    /// <see cref="Features.FeatureBuilder.ForStudy"/> under the site policy for <paramref name="purpose"/> (its consent default
    /// and sensitive exclusions apply), the cohort of <paramref name="fromYear"/> (default: the node's last data year), staffed
    /// beds from node-config.json, and one audit record of the run.
    /// </summary>
    public static FacilityResult Run(NodeDirectory node, IReadOnlyList<RegisteredModel> models, string purpose, int? fromYear, int years,
        int? replicates, uint? seed, bool allowFallback, string? scenarioYaml)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(purpose);
        if (!Features.FeatureBuilder.Purposes.Contains(purpose))
        {
            throw new FacilityTwinException($"--purpose {purpose} is not a purpose of use (known: {string.Join(", ", Features.FeatureBuilder.Purposes)})");
        }

        var modelSet = FacilityTwin.Models(models, allowFallback);
        var builder = new Features.FeatureBuilder(node.Store);
        var last = builder.DataLastYear() ?? throw new FacilityTwinException("the node holds no data: ingest the hospital's export first (ftwin node ingest)");
        var year = fromYear ?? last;
        if (year > last || year < Features.FeatureSchema.FirstYear)
        {
            throw new FacilityTwinException($"--from-year {year} is outside the node's data ({Features.FeatureSchema.FirstYear}..{last})");
        }

        var policy = node.LoadPolicy();
        var cohort = FacilityCohort.FromRows(builder.ForStudy(policy, purpose), year, last);
        var configuration = NodeConfiguration.Load(node.Path);
        var options = new FacilityOptions(years, replicates, seed, configuration.StaffedBeds);
        var notes = new List<string>();
        var definition = FacilityTwin.Definition(cohort, modelSet, options, scenarioYaml, notes);
        var result = FacilityTwin.Run(cohort, definition, scenarioYaml is not null, options, notes);
        node.Audit.Append(Audit.NodeAuditRecords.FacilityTwinRun(purpose, cohort.FeatureYear, cohort.Cohort.Count, years, result.Replicates, scenarioYaml is not null,
            result.Models.Select(m => m.Id), result.Models.Where(m => m.Kind == ModelOrigin.Fallback).Select(m => m.Outcome)));
        return result;
    }
}
