using System.Globalization;
using System.Text;
using System.Text.Json;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Dashboard.Charts;
using FederatedTwin.Coordinator.Storage;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Models;

/// <summary>One model: coefficients with 95% CIs (table and forest plot), federated evaluation (AUC, calibration), participants, export.</summary>
public sealed class ViewModel(CoordinatorStore store) : DashboardPageModel
{
    public override string Section => "models";

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = string.Empty;

    /// <summary>The stored document, read as the type its registry kind names (a GLM, a FedAvg model or a composition).</summary>
    public IRegistryDocument? Document { get; private set; }

    public GlmModelDocument? Glm => Document as GlmModelDocument;

    public FedAvgModelDocument? FedAvg => Document as FedAvgModelDocument;

    public CompositionDocument? Composition => Document as CompositionDocument;

    public IReadOnlyList<string> Participants { get; private set; } = [];

    /// <summary>Every version of this model's lineage, oldest first (one for a one-off study's model).</summary>
    public IReadOnlyList<Registry.ModelVersion> Versions { get; private set; } = [];

    /// <summary>This model's entry among <see cref="Versions"/>.</summary>
    public Registry.ModelVersion? This => Versions.FirstOrDefault(v => v.Id == Id);

    /// <summary>The coefficients of a GLM or FedAvg model (a composition has none).</summary>
    public IReadOnlyList<ModelTermDocument> Terms => Glm?.Terms ?? FedAvg?.Terms ?? [];

    /// <summary>A GLM's held-out evaluation (FedAvg models and compositions are not evaluated).</summary>
    public GlmEvaluationSummary? Evaluation => Glm?.Evaluation;

    /// <summary>The study that produced the document and its purpose of use.</summary>
    public (string StudyId, string PurposeOfUse, string CreatedAt) Provenance => Document switch
    {
        GlmModelDocument g => (g.StudyId, g.PurposeOfUse, g.CreatedAt),
        FedAvgModelDocument f => (f.StudyId, f.PurposeOfUse, f.CreatedAt),
        CompositionDocument c => (c.StudyId, c.PurposeOfUse, c.CreatedAt),
        _ => (string.Empty, string.Empty, string.Empty),
    };

    /// <summary>The family and link of a GLM or FedAvg model; null for a composition.</summary>
    public (string Family, string Link)? FamilyAndLink => Glm is { } g ? (g.Family, g.Link) : FedAvg is { } f ? (f.Family, f.Link) : null;

    /// <summary>Whether the release was noised, and its stated zCDP ρ.</summary>
    public (bool Dp, double? Rho) Privacy => Document switch
    {
        GlmModelDocument g => (g.Privacy.Dp, g.Privacy.Rho),
        FedAvgModelDocument f => (f.Privacy.Dp, f.Privacy.Rho),
        CompositionDocument c => (c.Privacy.Dp, c.Privacy.Rho),
        _ => (false, null),
    };

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
            "json" => File(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(Document, Document!.GetType(), RegistryJson.Indented)), "application/json", file + ".json"),
            "csv" => File(Encoding.UTF8.GetBytes(TermsCsv()), "text/csv", file + ".csv"),
            _ => BadRequest(),
        };
    }

    public string ForestSvg()
    {
        var rows = Terms.Where(t => t.Name != "(Intercept)").Select(t => new ForestRow(t.Name, t.Coefficient, t.CiLow, t.CiHigh)).ToList();
        var scale = FamilyAndLink?.Link switch { "logit" => "log-odds", "log" => "log rate ratio", _ => "outcome units" };
        return ForestPlot.Render(rows, scale);
    }

    /// <summary>The calibration groups as published: a count the coordinator suppressed (with its complements) is null, and so is the observed rate it would give away.</summary>
    public IReadOnlyList<(CellCount? Count, double? Predicted, double? Observed)> Calibration() =>
        (Evaluation as BinomialEvaluation)?.Calibration
            .Select(g => (g.Count is { } c ? Count(c) : (CellCount?)null, (double?)g.MeanPredicted, g.ObservedRate)).ToList() ?? [];

    public string CalibrationSvg() => CalibrationPlot.Render([.. Calibration()
        .Where(g => g.Predicted is not null && g.Observed is not null)
        .Select(g => new CalibrationPoint(g.Predicted!.Value, g.Observed!.Value, g.Count is { Suppressed: false, Value: > 0 }))]);

    public static string Number(double? value, string format = "0.####") =>
        value is { } d ? d.ToString(format, CultureInfo.InvariantCulture) : "—";

    /// <summary>A p-value to four places; below that, "&lt; 0.0001" rather than a misleading 0.</summary>
    public static string PValue(double? value) =>
        value is { } p ? (p < 0.0001 ? "< 0.0001" : p.ToString("0.0000", CultureInfo.InvariantCulture)) : "—";

    /// <summary>The composition table's cells with their labels (null cells were suppressed by complementary suppression).</summary>
    public static IEnumerable<(string Label, long? Value)> Cells(PublishedTableDocument table)
    {
        ArgumentNullException.ThrowIfNull(table);
        IEnumerable<string> combos = [string.Empty];
        foreach (var dimension in table.Labels)
        {
            combos = combos.SelectMany(prefix => dimension.Select(l => prefix.Length == 0 ? l : prefix + " · " + l)).ToList();
        }

        return combos.Zip(table.Cells, (label, cell) => (label, cell));
    }

    private string TermsCsv()
    {
        var csv = new StringBuilder("term,coefficient,std_error,ci_low,ci_high,p_value\n");
        foreach (var t in Terms)
        {
            csv.Append('"').Append(t.Name.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            foreach (var value in new[] { t.Coefficient, t.StdError, t.CiLow, t.CiHigh, t.PValue })
            {
                csv.Append(',').Append(value is { } d ? d.ToString("R", CultureInfo.InvariantCulture) : string.Empty);
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

        // The registry's kind column says which document the row holds, as the registry snapshot reads it.
        Document = row.kind switch
        {
            RegisteredModel.GlmKind => GlmModelDocument.FromJson(row.model_json),
            FedAvgModelDocument.FedAvgKind => FedAvgModelDocument.FromJson(row.model_json),
            CompositionDocument.CompositionKind => CompositionDocument.FromJson(row.model_json),
            _ => null,
        };
        if (Document is null)
        {
            return false;
        }

        Participants = store.Read(c => StudyQueries.AcceptedNodeNames(c, row.study_id));
        Versions = Registry.ModelVersions.Of(store, Id);
        return true;
    }
}
