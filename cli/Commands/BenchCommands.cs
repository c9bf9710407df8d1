using System.CommandLine;
using FederatedTwin.Cli.Bench;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin bench ...`: the product's performance targets, each measured against a baseline in the same run.</summary>
internal static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure the product's performance targets against a baseline in the same run.");

        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var seal = new Option<bool>("--compare-seal") { Description = "Also time Microsoft SEAL BFV (node-seal, WebAssembly) in the same run; needs node and npm." };
        var crypto = new Command("crypto", "Encrypt, aggregate, decryption shares and combine, at N = 8192 with the production parameters.");
        crypto.Options.Add(json);
        crypto.Options.Add(seal);
        crypto.SetAction(parse => CryptoBenchmark.Run(parse.GetValue(json), parse.GetValue(seal)));
        bench.Subcommands.Add(crypto);

        var patients = new Option<int>("--patients") { Description = "Patients in the generated export (21,000 ≈ 300 MB).", DefaultValueFactory = _ => 21_000 };
        var cores = new Option<int>("--cores") { Description = "Cores for both the ingest's parallel stage and the baseline parse (0 = all).", DefaultValueFactory = _ => 0 };
        var stages = new Option<bool>("--stages") { Description = "Also time the parallel stage's parts alone (read, parse, parse + keyed hashes + reduction), in CPU seconds." };
        var ingest = new Command("ingest", "Ingest + de-identify + featurize a generated export against a bare JSON parse of the same lines, on the same cores.") { json, patients, cores, stages };
        ingest.SetAction(parse => IngestBenchmark.Run(parse.GetValue(patients), parse.GetValue(cores), parse.GetValue(json), parse.GetValue(stages)));
        bench.Subcommands.Add(ingest);
        var simJson = new Option<bool>("--json") { Description = "Print one JSON object instead of a line." };
        var sim = new Command("sim", "Population twin: patient-years per second, 1,000,000 people x 5 years, 3 interventions, all cores.");
        sim.Options.Add(simJson);
        sim.SetAction(parse => SimBenchmark.Run(parse.GetValue(simJson)));
        bench.Subcommands.Add(sim);

        var roundsJson = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var sitePatients = new Option<int>("--patients") { Description = "Patients generated and ingested per site.", DefaultValueFactory = _ => 1500 };
        var rounds = new Command("rounds", "Federated GLM rounds on 3 local nodes (processes on loopback): a 30-feature logistic model against a 5-feature one and a federated sum.") { roundsJson, sitePatients };
        rounds.SetAction((parse, cancellationToken) => RoundsBenchmark.Run(parse.GetValue(sitePatients), parse.GetValue(roundsJson), cancellationToken));
        bench.Subcommands.Add(rounds);

        var auditJson = new Option<bool>("--json") { Description = "Print one JSON object instead of a line per mechanism." };
        var trials = new Option<int>("--trials") { Description = "Runs of each release, each with its own canary present or not by a fair coin.", DefaultValueFactory = _ => new PrivacyAuditOptions().Trials };
        var seed = new Option<ulong>("--seed") { Description = "Seeds the generated sites and the canaries' coins (the noise is always the CSPRNG's).", DefaultValueFactory = _ => new PrivacyAuditOptions().Seed };
        var miscalibrate = new Option<double>("--miscalibrate") { Description = "Multiply every node's noise by F while the claimed rho stays the same (F = 0.1 must be detected).", DefaultValueFactory = _ => 1 };
        var auditPatients = new Option<int>("--patients") { Description = "Patients generated per site.", DefaultValueFactory = _ => new PrivacyAuditOptions().PatientsPerSite };
        var privacyAudit = new Command("privacy-audit", "Empirical lower bound on epsilon of the composition release and the DP GLM at rho = 0.1, delta = 1e-5 (one-run audit, 99% confidence).")
        {
            auditJson, trials, seed, miscalibrate, auditPatients,
        };
        privacyAudit.SetAction(parse => PrivacyAuditBenchmark.Run(
            new PrivacyAuditOptions(parse.GetValue(trials), parse.GetValue(seed), parse.GetValue(miscalibrate), parse.GetValue(auditPatients)), parse.GetValue(auditJson), Console.Out, Console.Error));
        bench.Subcommands.Add(privacyAudit);

        var twinJson = new Option<bool>("--json") { Description = "Print one JSON object instead of a line." };
        var twinPatients = new Option<int>("--patients") { Description = "Generated patient rows scored.", DefaultValueFactory = _ => 100_000 };
        twinPatients.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--patients must be at least 1.");
            }
        });
        var patientTwin = new Command("patient-twin", "Patient twin: score generated patients with 16 released-like GLMs (intervals from their covariance) against a naive per-term dictionary scorer, same rows and cores.") { twinJson, twinPatients };
        patientTwin.SetAction(parse => PatientTwinBenchmark.Run(parse.GetValue(twinPatients), parse.GetValue(twinJson)));
        bench.Subcommands.Add(patientTwin);

        var omopJson = new Option<bool>("--json") { Description = "Print one JSON object instead of a line per run." };
        var omopConnection = new Option<string>("--connection") { Description = "PostgreSQL connection string of the CDM, without a password (PGPASSWORD or PGPASSFILE give it).", Required = true };
        var omopSchema = new Option<string?>("--schema") { Description = "The CDM schema (default public)." };
        var omopRuns = new Option<int>("--runs") { Description = "Pulls, each into a fresh temporary node.", DefaultValueFactory = _ => 3 };
        var omop = new Command("omop", "Pull an OMOP CDM v5.4 database into a fresh node through the ingest: persons, rows read and resources per table, seconds, rows/s.") { omopJson, omopConnection, omopSchema, omopRuns };
        omop.SetAction(parse => OmopBenchmark.Run(parse.GetValue(omopConnection)!, parse.GetValue(omopSchema), Math.Max(1, parse.GetValue(omopRuns)), parse.GetValue(omopJson)));
        bench.Subcommands.Add(omop);
        var pullJson = new Option<bool>("--json") { Description = "Print one JSON object instead of a line per figure." };
        var pullPatients = new Option<int>("--patients") { Description = "Patients generated and served.", DefaultValueFactory = _ => 20_000 };
        var pullRuns = new Option<int>("--runs") { Description = "Runs of each side (min and median reported).", DefaultValueFactory = _ => 3 };
        var pull = new Command("pull", "Bulk Data pull (kick-off, manifest, files streamed into the ingest) from the bench's own loopback server against a plain folder ingest of the same files.") { pullJson, pullPatients, pullRuns };
        pull.SetAction((parse, cancellationToken) => PullBenchmark.Run(Math.Max(1, parse.GetValue(pullPatients)), Math.Max(1, parse.GetValue(pullRuns)), parse.GetValue(pullJson), cancellationToken));
        bench.Subcommands.Add(pull);
        bench.Subcommands.Add(FederationCommand());
        return bench;
    }

    /// <summary>`ftwin bench federation`: a coordinator process and N nodes through a 5-feature federated GLM (Bench/FederationBenchmark.cs).</summary>
    private static Command FederationCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a line per figure." };
        var nodes = new Option<int>("--nodes") { Description = "Nodes in the federation (3 to 1,000).", Required = true };
        var store = new Option<string>("--store") { Description = "The coordinator's store: sqlite (its data directory) or postgres (a throwaway cluster the bench starts).", DefaultValueFactory = _ => "sqlite" };
        store.AcceptOnlyFromAmong("sqlite", "postgres");
        var rounds = new Option<int?>("--rounds") { Description = "Rounds of the measured study (the GLM's moments round and rounds - 1 Newton rounds); default: until it converges." };
        var patients = new Option<int>("--patients") { Description = "Generated patients per node.", DefaultValueFactory = _ => 300 };
        var processes = new Option<int?>("--node-processes") { Description = "Processes the nodes run in (each hosting its share, every node its own NodeHost); default: one per node up to 3 nodes, else 1." };
        var command = new Command("federation", "A coordinator (its own process, real HTTP on loopback) and N nodes through a 5-feature federated GLM: seconds per round, coordinator CPU, bytes per node.")
        {
            json, nodes, store, rounds, patients, processes,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var n = parse.GetValue(nodes);
            return FederationBenchmark.Run(
                new FederationBenchOptions(n, parse.GetValue(store)!, parse.GetValue(rounds), Math.Max(50, parse.GetValue(patients)), parse.GetValue(processes) ?? (n <= 3 ? n : 1), parse.GetValue(json)),
                Console.Out, Console.Error, cancellationToken);
        });
        return command;
    }
}
