using System.Globalization;
using System.Text;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Registry;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Twin.Scenarios;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Models;

/// <summary>
/// What changed between two versions of a model lineage (docs/models.md, "Versions"): each coefficient in both with its difference
/// and whether that exceeds the combined standard error, the held-out evaluation and calibration of both, and a scenario's result
/// under each version: the same scenario file run twice through the dashboard's scenario runs, each pinned to one version
/// (<see cref="ScenarioRuns.Start"/>), shown with its intervals and the difference of the means.
/// </summary>
public sealed class DiffModel(CoordinatorStore store, ScenarioRuns runs) : DashboardPageModel
{
    public override string Section => "models";

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = string.Empty;

    [BindProperty(SupportsGet = true)]
    public int From { get; set; }

    [BindProperty(SupportsGet = true)]
    public int To { get; set; }

    /// <summary>The scenario run under version <see cref="From"/> (an id of <see cref="ScenarioRuns"/>).</summary>
    [BindProperty(SupportsGet = true)]
    public string? RunFrom { get; set; }

    /// <summary>The scenario run under version <see cref="To"/>.</summary>
    [BindProperty(SupportsGet = true)]
    public string? RunTo { get; set; }

    [BindProperty]
    public string? Yaml { get; set; }

    public ModelDiff? Diff { get; private set; }

    public string? Error { get; private set; }

    public ScenarioRun? ScenarioFrom => RunFrom is null ? null : runs.Get(RunFrom);

    public ScenarioRun? ScenarioTo => RunTo is null ? null : runs.Get(RunTo);

    /// <summary>The measures compared under both versions (totals over the horizon).</summary>
    public static readonly IReadOnlyList<(string Measure, string Label, string Format)> Measures =
    [
        ("total_cost_of_care", "Total cost of care, USD", "N0"),
        ("admissions_per_1000", "Admissions per 1,000", "N1"),
        ("net_savings", "Net savings, USD", "N0"),
    ];

    public IActionResult OnGet()
    {
        if (!Load())
        {
            return NotFound();
        }

        Yaml ??= ScenarioFrom?.Yaml ?? Encoding.UTF8.GetString(DashboardAssets.Get("example-scenario.yaml")!.Value.Content);
        return Page();
    }

    /// <summary>Runs the scenario under both versions (analysts and admins), then shows the page following both runs.</summary>
    public async Task<IActionResult> OnPostScenarioAsync()
    {
        if (!await Allowed(DashboardPolicies.Analyze))
        {
            return Forbid();
        }

        if (!Load())
        {
            return NotFound();
        }

        try
        {
            var a = runs.Start(Yaml ?? string.Empty, ScenarioTwin.Registry, User.Identity?.Name ?? "dashboard", Diff!.From.Id);
            var b = runs.Start(Yaml ?? string.Empty, ScenarioTwin.Registry, User.Identity?.Name ?? "dashboard", Diff.To.Id);
            return Redirect($"/models/diff?id={Uri.EscapeDataString(Id)}&from={From}&to={To}&runFrom={a.Id}&runTo={b.Id}");
        }
        catch (Exception e) when (e is ScenarioFileException or InvalidOperationException or KeyNotFoundException)
        {
            Error = e.Message;
            return Page();
        }
    }

    /// <summary>A measure's total-over-the-horizon row of a finished run, or null.</summary>
    public static MeasureRow? Total(ScenarioRun? run, string measure) =>
        run is { State: ScenarioRunState.Completed, Result: { } r } ? r.Years.GetValueOrDefault(0)?.FirstOrDefault(x => x.Measure == measure) : null;

    public static string Number(double? value, string format = "0.####") => value is { } d ? d.ToString(format, CultureInfo.InvariantCulture) : "—";

    public static string Interval(Estimate e, string format) =>
        string.Create(CultureInfo.InvariantCulture, $"{e.Mean.ToString(format, CultureInfo.InvariantCulture)} ({e.Low.ToString(format, CultureInfo.InvariantCulture)} to {e.High.ToString(format, CultureInfo.InvariantCulture)})");

    private bool Load()
    {
        try
        {
            Diff = ModelVersions.Diff(store, Id, From, To);
            return true;
        }
        catch (KeyNotFoundException e)
        {
            Error = e.Message;
            return false;
        }
        catch (FormatException e)
        {
            Error = e.Message;
            return false;
        }
    }
}
