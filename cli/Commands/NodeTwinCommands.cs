using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Node;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Twins;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Cli.Commands;

/// <summary>What `ftwin node twin patients` was asked for.</summary>
internal sealed record PatientTwinRequest(string Purpose, string RankBy, int Top, bool Csv, string? ScenarioPath, string? OutPath);

/// <summary>
/// `ftwin node twin patients | reidentify`: the patient twin on the hospital's own patients and the deliberate, audited mapping of
/// its worklist back to the hospital's own patient ids, both on the node's host (docs/twins.md). The lead wires <see cref="Create"/>
/// under `ftwin node`.
/// </summary>
public static class NodeTwinCommands
{
    /// <summary>Exit code of a re-identification the site policy refused.</summary>
    public const int Refused = 4;

    public static Command Create()
    {
        var twin = new Command("twin", "Twins of this hospital's own patients, on the node's host (docs/twins.md).");
        var nodeDir = new Option<DirectoryInfo>("--node-dir") { Description = "The node directory.", Required = true };

        var scenario = new Option<FileInfo?>("--scenario") { Description = "A scenario file (docs/scenarios.md): each patient eligible for an intervention is also scored as if enrolled." };
        var rankBy = new Option<string>("--rank-by") { Description = "Rank by an outcome's risk (admission, death, ed_visit, onset_<condition>), an expected value (expected_cost, ...) or benefit.", DefaultValueFactory = _ => PatientTwin.Admission };
        var top = new Option<int>("--top") { Description = "Patients listed.", Required = true };
        top.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--top must be at least 1.");
            }
        });
        var json = new Option<bool>("--json") { Description = "Print one JSON object (the default)." };
        var csv = new Option<bool>("--csv") { Description = "Print a CSV table, one row per patient." };
        var purpose = new Option<string>("--purpose") { Description = "Purpose of use: TREAT or HOPERAT (consent and sensitive exclusions of the site policy for it apply).", DefaultValueFactory = _ => "HOPERAT" };
        purpose.AcceptOnlyFromAmong("TREAT", "HOPERAT");
        var outFile = new Option<FileInfo?>("--out") { Description = "Write to this new owner-only file instead of standard output." };
        var patients = new Command("patients", "Next-year risks, expected utilisation and cost of each living patient from the released models, ranked (pseudonyms only).")
        {
            nodeDir, scenario, rankBy, top, json, csv, purpose, outFile,
        };
        patients.SetAction(parse =>
        {
            if (parse.GetValue(json) && parse.GetValue(csv))
            {
                Console.Error.WriteLine("error: give --json or --csv, not both");
                return 2;
            }

            if (NodeModelCommands.Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            try
            {
                using var node = NodeDirectory.OpenOrInitialize(dir);
                var request = new PatientTwinRequest(parse.GetValue(purpose)!, parse.GetValue(rankBy)!, parse.GetValue(top), parse.GetValue(csv),
                    parse.GetValue(scenario)?.FullName, parse.GetValue(outFile)?.FullName);
                return RunPatients(node, NodeModelRegistry.Released(node), request, Console.Out);
            }
            catch (Exception e) when (e is PatientTwinException or ScenarioFileException or TwinInputException or IOException or Node.Federation.ParticipationRefusedException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        twin.Subcommands.Add(patients);

        var source = new Option<DirectoryInfo>("--source") { Description = "The hospital's own FHIR export the node ingested (NDJSON, .ndjson.gz or Bundles).", Required = true };
        var worklist = new Option<FileInfo>("--worklist") { Description = "The JSON output of `twin patients`, or pseudonyms one per line.", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "A new file, owner-only, for the mapping.", Required = true };
        var reidentifyPurpose = new Option<string>("--purpose") { Description = "Purpose of use; must be listed in the site policy's reidentification_purposes (TREAT, HOPERAT).", Required = true };
        var reidentify = new Command("reidentify", $"Map the worklist's pseudonyms back to this hospital's own patient ids (owner-only file; audited; exit {Refused} when the site policy refuses the purpose).")
        {
            nodeDir, source, worklist, output, reidentifyPurpose,
        };
        reidentify.SetAction(parse =>
        {
            if (NodeModelCommands.Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            try
            {
                using var node = NodeDirectory.OpenOrInitialize(dir);
                var list = Reidentification.ReadWorklist(parse.GetValue(worklist)!.FullName);
                var summary = Reidentification.Run(node, parse.GetValue(source)!.FullName, list, parse.GetValue(output)!.FullName, parse.GetValue(reidentifyPurpose)!, Reidentification.Operator());
                Console.WriteLine($"{summary.Matched} of {summary.WorklistSize} pseudonyms found ({summary.NotFound} not found); output SHA-256 {summary.OutputSha256}");
                return 0;
            }
            catch (ReidentificationRefusedException e)
            {
                Console.Error.WriteLine($"refused ({e.Rule}): {e.Message}");
                return Refused;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or System.Text.Json.JsonException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        twin.Subcommands.Add(reidentify);
        twin.Subcommands.Add(NodeFacilityCommand.Create());
        return twin;
    }

    /// <summary>
    /// `twin patients` on an open node with its released models: scores every living patient of the last data year under the site
    /// policy for the purpose, writes the ranked worklist and audits the run (counts and model ids only).
    /// </summary>
    internal static int RunPatients(NodeDirectory node, ReleasedModels released, PatientTwinRequest request, TextWriter stdout)
    {
        var models = released.Models;
        var twin = new PatientTwin(models);
        string? scenarioName = null, scenarioSha = null;
        if (request.ScenarioPath is { } path)
        {
            var yaml = File.ReadAllText(path);
            scenarioSha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)));
            // The scenario is resolved against the node's own models only (offered as registry "node", whatever the file names).
            // The twin's ModelSet needs a model for every outcome, so the demo set fills the outcomes the node has none for while
            // the file is read; nothing is scored from it: a risk band or a shift that resolves to a demo model is refused below.
            var definition = ScenarioParser.Parse(yaml, new ScenarioParseOptions
            {
                BaseDirectory = Path.GetDirectoryName(path),
                ModelsOverride = "node",
                FallbackOverride = "demo",
                AllowDirectories = false,
                NamedRegistries = new Dictionary<string, NamedRegistry>(StringComparer.Ordinal) { ["node"] = new NamedRegistry(twin.Used, []) },
            });
            scenarioName = definition.Name;
            try
            {
                twin = new PatientTwin(models, definition.Interventions, definition.Models.Parameters);
            }
            catch (ArgumentException e)
            {
                throw new PatientTwinException($"scenario {definition.Name}: {e.Message}");
            }
        }

        if (!PatientTwinReport.CanRankBy(twin, request.RankBy))
        {
            throw new PatientTwinException($"--rank-by {request.RankBy}: not available (available: {string.Join(", ", twin.RiskNames.Concat(twin.ExpectedNames).Concat(twin.HasScenario ? [PatientTwin.BenefitKey] : []))})");
        }

        IReadOnlyList<PatientTwinResult> results;
        try
        {
            results = PatientTwinOnNode.Score(node, twin, request.Purpose);
        }
        catch (InvalidOperationException e)
        {
            throw new PatientTwinException(e.Message);
        }

        var ranked = PatientTwinReport.Rank(results, request.RankBy, request.Top);
        var entries = released.Listing.Select(l => new PatientTwinModelEntry(l.Id, l.Version, l.Outcome, l.StudyId, l.Release, l.Released,
            twin.Used.Any(m => m.Id == l.Id), l.Reason ?? twin.Unused.FirstOrDefault(u => u.Id == l.Id)?.Reason)).ToList();

        using (var buffer = new MemoryStream())
        {
            if (request.Csv)
            {
                using var writer = new StreamWriter(buffer, leaveOpen: true);
                PatientTwinReport.WriteCsv(writer, twin, ranked);
            }
            else
            {
                PatientTwinReport.WriteJson(buffer, twin, entries, ranked, request.RankBy, results.Count, request.Purpose, scenarioName);
                buffer.WriteByte((byte)'\n');
            }

            if (request.OutPath is { } outPath)
            {
                DurableFile.CreateOwnerOnly(outPath, buffer.ToArray());
            }
            else
            {
                stdout.Write(Encoding.UTF8.GetString(buffer.ToArray()));
            }
        }

        node.Audit.Append(NodeAuditRecords.PatientTwinRun("node twin patients", request.Purpose, results.Count, ranked.Count, request.RankBy, scenarioSha,
            [.. twin.Used.Select(m => m.Id)], [.. twin.MissingOutcomes.Select(m => m.Outcome)]));
        return 0;
    }
}

/// <summary>`twin patients` cannot run as asked (no data, an unknown ranking, a scenario naming a model the node did not release).</summary>
public sealed class PatientTwinException : Exception
{
    public PatientTwinException(string message)
        : base(message)
    {
    }

    public PatientTwinException()
    {
    }

    public PatientTwinException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
