using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Coordinator.Dashboard.Charts;
using FederatedTwin.Coordinator.Storage;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Models;

/// <summary>One model: coefficients with 95% CIs (table and forest plot), federated evaluation (AUC, calibration), participants, export.</summary>
public sealed class ViewModel(CoordinatorStore store) : DashboardPageModel
{
    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    public override string Section => "models";

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = string.Empty;

    public JsonObject Document { get; private set; } = [];

    public IReadOnlyList<string> Participants { get; private set; } = [];

    public IReadOnlyList<JsonObject> Terms => (Document["terms"] as JsonArray ?? []).OfType<JsonObject>().ToList();

    public JsonObject? Evaluation => Document["evaluation"] as JsonObject;

    public IActionResult OnGet() => Load() ? Page() : NotFound();

    public IActionResult OnGetExport(string format)
    {
        if (!Load())
        {
            return NotFound();
        }

        var file = Id.Replace('/', '_');
        return format switch
        {
            "json" => File(Encoding.UTF8.GetBytes(Document.ToJsonString(Indented)), "application/json", file + ".json"),
            "csv" => File(Encoding.UTF8.GetBytes(TermsCsv()), "text/csv", file + ".csv"),
            _ => BadRequest(),
        };
    }

    public string ForestSvg()
    {
        var rows = Terms.Where(t => t["name"]?.ToString() != "(Intercept)")
            .Select(t => new ForestRow(t["name"]!.ToString(), t["coefficient"]!.GetValue<double>(), t["ci_low"]?.GetValue<double>(), t["ci_high"]?.GetValue<double>())).ToList();
        var scale = Document["link"]?.ToString() switch { "logit" => "log-odds", "log" => "log rate ratio", _ => "outcome units" };
        return ForestPlot.Render(rows, scale);
    }

    /// <summary>The calibration groups as published: a count the coordinator suppressed (with its complements) is null, and so is the observed rate it would give away.</summary>
    public IReadOnlyList<(CellCount? Count, double? Predicted, double? Observed)> Calibration() =>
        (Evaluation?["calibration"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(g => (g["count"] is JsonValue c ? Count(c.GetValue<long>()) : (CellCount?)null, g["mean_predicted"]?.GetValue<double>(), g["observed_rate"]?.GetValue<double>())).ToList();

    public string CalibrationSvg() => CalibrationPlot.Render([.. Calibration()
        .Where(g => g.Predicted is not null && g.Observed is not null)
        .Select(g => new CalibrationPoint(g.Predicted!.Value, g.Observed!.Value, g.Count is { Suppressed: false, Value: > 0 }))]);

    public static string Number(JsonNode? value, string format = "0.####") =>
        value is JsonValue v && v.TryGetValue<double>(out var d) ? d.ToString(format, CultureInfo.InvariantCulture) : "—";

    /// <summary>A p-value to four places; below that, "&lt; 0.0001" rather than a misleading 0.</summary>
    public static string PValue(JsonNode? value) =>
        value is JsonValue v && v.TryGetValue<double>(out var p) ? (p < 0.0001 ? "< 0.0001" : p.ToString("0.0000", CultureInfo.InvariantCulture)) : "—";

    /// <summary>The composition table's cells with their labels (null cells were suppressed by complementary suppression).</summary>
    public static IEnumerable<(string Label, long? Value)> Cells(JsonObject table)
    {
        var labels = table["labels"]!.AsArray().Select(l => l!.AsArray().Select(x => x!.ToString()).ToList()).ToList();
        var cells = table["cells"]!.AsArray();
        IEnumerable<string> combos = [string.Empty];
        foreach (var dimension in labels)
        {
            combos = combos.SelectMany(prefix => dimension.Select(l => prefix.Length == 0 ? l : prefix + " · " + l)).ToList();
        }

        return combos.Zip(cells, (label, cell) => (label, cell is null ? (long?)null : (long)Math.Round(cell.GetValue<double>())));
    }

    private string TermsCsv()
    {
        var csv = new StringBuilder("term,coefficient,std_error,ci_low,ci_high,p_value\n");
        foreach (var t in Terms)
        {
            var name = t["name"]!.ToString();
            csv.Append('"').Append(name.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            foreach (var field in new[] { "coefficient", "std_error", "ci_low", "ci_high", "p_value" })
            {
                csv.Append(',').Append(t[field] is JsonValue v && v.TryGetValue<double>(out var d) ? d.ToString("R", CultureInfo.InvariantCulture) : string.Empty);
            }

            csv.Append('\n');
        }

        return csv.ToString();
    }

    private bool Load()
    {
        var row = store.Read(c => RegistryQueries.DocumentWithStudy(c, Id));
        if (row is null)
        {
            return false;
        }

        Document = JsonNode.Parse(row.model_json)!.AsObject();
        Participants = store.Read(c => StudyQueries.AcceptedNodeNames(c, row.study_id));
        return true;
    }
}
