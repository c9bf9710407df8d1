using FederatedTwin.Coordinator.Dashboard.Charts;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Twin.Validation;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Twin;

/// <summary>
/// The twin's latest back-test (`ftwin twin validate` stores it through the admin API): per outcome a chart of the predicted values
/// with their 95% intervals against what the federation observed, and the table.
/// </summary>
public sealed class ValidationModel(CoordinatorStore store) : DashboardPageModel
{
    public override string Section => "twin-validation";

    /// <summary>The latest stored back-test, or null when none has been stored.</summary>
    public TwinValidation? Validation { get; private set; }

    /// <summary>When it was stored.</summary>
    public string? StoredAt { get; private set; }

    public void OnGet()
    {
        if (store.Read(TwinValidationQueries.Latest) is { } row)
        {
            Validation = TwinValidation.FromJson(row.document);
            StoredAt = row.stored_at;
        }
    }

    /// <summary>The outcomes in the order of the rows.</summary>
    public IReadOnlyList<string> Outcomes => Validation is null ? [] : [.. Validation.Rows.Select(r => r.Outcome).Distinct()];

    /// <summary>One outcome's chart.</summary>
    public string Chart(string outcome) => ValidationChart.Render(outcome,
        [.. (Validation?.Rows ?? []).Where(r => r.Outcome == outcome).Select(r => (r.Year, r.Predicted, r.Lower, r.Upper, r.Observed))]);

    public static string Number(double value) => value.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
}
