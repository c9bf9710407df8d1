using System.Globalization;
using System.Text;
using System.Text.Json;
using FederatedTwin.Coordinator.Dashboard.Charts;
using FederatedTwin.Twin.Scenarios;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Scenarios;

/// <summary>Run a scenario file on the twin and compare up to four runs: year-by-year charts with 95% bands, MSSP settlement.</summary>
public sealed class IndexModel(ScenarioRuns runs) : DashboardPageModel
{
    public const int MaxCompared = 4;

    private static readonly JsonSerializerOptions ExportJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>The measures an analyst can chart, with the unit shown on the axis.</summary>
    public static readonly IReadOnlyList<(string Measure, string Label, string Unit)> Measures =
    [
        ("total_cost_of_care", "Total cost of care", "USD"),
        ("pmpm", "Cost per member per month", "USD PMPM"),
        ("admissions_per_1000", "Admissions per 1,000", "per 1,000 person-years"),
        ("ed_visits_per_1000", "ED visits per 1,000", "per 1,000 person-years"),
        ("deaths", "Deaths", "people (simulated)"),
        ("net_savings", "Net savings", "USD"),
    ];

    public override string Section => "scenarios";

    [BindProperty(SupportsGet = true)]
    public List<string> Compare { get; set; } = [];

    [BindProperty(SupportsGet = true)]
    public string Measure { get; set; } = "total_cost_of_care";

    [BindProperty]
    public string? Yaml { get; set; }

    [BindProperty]
    public IFormFile? YamlFile { get; set; }

    /// <summary>The twin to run on: the coordinator's registry (demo models where it has none) or the demo model set.</summary>
    [BindProperty]
    public ScenarioTwin Twin { get; set; } = ScenarioTwin.Registry;

    /// <summary>A run just started from this page, followed by the progress region until it ends.</summary>
    [BindProperty(Name = "run", SupportsGet = true)]
    public string? RunId { get; set; }

    public string? Error { get; private set; }

    public IReadOnlyList<ScenarioRun> Recent => runs.Recent;

    public IReadOnlyList<ScenarioRun> Compared { get; private set; } = [];

    /// <summary>The run named by ?run= in any state (the progress fragment reports its end too).</summary>
    public ScenarioRun? Following { get; private set; }

    /// <summary>Whether the page shows the progress region: the followed run is waiting, running or has failed.</summary>
    public bool ShowProgress => Following is { State: not ScenarioRunState.Completed };

    public void OnGet()
    {
        Load();
        // The box keeps the followed run's file and twin, so the next run starts from what the analyst last ran.
        Yaml ??= Following?.Yaml ?? ExampleYaml();
        Twin = Following?.Twin ?? Twin;
    }

    public async Task<IActionResult> OnPostRunAsync()
    {
        if (!await Allowed(DashboardPolicies.Analyze))
        {
            return Forbid();
        }

        if (YamlFile is { Length: > 0 and <= 256 * 1024 })
        {
            using var reader = new StreamReader(YamlFile.OpenReadStream());
            Yaml = await reader.ReadToEndAsync(HttpContext.RequestAborted);
        }

        try
        {
            var run = runs.Start(Yaml ?? string.Empty, Twin, User.Identity?.Name ?? "dashboard");
            // Post/redirect/get: the page then follows the run in its progress region and shows it when it has finished.
            return Redirect(PageUrl(run.Id, Compare.Where(id => runs.Get(id) is not null).Take(MaxCompared - 1)));
        }
        catch (ScenarioFileException e)
        {
            Error = e.Message;
        }
        catch (InvalidOperationException e)
        {
            Error = e.Message;
        }

        Load();
        return Page();
    }

    /// <summary>The progress region's fragment (polled by live.js; data-final once the run has ended).</summary>
    public IActionResult OnGetProgress()
    {
        Load();
        return Following is null ? NotFound() : Partial("_ScenarioProgress", this);
    }

    public IActionResult OnGetExport(string id, string format)
    {
        if (runs.Get(id) is not { Result: { } result } run)
        {
            return NotFound();
        }

        var file = "scenario-" + id;
        return format switch
        {
            "json" => File(JsonSerializer.SerializeToUtf8Bytes(result, ExportJson), "application/json", file + ".json"),
            "csv" => File(Encoding.UTF8.GetBytes(result.ToCsv()), "text/csv", file + ".csv"),
            // FHIR R4 MeasureReport of the quality proxies (docs/scenarios.md); application/fhir+json is FHIR's JSON media type.
            "measurereport" => File(Encoding.UTF8.GetBytes(MeasureReportExport.ToJson(result, run.StartYear, run.At)), "application/fhir+json", file + ".measurereport.json"),
            _ => BadRequest(),
        };
    }

    /// <summary>This page with a run followed (or shown) first, the compared runs after it and the charted measure.</summary>
    public string PageUrl(string? run, IEnumerable<string> compare) =>
        "/scenarios?" + string.Join("&", (run is null ? [] : new[] { "run=" + Uri.EscapeDataString(run) })
            .Concat(compare.Where(id => id != run).Distinct(StringComparer.Ordinal).Select(id => "compare=" + Uri.EscapeDataString(id)))
            .Append("measure=" + Uri.EscapeDataString(Measure)));

    public (string Label, string Unit) MeasureInfo => Measures.FirstOrDefault(m => m.Measure == Measure) is { Measure: not null } m ? (m.Label, m.Unit) : ("Total cost of care", "USD");

    public string Chart(ScenarioRun run)
    {
        var rows = Rows(run);
        // One value axis for every compared scenario, so their charts can be read against each other.
        var all = Compared.SelectMany(Rows).SelectMany(p => new[] { p.Row!.Baseline.Low, p.Row.Scenario.Low, p.Row.Baseline.High, p.Row.Scenario.High }).ToList();
        var (label, unit) = MeasureInfo;
        return BandChart.Render($"{label}: baseline and scenario", unit,
        [
            new BandSeries("baseline", "baseline", [.. rows.Select(p => (p.Year, p.Row!.Baseline.Mean, p.Row.Baseline.Low, p.Row.Baseline.High))]),
            new BandSeries("scenario", "scenario", [.. rows.Select(p => (p.Year, p.Row!.Scenario.Mean, p.Row.Scenario.Low, p.Row.Scenario.High))]),
        ], all.Count == 0 ? null : (all.Min(), all.Max()));
    }

    private List<(int Year, MeasureRow? Row)> Rows(ScenarioRun run) => run.Result!.Years.Where(y => y.Key != 0).OrderBy(y => y.Key)
        .Select(y => (Year: y.Key, Row: y.Value.FirstOrDefault(r => r.Measure == Measure))).Where(p => p.Row is not null).ToList();

    /// <summary>A measure's total over the horizon (Years[0]): the paired difference, scenario minus baseline.</summary>
    public static MeasureRow? Total(ScenarioRun run, string measure) => run.Result!.Years.GetValueOrDefault(0)?.FirstOrDefault(r => r.Measure == measure);

    public static string Format(Estimate e, string format = "N0") =>
        string.Create(CultureInfo.InvariantCulture, $"{e.Mean.ToString(format, CultureInfo.InvariantCulture)} [{e.Low.ToString(format, CultureInfo.InvariantCulture)}, {e.High.ToString(format, CultureInfo.InvariantCulture)}]");

    private void Load()
    {
        // A followed run that has finished joins the comparison first; while it waits or runs, the page shows its progress.
        var followed = RunId is null ? null : runs.Get(RunId);
        Following = followed;
        var ids = (followed is { State: ScenarioRunState.Completed } ? Compare.Prepend(followed.Id) : Compare).ToList();
        Compared = [.. ids.Select(runs.Get).OfType<ScenarioRun>().Where(r => r.Result is not null).DistinctBy(r => r.Id).Take(MaxCompared)];
    }

    private static string ExampleYaml() => Encoding.UTF8.GetString(DashboardAssets.Get("example-scenario.yaml")!.Value.Content);
}
