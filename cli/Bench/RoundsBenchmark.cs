using FederatedTwin.Analytics.Census;
using System.Diagnostics;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Storage;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench rounds`: the federated GLM's rounds on 3 local nodes (separate processes on loopback, as
/// `ftwin demo` runs them, each with its own generated FHIR export ingested through the real pipeline), for a
/// logistic model with 30 features, against two baselines in the same run and on the same federation: the same
/// study with 5 features, and a one-round federated sum (the demo's 16-value census). Studies run one after
/// another, after unreported warm-up studies, so their rounds do not compete for the cores.
///
/// Seconds per round: the coordinator's own per-round latency (round_results, first phase start to decrypted
/// sum: key shares, collective key, node computation, encryption, homomorphic sum, decryption shares), averaged
/// over the study's rounds. Bytes uploaded per node per round: the HTTP body of the node's signed update (the
/// JSON Contribution with its base64 encrypted vector), rebuilt byte for byte from what the node stored and signed
/// (Ed25519 signatures are deterministic); key-share and decryption-share bodies, the other two uploads of a
/// round, are reported next to it.
/// </summary>
internal static class RoundsBenchmark
{
    private static readonly string[] Sites = ["university-hospital", "community-hospital", "safety-net-hospital"];

    /// <summary>
    /// 30 features (31 coefficients): age band as 7 indicators (reference 0-17), age, year, sex, the 11 chronic
    /// conditions, this year's admissions, inpatient days and ED visits (24 current-year columns), and 6 columns of
    /// the outcome's own year: ED visits, death, and onsets of the 4 commonest conditions with admissions among them.
    /// Those 6 make the model descriptive rather than predictive; the benchmark's figures depend on p only. The
    /// schema has no other usable current-year column on generated data: condition_count is the sum of the
    /// conditions and medicare_eligible equals the 65+ bands (no ESRD is generated), so both are collinear;
    /// ambulatory_visits and cost_from_claims would be constant if every generated encounter reached the store;
    /// hba1c, sbp and dbp are missing in most patient-years (complete cases only); and cost, in dollars next to 0/1
    /// columns, would force a max_abs_feature whose moments-round scale is too coarse for Σx² of rare indicators.
    /// Rarer onsets (depression, obesity at 1,500 patients per site) have no admission among them at this size,
    /// so their coefficients diverge (separation) and the fit stops unconverged at its iteration limit.
    /// </summary>
    internal const string Features30 =
        "age_band,age,year,sex_male,diabetes,hypertension,heart_failure,copd,ckd,cad,asthma,depression,obesity,cancer,dementia,"
        + "inpatient_admissions,inpatient_days,ed_visits,"
        + "ed_visits_next_year,death_next_year,onset_hypertension_next_year,onset_diabetes_next_year,onset_cad_next_year,onset_cancer_next_year";

    internal const string Features5 = "age,sex_male,heart_failure,copd,inpatient_admissions";

    public static async Task<int> Run(int patients, bool json, CancellationToken cancellationToken)
    {
        var root = Path.Combine(Path.GetTempPath(), "ftwin-bench-rounds-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var exports = Path.Combine(root, "exports");
            using var federation = await LocalFederation.Start(root, Sites, "HOPERAT", pollWaitSeconds: 2, cancellationToken, (i, node) =>
            {
                var export = Path.Combine(exports, Sites[i]);
                PopulationGenerator.Generate(patients, SyntheticProfile.All[i], (ulong)(i + 1), export);
                new IngestPipeline(node).Run(export);
            });

            // Unreported warm-up studies, a sum and a whole GLM fit: without them the first GLM study's early rounds
            // ran 2-3 times slower than later ones on this 2-core machine, whichever model came first (cold code in
            // the node and coordinator processes; a warm-up cut at 2 IRLS iterations was not enough).
            var warmUp = await RunStudy(federation, "bench-warm-up-sum", SumYaml("bench-warm-up-sum"), cancellationToken) is not null
                && await RunStudy(federation, "bench-warm-up-glm", GlmYaml("bench-warm-up-glm", Features5), cancellationToken) is not null;
            var sum = await RunStudy(federation, "bench-sum", SumYaml("bench-sum"), cancellationToken);
            var glm5 = await RunStudy(federation, "bench-glm-5", GlmYaml("bench-glm-5", Features5), cancellationToken);
            var glm30 = await RunStudy(federation, "bench-glm-30", GlmYaml("bench-glm-30", Features30), cancellationToken);
            if (!warmUp || sum is null || glm5 is null || glm30 is null)
            {
                return 1;
            }

            var model = glm30.Study["result"]!["model"]!;
            var coefficients = model["terms"]!.AsArray().Count;
            var result = new JsonObject
            {
                ["nodes"] = Sites.Length,
                ["patients_per_site"] = patients,
                ["patient_years"] = model["rows"]!.GetValue<long>(),
                ["family"] = "binomial",
                ["outcome"] = "admission_next_year",
                ["features"] = coefficients - 1,
                ["seconds_per_round"] = glm30.SecondsPerRound,
                ["seconds_per_round_median"] = glm30.SecondsPerRoundMedian,
                ["round_seconds"] = new JsonArray([.. glm30.RoundSeconds.Select(x => (JsonNode)x)]),
                ["rounds_to_converge"] = model["rounds"]!.GetValue<int>(),
                ["bytes_uploaded_per_node_per_round"] = glm30.UpdateBodyBytes,
                ["converged"] = model["converged"]!.GetValue<bool>(),
                ["iterations"] = model["iterations"]!.GetValue<int>(),
                ["values_per_update_max"] = glm30.MaxValues,
                ["ciphertexts_per_update"] = (glm30.MaxValues + RlweThresholdScheme.Default.ValuesPerCiphertext - 1) / RlweThresholdScheme.Default.ValuesPerCiphertext,
                ["ciphertext_bytes_per_update"] = glm30.CiphertextBytes,
                ["key_share_bytes_per_node_per_round"] = glm30.KeyShareBodyBytes,
                ["decryption_share_bytes_per_node_per_round"] = glm30.DecryptionShareBodyBytes,
                ["all_uploads_bytes_per_node_per_round"] = glm30.UpdateBodyBytes + glm30.KeyShareBodyBytes + glm30.DecryptionShareBodyBytes,
                ["study_seconds"] = glm30.StudySeconds,
                ["coordinator_cpu_s_per_round"] = glm30.CoordinatorCpuPerRound,
                ["coordinator_system_cpu_s_per_round"] = glm30.CoordinatorSystemCpuPerRound,
                ["baseline_glm_5_features"] = glm5.Summary(),
                ["baseline_federated_sum"] = sum.Summary(),
                ["seconds_per_round_vs_5_features"] = Math.Round(glm30.SecondsPerRound / glm5.SecondsPerRound, 3),
                ["seconds_per_round_vs_federated_sum"] = Math.Round(glm30.SecondsPerRound / sum.SecondsPerRound, 3),
                ["bytes_measured_as"] = "HTTP body of the signed update a node posts (JSON Contribution, base64 encrypted vector), rebuilt from the node store",
                ["cores"] = Environment.ProcessorCount,
            };
            if (json)
            {
                Console.WriteLine(result.ToJsonString());
            }
            else
            {
                foreach (var (key, value) in result)
                {
                    Console.WriteLine($"{key}: {value?.ToJsonString()}");
                }
            }

            if (!model["converged"]!.GetValue<bool>())
            {
                await Console.Error.WriteLineAsync($"error: the 30-feature model did not converge: {model["terms"]!.ToJsonString()}");
                return 1;
            }

            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // best effort: a temp folder
            }
        }
    }

    private static string SumYaml(string id) => $"""
        id: {id}
        algorithm: federated-sum
        purpose_of_use: HOPERAT
        min_nodes: 3
        max_nodes: 3
        rounds: 1
        phase_deadline_seconds: 60
        parameters:
          vector: {LocalVectors.PatientsByAgeBandAndSex}
          year: "2023"
        """;

    private static string GlmYaml(string id, string features) => $"""
        id: {id}
        algorithm: federated-glm
        purpose_of_use: HOPERAT
        min_nodes: 3
        max_nodes: 3
        phase_deadline_seconds: 60
        parameters:
          family: binomial
          outcome: admission_next_year
          features: {features}
          max_rows_per_node: "100000"
          max_abs_feature: "2100"
        """;

    /// <summary>Runs one study to its end and measures it; null (with the reason on standard error) if it did not complete.</summary>
    private static async Task<Measured?> RunStudy(LocalFederation federation, string id, string yaml, CancellationToken cancellationToken)
    {
        var cpuBefore = ProcessCpu.Read(federation.CoordinatorProcessId);
        var clock = Stopwatch.StartNew();
        await federation.CreateStudy(yaml, cancellationToken);
        var study = await federation.WaitForStudy(id, TimeSpan.FromSeconds(600), null, cancellationToken);
        var seconds = clock.Elapsed.TotalSeconds;
        var cpu = ProcessCpu.Read(federation.CoordinatorProcessId) - cpuBefore;
        if (study["state"]?.ToString() != "completed")
        {
            await Console.Error.WriteLineAsync($"error: study {id} ended {study["state"]}: {study["failure_reason"]}");
            return null;
        }

        var rounds = study["rounds"]!.AsArray().Select(r => (Round: r!["round"]!.GetValue<long>(), Attempt: r["attempt"]!.GetValue<long>(), Ms: r["latency_ms"]!.GetValue<double>())).ToList();
        var uploads = federation.Nodes.SelectMany(n => Uploads(n.Dir, new StudyId(id), rounds.Select(r => (r.Round, r.Attempt)).ToList())).ToList();
        return new Measured(
            study,
            Math.Round(rounds.Average(r => r.Ms) / 1000, 3),
            Math.Round(Median(rounds.Select(r => r.Ms)) / 1000, 3),
            [.. rounds.Select(r => Math.Round(r.Ms / 1000, 2))],
            rounds.Count,
            Math.Round(seconds, 2),
            uploads.Max(u => u.Values),
            Math.Round(uploads.Average(u => u.Ciphertext)),
            Math.Round(uploads.Average(u => u.Update)),
            Math.Round(uploads.Average(u => u.KeyShare)),
            Math.Round(uploads.Average(u => u.DecryptionShare)),
            Math.Round(cpu.TotalSeconds / rounds.Count, 4),
            Math.Round(cpu.SystemSeconds / rounds.Count, 4));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>
    /// A node's uploads per round of the study, as the JSON bodies it posted: each stored payload re-signed (deterministic Ed25519) and
    /// serialized as sent. The two commitments (a 32-byte hash each, signed) are counted with the key share they precede.
    /// </summary>
    private static List<(long Values, long Ciphertext, long Update, long KeyShare, long DecryptionShare)> Uploads(string nodeDir, StudyId study, List<(long Round, long Attempt)> rounds)
    {
        using var node = NodeDirectory.OpenOrInitialize(nodeDir);
        var list = new List<(long, long, long, long, long)>();
        foreach (var (round, attempt) in rounds)
        {
            var (r, at) = ((int)round, (int)attempt);
            var stored = new AttemptRef(study.Value, r, at);
            var (submission, key, issued, keySet) = node.Store.Read(c => (
                FederationQueries.Submission(c, stored)!, FederationQueries.KeyShare(c, stored)!, FederationQueries.StoredShare(c, stored),
                FederationQueries.CommitmentSet(c, stored, ContributionKind.KeyShare)!.Digest));
            var (ciphertext, values, keyShare, seed) = (submission.Ciphertext, submission.ValueCount, key.KeyShare, key.CrpSeed!);
            var (digest, share, updateSet) = (issued.AggregateDigest, issued.Share, issued.UpdateSetDigest);
            long Body(byte[] payload, byte[] statement, string? aggregateDigest = null, string? setDigest = null) =>
                WireJson.Serialize(new Contribution(study, r, at, payload, node.Identity.Sign(statement), aggregateDigest, setDigest)).Length;
            var keyHash = System.Security.Cryptography.SHA256.HashData(keyShare);
            var ctHash = System.Security.Cryptography.SHA256.HashData(ciphertext);
            var keyUploads = Body(keyHash, SignedStatement.Commitment(ContributionKind.KeyShare, study, r, at, seed, keyHash))
                + Body(keyShare, SignedStatement.Opening(ContributionKind.KeyShare, study, r, at, seed, keyShare, keySet), setDigest: keySet);
            var updateUploads = Body(ctHash, SignedStatement.Commitment(ContributionKind.Update, study, r, at, seed, ctHash, keySet), setDigest: keySet)
                + Body(ciphertext, SignedStatement.Opening(ContributionKind.Update, study, r, at, seed, ciphertext, updateSet), setDigest: updateSet);
            list.Add((values, ciphertext.Length, updateUploads, keyUploads, Body(share, SignedStatement.DecryptionShare(study, r, at, seed, share, digest, updateSet), digest, updateSet)));
        }

        return list;
    }

    private sealed record Measured(JsonNode Study, double SecondsPerRound, double SecondsPerRoundMedian, IReadOnlyList<double> RoundSeconds, int Rounds, double StudySeconds, long MaxValues, double CiphertextBytes, double UpdateBodyBytes, double KeyShareBodyBytes, double DecryptionShareBodyBytes,
        double CoordinatorCpuPerRound, double CoordinatorSystemCpuPerRound)
    {
        public JsonObject Summary()
        {
            var model = Study["result"]?["model"];
            return new JsonObject
            {
                ["algorithm"] = Study["spec"]?["algorithm"]?.DeepClone(),
                ["features"] = model is null ? null : model["terms"]!.AsArray().Count - 1,
                ["seconds_per_round"] = SecondsPerRound,
                ["seconds_per_round_median"] = SecondsPerRoundMedian,
                ["round_seconds"] = new JsonArray([.. RoundSeconds.Select(x => (JsonNode)x)]),
                ["rounds"] = model?["rounds"]?.GetValue<int>() ?? Rounds,
                ["bytes_uploaded_per_node_per_round"] = UpdateBodyBytes,
                ["values_per_update_max"] = MaxValues,
                ["study_seconds"] = StudySeconds,
                ["coordinator_cpu_s_per_round"] = CoordinatorCpuPerRound,
                ["coordinator_system_cpu_s_per_round"] = CoordinatorSystemCpuPerRound,
            };
        }
    }
}

/// <summary>
/// A process's CPU time so far, from /proc/PID/stat (proc(5): fields 14 utime and 15 stime, in clock ticks of USER_HZ, which the
/// kernel fixes at 100 for userspace on Linux); zero where there is no /proc.
/// </summary>
internal readonly record struct ProcessCpu(double UserSeconds, double SystemSeconds)
{
    private const double TicksPerSecond = 100;

    public double TotalSeconds => UserSeconds + SystemSeconds;

    public static ProcessCpu operator -(ProcessCpu after, ProcessCpu before) => new(after.UserSeconds - before.UserSeconds, after.SystemSeconds - before.SystemSeconds);

    public static ProcessCpu Read(int pid)
    {
        var path = $"/proc/{pid}/stat";
        if (!File.Exists(path))
        {
            return default;
        }

        // The command name (field 2) is in parentheses and may hold spaces: the fields after it start past its last ')'.
        var stat = File.ReadAllText(path);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        return new ProcessCpu(long.Parse(fields[11], culture) / TicksPerSecond, long.Parse(fields[12], culture) / TicksPerSecond);
    }
}
