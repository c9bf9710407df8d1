using System.Globalization;
using System.Text;
using System.Text.Json;
using FederatedTwin.Coordinator.Dashboard.Charts;
using FederatedTwin.Scenarios.Scenarios;
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

    public string? Error { get; private set; }

    public IReadOnlyList<ScenarioRun> Recent => runs.Recent;

    public IReadOnlyList<ScenarioRun> Compared { get; private set; } = [];

    public void OnGet()
    {
        Yaml ??= ExampleYaml();
        Load();
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
            var run = await runs.Run(Yaml ?? string.Empty, User.Identity?.Name ?? "dashboard", HttpContext.RequestAborted);
            var compare = Compare.Where(id => runs.Get(id) is not null).Prepend(run.Id).Distinct(StringComparer.Ordinal).Take(MaxCompared);
            return Redirect("/scenarios?" + string.Join("&", compare.Select(id => "compare=" + Uri.EscapeDataString(id)).Append("measure=" + Uri.EscapeDataString(Measure))));
        }
        catch (ScenarioFileException e)
        {
            Error = e.Message;
        }

        Load();
        return Page();
    }

    public IActionResult OnGetExport(string id, string format)
    {
        if (runs.Get(id) is not { } run)
        {
            return NotFound();
        }

        var file = "scenario-" + id;
        return format switch
        {
            "json" => File(JsonSerializer.SerializeToUtf8Bytes(run.Result, ExportJson), "application/json", file + ".json"),
            "csv" => File(Encoding.UTF8.GetBytes(run.Result.ToCsv()), "text/csv", file + ".csv"),
            _ => BadRequest(),
        };
    }

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

    private List<(int Year, MeasureRow? Row)> Rows(ScenarioRun run) => run.Result.Years.Where(y => y.Key != 0).OrderBy(y => y.Key)
        .Select(y => (Year: y.Key, Row: y.Value.FirstOrDefault(r => r.Measure == Measure))).Where(p => p.Row is not null).ToList();

    /// <summary>A measure's total over the horizon (Years[0]): the paired difference, scenario minus baseline.</summary>
    public static MeasureRow? Total(ScenarioRun run, string measure) => run.Result.Years.GetValueOrDefault(0)?.FirstOrDefault(r => r.Measure == measure);

    public static string Format(Estimate e, string format = "N0") =>
        string.Create(CultureInfo.InvariantCulture, $"{e.Mean.ToString(format, CultureInfo.InvariantCulture)} [{e.Low.ToString(format, CultureInfo.InvariantCulture)}, {e.High.ToString(format, CultureInfo.InvariantCulture)}]");

    private void Load() => Compared = [.. Compare.Select(runs.Get).OfType<ScenarioRun>().DistinctBy(r => r.Id).Take(MaxCompared)];

    private static string ExampleYaml() => Encoding.UTF8.GetString(DashboardAssets.Get("example-scenario.yaml")!.Value.Content);
}
