using System.Globalization;
using FederatedTwin.Node;
using FederatedTwin.Node.Storage;
using FederatedTwin.Node.Twins;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// The end of `ftwin demo` on the hospitals' side (issue 21): every node holds the models the demo released, fetched by its own
/// worker from the coordinator (signed, checked under its pinned key), and the patient and facility twins run on its own patients.
/// </summary>
internal static class DemoNodeTwins
{
    /// <summary>The staffed beds each demo hospital declares (`ftwin node configure --staffed-beds`), scaled to its sample.</summary>
    public const int StaffedBeds = 2;

    /// <summary>
    /// Each hospital's twins on its own node: the patient twin's worklist (top 5 by next-year admission risk, pseudonyms only) for
    /// the first hospital, and every hospital's facility projection for the next three years, as `ftwin node twin patients` and
    /// `ftwin node twin facility` give them (both audited on the node).
    /// </summary>
    public static void Show(LocalFederation federation)
    {
        var c = CultureInfo.InvariantCulture;
        var (firstName, firstDir, _) = federation.Nodes[0];
        using (var node = NodeDirectory.OpenOrInitialize(firstDir))
        {
            var released = NodeModelRegistry.Released(node);
            var twin = new PatientTwin(released.Models);
            var results = PatientTwinOnNode.Score(node, twin, "HOPERAT");
            var ranked = PatientTwinReport.Rank(results, PatientTwin.Admission, 5);
            node.Audit.Append(FederatedTwin.Node.Audit.NodeAuditRecords.PatientTwinRun("demo", "HOPERAT", results.Count, ranked.Count, PatientTwin.Admission, null,
                [.. twin.Used.Select(m => m.Id)], [.. twin.MissingOutcomes.Select(m => m.Outcome)]));
            var worklist = new Table().Title($"{firstName}: patient twin worklist, top 5 of {results.Count:N0} living patients by next-year admission risk (pseudonyms; `ftwin node twin patients`)")
                .AddColumns("pseudonym", "age", "sex", "conditions", "admission risk (95%)", "expected cost");
            foreach (var r in ranked)
            {
                var p = r.Baseline.Risks[PatientTwin.Admission];
                worklist.AddRow(r.Pseudonym, r.AgeBand, r.Sex == "male" ? "M" : "F/other", r.Conditions.Count.ToString(c),
                    string.Create(c, $"{p.Value * 100:0}% ({p.Lower * 100:0}–{p.Upper * 100:0}%)"), r.Baseline.Cost is { } cost ? cost.Value.ToString("$#,0", c) : "–");
            }

            AnsiConsole.Write(worklist);
        }

        foreach (var (name, dir, _) in federation.Nodes)
        {
            using var node = NodeDirectory.OpenOrInitialize(dir);
            var released = NodeModelRegistry.Released(node);
            // A DP fit its release checks refused leaves its outcome without a federated model: the demo's projection lets the
            // illustrative demo model stand in for it and names it (the command refuses that unless --allow-fallback).
            var result = FacilityTwinOnNode.Run(node, released.Models, "HOPERAT", fromYear: null, years: 3, replicates: null, seed: null, allowFallback: true, scenarioYaml: null);
            var fallbacks = result.Models.Where(m => m.Kind == FederatedTwin.Twin.Simulation.ModelOrigin.Fallback).Select(m => m.Outcome).ToList();
            var table = new Table().Title($"{name}: facility twin, its {result.Patients:N0} living patients of {result.FeatureYear} run forward, {result.StaffedBeds} staffed beds (mean and 95% interval; `ftwin node twin facility`)"
                + (fallbacks.Count > 0 ? $"; demo models stand in for {string.Join(", ", fallbacks)}" : string.Empty))
                .AddColumns("year", "admissions", "bed-days", "daily census", "occupancy", "ED visits", "cost $M");
            foreach (var y in result.Years)
            {
                string Cell(string field, string format, double scale = 1) => y[field].Baseline is { } e
                    ? string.Create(c, $"{(e.Mean * scale).ToString(format, c)} ({(e.Low * scale).ToString(format, c)}–{(e.High * scale).ToString(format, c)})")
                    : "–";
                table.AddRow(y.Year.ToString(c), Cell(FacilityTwin.Admissions, "0"), Cell(FacilityTwin.InpatientDays, "0"), Cell(FacilityTwin.AverageDailyCensus, "0.0"),
                    Cell(FacilityTwin.Occupancy, "0'%'", 100), Cell(FacilityTwin.EdVisits, "0"), Cell(FacilityTwin.Cost, "0.0", 1e-6));
            }

            AnsiConsole.Write(table);
        }
    }

    /// <summary>
    /// Waits until every node's registry has fetched the coordinator's current catalog (each node fetches it at its next poll after
    /// a study registers a model), so the twin commands run after the demo find every model it released.
    /// </summary>
    public static async Task WaitForModels(LocalFederation federation, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var admin = federation.Admin;
        var listing = (await admin.Send(HttpMethod.Get, "/v1/admin/models", cancellationToken: cancellationToken))!.AsArray();
        var digest = ModelCatalog.Digest(listing.Select(m => (m!["id"]!.ToString(), m["created_at"]!.ToString())));
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        foreach (var (name, dir, _) in federation.Nodes)
        {
            while (true)
            {
                var store = new NodeStore(dir);
                if (store.Read(ModelQueries.CatalogDigest) == digest)
                {
                    break;
                }

                if (TimeProvider.System.GetUtcNow() > deadline)
                {
                    throw new TimeoutException($"{name} did not fetch the coordinator's model catalog within {timeout.TotalSeconds:F0} s (see its log).");
                }

                await Task.Delay(200, cancellationToken);
            }
        }
    }
}
