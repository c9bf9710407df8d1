using FederatedTwin.Node.Twins;

namespace FederatedTwin.Node.Status;

/// <summary>
/// Builds the twins page (<see cref="NodeTwinsPage"/>) from the node's own registry and data: the patient twin's worklist (top 10
/// by next-year admission risk) and the facility twin's five-year projection, each run audited like its command. The facility
/// projection here lets the illustrative demo models fill an outcome the federation has released no model for, and names every
/// such outcome on the page; `ftwin node twin facility` refuses that unless asked (--allow-fallback).
/// </summary>
internal static class NodeTwinsView
{
    public const int WorklistSize = 10;

    public const int Years = 5;

    private const string Purpose = "HOPERAT";

    public static TwinsView Build(NodeDirectory node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var released = NodeModelRegistry.Released(node);
        var twin = new PatientTwin(released.Models);
        IReadOnlyList<WorklistRow> worklist = [];
        string? worklistProblem = null;
        var scored = 0;
        if (!PatientTwinReport.CanRankBy(twin, PatientTwin.Admission))
        {
            worklistProblem = "No worklist: the federation has released no model of next-year admission to this node yet.";
        }
        else
        {
            try
            {
                var results = PatientTwinOnNode.Score(node, twin, Purpose);
                scored = results.Count;
                var ranked = PatientTwinReport.Rank(results, PatientTwin.Admission, WorklistSize);
                worklist = [.. ranked.Select((r, i) =>
                {
                    var risk = r.Baseline.Risks[PatientTwin.Admission];
                    return new WorklistRow(i + 1, r.Pseudonym, r.AgeBand, r.Sex, r.Conditions, risk.Value, risk.Lower, risk.Upper, r.Baseline.Cost?.Value, r.Benefit);
                })];
                node.Audit.Append(Audit.NodeAuditRecords.PatientTwinRun("status page", Purpose, results.Count, ranked.Count, PatientTwin.Admission, null,
                    [.. twin.Used.Select(m => m.Id)], [.. twin.MissingOutcomes.Select(m => m.Outcome)]));
            }
            catch (InvalidOperationException e)
            {
                worklistProblem = "No worklist: " + e.Message + ".";
            }
        }

        var beds = NodeConfiguration.Load(node.Path).StaffedBeds;
        IReadOnlyList<FacilityRow> facility = [];
        string? facilityProblem = null;
        var notes = new List<string>();
        try
        {
            var result = FacilityTwinOnNode.Run(node, released.Models, Purpose, fromYear: null, Years, replicates: null, seed: null, allowFallback: true, scenarioYaml: null);
            facility = [.. result.Years.Select(y => new FacilityRow(y.Year, Of(y, FacilityTwin.Admissions), Of(y, FacilityTwin.InpatientDays), Of(y, FacilityTwin.AverageDailyCensus),
                result.StaffedBeds is null ? null : Of(y, FacilityTwin.Occupancy), Of(y, FacilityTwin.EdVisits), Of(y, FacilityTwin.Cost)))];
            var fallbacks = result.Models.Where(m => m.Kind == Twin.Simulation.ModelOrigin.Fallback).Select(m => m.Outcome).ToList();
            if (fallbacks.Count > 0)
            {
                notes.Add($"Illustrative demo models, not the federation's, stand in for the outcomes without a released model: {string.Join(", ", fallbacks)}.");
            }

            notes.Add($"Cohort: this hospital's {result.Patients:N0} living patients of {result.FeatureYear}, run forward {Years} years, {result.Replicates} replicates (coefficient uncertainty and Monte Carlo); a closed cohort (no new patients arrive).");
            notes.AddRange(result.Notes.Where(n => !n.StartsWith("FALLBACK", StringComparison.Ordinal))); // the fallbacks are named once, above
        }
        catch (Exception e) when (e is FacilityTwinException or Twin.Simulation.ModelSetException or InvalidOperationException)
        {
            facilityProblem = "No facility projection: " + e.Message;
        }

        return new TwinsView("next-year admission risk", worklist, scored, worklistProblem, facility, beds, facilityProblem, notes, released.Listing);
    }

    private static (double Value, double Low, double High) Of(FacilityYear year, string field) =>
        year[field].Baseline is { } e ? (e.Mean, e.Low, e.High) : (double.NaN, double.NaN, double.NaN);
}
