using FederatedTwin.Analytics.Census;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;
using static FederatedTwin.Cli.Demo.DemoStudies;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin demo`: a coordinator and three hospital nodes as separate processes on loopback, enrolled
/// with signed keys, each with its own generated FHIR export ingested through the real pipeline; one
/// study end to end; the census as the coordinator shows it (exact, with counts under 11 suppressed) printed
/// next to the census the demo counts itself in the sites' FHIR files (never through a node or the coordinator).
/// The census is exact on purpose, to show that threshold decryption returns exactly the sum: the demo's site
/// policies allow it (dp_may_be_off, exact_small_counts); the composition and the GLMs carry DP noise unless --dp off.
/// </summary>
internal static class DemoCommand
{
    private static readonly string[] Sites = ["university-hospital", "community-hospital", "safety-net-hospital"];

    /// <summary>
    /// 3 × 1,700 = 5,100 patients, so that the demo ACO has the 5,000 assigned beneficiaries the Shared Savings Program
    /// requires at the least (42 CFR 425.110(a)). Smaller federations run (--patients-per-site), but their DP
    /// models are noise at the demo's budgets, as a real ACO's would be.
    /// </summary>
    private const int DefaultPatientsPerSite = 1_700;

    public static Command Create()
    {
        var output = new Option<DirectoryInfo?>("--out") { Description = "Keep the coordinator's and nodes' directories here (DIR/coordinator, DIR/nodes/<name>) and the fitted models (DIR/results/<study>.json) instead of a temporary folder." };
        var dp = new Option<string>("--dp") { Description = "on: the composition and the GLMs add node-side discrete Gaussian noise (zCDP), charged to each node's privacy ledger; off: every study is exact (the demo's site policies allow it).", DefaultValueFactory = _ => "on" };
        dp.AcceptOnlyFromAmong("on", "off");
        var keepRunning = new Option<bool>("--keep-running") { Description = "After the demo, keep the coordinator (with its dashboard) and the nodes running, create a demo admin account with a random password, print the dashboard's URL and the account, and wait for Ctrl+C." };
        var patients = new Option<int>("--patients-per-site") { Description = "Synthetic patients generated for each of the three hospitals.", DefaultValueFactory = _ => DefaultPatientsPerSite };
        patients.Validators.Add(r =>
        {
            if (r.GetValue(patients) is < 100 or > 100_000)
            {
                r.AddError("--patients-per-site must be between 100 and 100,000");
            }
        });
        var command = new Command("demo", "Run a coordinator and three nodes on loopback: an encrypted census, the population composition and the twin's federated GLMs, end to end.") { output, dp, keepRunning, patients };
        command.SetAction((parse, cancellationToken) => Run(parse.GetValue(output), parse.GetValue(dp) == "on", parse.GetValue(keepRunning), parse.GetValue(patients), TimeProvider.System, cancellationToken));
        return command;
    }

    private static async Task<int> Run(DirectoryInfo? output, bool dp, bool keepRunning, int patientsPerSite, TimeProvider clock, CancellationToken cancellationToken)
    {
        var root = output?.FullName ?? Path.Combine(Path.GetTempPath(), "ftwin-demo-" + Guid.NewGuid().ToString("N")[..8]);
        if (output is not null && Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            Console.Error.WriteLine($"error: {root} is not empty; give an empty or new directory to --out");
            return 2;
        }

        var total = Stopwatch.StartNew();
        try
        {
            AnsiConsole.MarkupLine($"[bold]FederatedTwin demo[/]: a coordinator and {Sites.Length} hospital nodes, separate processes on 127.0.0.1, directories under {Markup.Escape(root)}");
            var exports = Path.Combine(root, "exports");
            using var federation = await LocalFederation.Start(root, Sites, "HOPERAT", pollWaitSeconds: 2, cancellationToken, privacyBudget: DemoBudget, prepare: (i, node) =>
            {
                // Each hospital: its own synthetic FHIR export (a different case mix), through the real ingest pipeline.
                var export = Path.Combine(exports, Sites[i]);
                var generated = PopulationGenerator.Generate(patientsPerSite, SyntheticProfile.All[i], (ulong)(i + 1), export, badLines: 3);
                var ingested = new IngestPipeline(node).Run(export);
                // Staffed beds as each hospital declares them in its node configuration, scaled to the demo's samples of a few
                // thousand patients (a real hospital declares its own; docs/twins.md, "Facility twin").
                new NodeConfiguration(DemoNodeTwins.StaffedBeds).Save(node.Path);
                AnsiConsole.MarkupLine($"{Sites[i]}: {generated.Patients} patients ({SyntheticProfile.All[i].Name}) generated; ingest read {ingested.LinesRead} lines, accepted {ingested.Accepted}, quarantined {ingested.Quarantined}, in {ingested.Seconds:F1} s");
            });
            AnsiConsole.MarkupLine($"coordinator at {federation.CoordinatorUrl} (admin API on its own listener, {federation.CoordinatorAdminUrl}); nodes enrolled with one-time tokens, coordinator key pinned in each site policy");

            const string studyId = CensusId;
            await federation.CreateStudy(StudyYaml.Write(DemoStudies.Census()), cancellationToken);
            var study = await federation.WaitForStudy(studyId, TimeSpan.FromSeconds(60), null, cancellationToken);
            if (study["state"]?.ToString() != "completed")
            {
                AnsiConsole.MarkupLine($"[red]The study ended {Markup.Escape($"{study["state"]}")}: {Markup.Escape($"{study["failure_reason"]}")}[/]");
                return 1;
            }

            var expected = ExpectedCensus(Sites.Select(s => Path.Combine(exports, s, "Patient.000.ndjson")), clock);
            // What the coordinator shows of the exact census: cells under the minimum cell size (11), and the complements that would
            // reveal them through a margin, are suppressed (null); every shown count must be the census counted in the FHIR files.
            var shown = study["result"]!["sums"]!.AsArray().Select(v => v?.GetValue<long>()).ToArray();
            var minimum = study["result"]!["minimum_cell_size"]!.GetValue<int>();
            var labels = LocalVectors.Labels(LocalVectors.PatientsByAgeBandAndSex);
            var table = new Table().Title($"Patients alive at the start of {CensusYear}, by age band and sex").AddColumns("cell", "shown by the coordinator", "counted by the demo in the sites' FHIR files", "");
            for (var i = 0; i < labels.Count; i++)
            {
                var mark = shown[i] is not { } value ? (expected[i] < minimum ? $"[grey]under {minimum}: suppressed[/]" : "[grey]suppressed as a complement[/]") : value == expected[i] ? "[green]=[/]" : "[red]≠[/]";
                table.AddRow(labels[i], shown[i]?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "suppressed", expected[i].ToString(System.Globalization.CultureInfo.InvariantCulture), mark);
            }

            AnsiConsole.Write(table);
            var latency = study["rounds"]![0]!["latency_ms"]!.GetValue<double>();
            StudyCommands.PrintStudy(study);
            AnsiConsole.MarkupLine($"round latency (key shares committed, then opened → collective key → updates committed, then opened → aggregate → threshold decrypt, {Sites.Length} nodes, loopback): [bold]{latency / 1000:F2} s[/]; demo total {total.Elapsed.TotalSeconds:F1} s");
            if (shown.Where((v, i) => v is { } n && n != expected[i]).Any() || shown.Where((v, i) => v is null && expected[i] < minimum).Count() != expected.Count(e => e < minimum))
            {
                AnsiConsole.MarkupLine("[red]The census the coordinator shows differs from the sum of the sites' inputs.[/]");
                return 1;
            }

            AnsiConsole.MarkupLine($"[green]Every count the coordinator shows equals the census counted in the three sites' FHIR files; counts under {minimum}, and the complements that would give them away, are suppressed (the census is exact: its sites' policies allow exact aggregates and exact small counts to reach the coordinator, which suppresses them for analysts); no site's counts left it unencrypted.[/]");

            // The population twin's models: exact federated GLMs, trained at once, each round one encrypted aggregation.
            var models = await TrainModels(federation, dp, output is null ? null : Path.Combine(root, "results"), cancellationToken);
            if (models is null)
            {
                return 1;
            }

            // The population twin on the registry just trained: one scenario, its paired difference and MSSP settlement.
            if (!DemoTwin.Run(federation.CoordinatorDir, root))
            {
                return 1;
            }

            // The back-test: the same models (trained up to the cut-off) run forward from the cut-off's composition, against the
            // federation's DP totals of the two years after it.
            var observed = await federation.WaitForStudy(ObservedOutcomesId, TimeSpan.FromSeconds(10), null, cancellationToken);
            if (!await DemoBackTest.Run(federation, observed, root, output is null ? null : Path.Combine(root, "results"), cancellationToken))
            {
                return 1;
            }

            // The hospitals' own twins: each node fetched the released models itself (signed, checked under its pinned key).
            await DemoNodeTwins.WaitForModels(federation, TimeSpan.FromSeconds(30), cancellationToken);
            DemoNodeTwins.Show(federation);

            AnsiConsole.MarkupLine($"demo total {total.Elapsed.TotalSeconds:F1} s");
            if (output is not null)
            {
                AnsiConsole.MarkupLine($"kept: {Markup.Escape(Path.Combine(root, "coordinator"))} and {Markup.Escape(Path.Combine(root, "nodes"))}/<name>");
                var site = Path.Combine(root, "nodes", Sites[0]);
                var today = clock.GetUtcNow().ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
                AnsiConsole.MarkupLine("for the compliance officer:");
                AnsiConsole.MarkupLine($"  ftwin audit verify --node-dir {Markup.Escape(site)}   (or --data-dir {Markup.Escape(Path.Combine(root, "coordinator"))}; ftwin audit export ... --out audit.ndjson)");
                AnsiConsole.MarkupLine($"  ftwin compliance report --node-dir {Markup.Escape(site)} --from {today} --to {today} --out {Markup.Escape(Path.Combine(root, "compliance-" + Sites[0] + ".html"))}");
            }

            if (keepRunning)
            {
                return await DemoDashboard.KeepRunning(federation, cancellationToken) ? 0 : 1;
            }

            return 0;
        }
        finally
        {
            if (output is null)
            {
                TryDelete(root);
            }
        }
    }

    /// <summary>A fitted model as DIR/results/&lt;study&gt;.json: every name is a column of `ftwin node features export --study`.</summary>
    private static JsonObject ResultFile(JsonNode model) => new()
    {
        ["study"] = model["study_id"]!.ToString(),
        ["family"] = model["family"]!.ToString() == "binomial" ? "logistic" : model["family"]!.ToString(),
        ["outcome"] = model["outcome"]!.ToString(),
        ["offset"] = model["offset"]?.ToString(),
        ["coefficients"] = new JsonArray([.. model["terms"]!.AsArray().Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t!["name"]!.ToString(),
            ["estimate"] = t["coefficient"]!.GetValue<double>(),
            ["std_error"] = t["std_error"]!.GetValue<double>(),
        })]),
        ["rounds"] = model["rounds"]!.GetValue<int>(),
        ["deviance"] = model["deviance"]!.GetValue<double>(),
    };

    /// <summary>Patients by age band and number of chronic conditions (both sexes), as published: "–" where suppressed (small, or hidden so a margin cannot reveal one).</summary>
    private static void PrintComposition(JsonNode model)
    {
        var table = model["composition"]!;
        var labels = table["labels"]!.AsArray().Select(l => l!.AsArray().Select(x => x!.ToString()).ToList()).ToList();
        var cells = table["cells"]!.AsArray();
        var (sexes, levels) = (labels[1].Count, labels[2].Count);
        var minimum = model["minimum_cell_size"]!.GetValue<int>();
        var privacy = model["privacy"]?["rho"] is { } rho ? $"zCDP rho {rho}" : $"exact, planned with its prevalence tables ({model["suppression"]})";
        var view = new Table().Title($"Population composition {model["year"]} ({privacy}, cells under {minimum} suppressed, {table["suppressed"]} hidden)")
            .AddColumns(["age band", .. labels[2].Select(l => l == "total" ? "total" : l + " conditions")]);
        for (var a = 0; a < labels[0].Count; a++)
        {
            var row = new List<string> { labels[0][a] };
            for (var c = 0; c < levels; c++)
            {
                var cell = cells[(((a * sexes) + (sexes - 1)) * levels) + c]; // the "total" over sex
                row.Add(cell is null ? "–" : cell.ToString());
            }

            view.AddRow([.. row.Select(Markup.Escape)]);
        }

        AnsiConsole.Write(view);
    }

    private static async Task<List<JsonNode>?> TrainModels(LocalFederation federation, bool dp, string? results, CancellationToken cancellationToken)
    {
        foreach (var model in DemoStudies.Models)
        {
            await federation.CreateStudy(StudyYaml.Write(DemoStudies.Model(model, dp)), cancellationToken);
        }

        await federation.CreateStudy(StudyYaml.Write(DemoStudies.Composition(dp)), cancellationToken);
        // The back-test's inputs, at the same time as the models (which are trained up to its cut-off): the composition of the
        // cut-off year and the DP totals the federation observed after it.
        await federation.CreateStudy(StudyYaml.Write(DemoStudies.Composition(dp, CutoffYear)), cancellationToken);
        await federation.CreateStudy(StudyYaml.Write(DemoStudies.ObservedOutcomes()), cancellationToken);

        var models = new List<JsonNode>();
        foreach (var id in DemoStudies.ModelIds)
        {
            var study = await federation.WaitForStudy(id, TimeSpan.FromSeconds(180), null, cancellationToken);
            if (study["state"]?.ToString() != "completed")
            {
                AnsiConsole.MarkupLine($"[red]Model study {Markup.Escape(id)} ended {Markup.Escape($"{study["state"]}")}: {Markup.Escape($"{study["failure_reason"]}")}[/]");
                return null;
            }

            models.Add(study["result"]!["model"]!);
        }

        var composition = await federation.WaitForStudy(CompositionId, TimeSpan.FromSeconds(180), null, cancellationToken);
        if (composition["state"]?.ToString() != "completed")
        {
            AnsiConsole.MarkupLine($"[red]The composition study ended {Markup.Escape($"{composition["state"]}")}: {Markup.Escape($"{composition["failure_reason"]}")}[/]");
            return null;
        }

        foreach (var id in new[] { CutoffCompositionId, ObservedOutcomesId })
        {
            var study = await federation.WaitForStudy(id, TimeSpan.FromSeconds(180), null, cancellationToken);
            if (study["state"]?.ToString() != "completed")
            {
                AnsiConsole.MarkupLine($"[red]The back-test's study {Markup.Escape(id)} ended {Markup.Escape($"{study["state"]}")}: {Markup.Escape($"{study["failure_reason"]}")}[/]");
                return null;
            }
        }

        PrintComposition(composition["result"]!["model"]!);
        var documents = models.Select(m => Analytics.Registry.GlmModelDocument.FromJson(m.ToJsonString())).ToList();
        ModelCommands.Print(documents.Single(m => m.StudyId == "demo-admission"));
        ModelCommands.Print(documents.Single(m => m.StudyId == "demo-ed-visits"));
        AnsiConsole.MarkupLine(dp
            ? FormattableString.Invariant($"[grey]Every model carries each node's discrete Gaussian noise (shares sized so that 2 honest hospitals of the 3 reach the target), charged round by round to each node's privacy ledger: the composition zCDP rho {CompositionRho}, each GLM rho {ModelRho} (each onset GLM {OnsetRho}) over its rounds (features clipped to declared ranges, at most 5 patient-years per patient; intervals include the noise). --dp off gives the exact fits.[/]")
            : "[grey]--dp off: every study is exact.[/]");
        if (results is not null)
        {
            Directory.CreateDirectory(results);
            foreach (var m in models)
            {
                await File.WriteAllTextAsync(Path.Combine(results, $"{m["study_id"]}.json"), ResultFile(m).ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
            }
        }
        var summary = new Table().Title($"Models in the coordinator's registry (fit on the patient-years up to {CutoffYear - 1}, whose outcomes end at the back-test's cut-off {CutoffYear}, on 80% of each site's patients, evaluated on the other 20%; the onset models on every patient-year at risk, without the condition, not evaluated)")
            .AddColumns("model", "family", "patient-years", "rounds", "AIC", "held-out evaluation");
        foreach (var m in documents)
        {
            var evaluation = m.Evaluation switch
            {
                Analytics.Registry.BinomialEvaluation { Auc: { } auc } b => FormattableString.Invariant($"AUC {auc:F3}, Brier {b.Brier!.Value:F4}"),
                Analytics.Registry.ContinuousEvaluation { Rmse: { } rmse } e => FormattableString.Invariant($"RMSE {rmse:G4}, R² {e.RSquared:F3}"),
                _ => "–",
            };
            summary.AddRow(Markup.Escape(m.Id), Markup.Escape(m.Family), $"{m.Rows}", $"{m.Rounds}",
                m.Aic!.Value.ToString("F1", System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(evaluation));
        }

        AnsiConsole.Write(summary);
        return models;
    }

    /// <summary>
    /// The census the demo computes itself from the sites' raw FHIR Patient files (never through a node
    /// or the coordinator): alive at the start of the year, age as year − birth year capped at 90, and 90+
    /// throughout for a patient over 89 now or at death (the node's Safe Harbor rule, docs/privacy.md).
    /// </summary>
    private static long[] ExpectedCensus(IEnumerable<string> patientFiles, TimeProvider clock)
    {
        var sum = new long[LocalVectors.AgeBands.Count * 2];
        var thisYear = clock.GetUtcNow().Year;
        foreach (var file in patientFiles)
        {
            foreach (var line in File.ReadLines(file))
            {
                using var patient = JsonDocument.Parse(line);
                var root = patient.RootElement;
                var birthYear = int.Parse(root.GetProperty("birthDate").GetString()![..4], System.Globalization.CultureInfo.InvariantCulture);
                var deceasedYear = root.TryGetProperty("deceasedDateTime", out var d) ? int.Parse(d.GetString()![..4], System.Globalization.CultureInfo.InvariantCulture) : (int?)null;
                if (birthYear > CensusYear || deceasedYear < CensusYear)
                {
                    continue;
                }

                // Safe Harbor as the node applies it: a patient over 89 today (or at death) is 90+ in every year.
                var reference = Math.Min(deceasedYear ?? thisYear, thisYear);
                var age = reference - birthYear >= 90 ? 90 : Math.Min(90, CensusYear - birthYear);
                var band = age switch { < 18 => 0, < 35 => 1, < 50 => 2, < 65 => 3, < 75 => 4, < 85 => 5, < 90 => 6, _ => 7 };
                sum[(band * 2) + (root.GetProperty("gender").GetString() == "male" ? 1 : 0)]++;
            }
        }

        return sum;
    }

    private static void TryDelete(string root)
    {
        for (var i = 0; i < 5; i++)
        {
            try
            {
                if (Directory.Exists(root))
                {
                    Directory.Delete(root, recursive: true);
                }

                return;
            }
            catch (IOException)
            {
                Thread.Sleep(200);
            }
        }
    }
}
