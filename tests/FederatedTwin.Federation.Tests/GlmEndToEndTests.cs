using FederatedTwin.Analytics.Studies;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The exact federated GLM across three node processes, each with its own synthetic FHIR export ingested
/// through the real pipeline: the coefficients the coordinator decrypts equal a pooled fit of the same
/// patient-years (read back from the three stores after the study) within 1e-6 relative.
/// </summary>
public sealed class GlmEndToEndTests(GlmEndToEndTests.ExactSites sites) : GlmEndToEndCases, IClassFixture<GlmEndToEndTests.ExactSites>
{
    /// <summary>
    /// The three sites both exact GLMs run on (the same generated populations each case used to start alone): started at the first
    /// case's need, stopped after the class. The cases' studies have ids, outcomes and twin outcomes of their own, and an exact GLM
    /// spends no privacy budget, so the second finds nothing the first changed that it reads.
    /// </summary>
    public sealed class ExactSites : IAsyncLifetime
    {
        private readonly Lazy<Task<FederatedTwin.Cli.Demo.LocalFederation>> _federation = new(() => SyntheticSites.Start("glm-exact", i => 300 + (150 * i), firstSeed: 11));

        internal Task<FederatedTwin.Cli.Demo.LocalFederation> Federation => _federation.Value;

        public Task InitializeAsync() => Task.CompletedTask;

        public async Task DisposeAsync()
        {
            if (_federation.IsValueCreated)
            {
                (await _federation.Value).Dispose();
            }
        }
    }

    private protected override Task<FederatedTwin.Cli.Demo.LocalFederation> Federation => sites.Federation;

    [Fact]
    public async Task A_dp_glm_charges_each_round_to_every_nodes_ledger_and_a_study_over_budget_is_refused()
    {
        using var federation = await SyntheticSites.Start("glm-dp", _ => 300, firstSeed: 41);
        static string Yaml(string id, string rho) => $"""
            {TestFederation.StudyHeader(id, "federated-glm", rounds: null)}
              family: binomial
              outcome: admission_next_year
              features: age,sex_male,heart_failure,condition_count,inpatient_admissions
              feature_bounds: "inpatient_admissions:0:5"
              max_rows_per_node: "100000"
              max_iterations: "3"
              dp_max_rows_per_patient: "4"
              dp_rho: "{rho}"
            """;
        await federation.CreateStudy(Yaml("glm-dp", "0.6"), CancellationToken.None);
        var study = await federation.WaitForStudy("glm-dp", TimeSpan.FromSeconds(180), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        var privacy = study["result"]!["model"]!["privacy"]!;
        Assert.True(privacy["dp"]!.GetValue<bool>());
        Assert.Equal(4, privacy["rounds_planned"]!.GetValue<int>()); // moments + 3 Newton rounds
        Assert.Equal(0.15, privacy["rho_per_round"]!.GetValue<double>(), 12);
        var roundsRun = privacy["rounds_run"]!.GetValue<int>();
        Assert.Equal(4, roundsRun);
        // The registry document says how the DP fit ended: released after its planned rounds, or refused with the reason.
        var model = study["result"]!["model"]!;
        Assert.Equal(3, model["dp_release_checks"]!["iterations_planned"]!.GetValue<int>());
        Assert.Equal(3, model["dp_release_checks"]!["iterations"]!.GetValue<int>());
        Assert.True(model["release"]?.ToString() == "dp_planned_rounds" ^ model["release_refused"] is not null, model.ToJsonString());

        // The plan, charged at acceptance, and one entry per round saying which study and round spent what.
        TestFederation.AssertRoundLedger(federation, "glm-dp", total: 0.6, perRound: 0.15, rounds: 4, GlmStudy.AlgorithmName);

        // The policy's budget (1.0 for HOPERAT a year) has 0.4 left: a second DP GLM of 0.6 is refused, saying why.
        await federation.CreateStudy(Yaml("glm-dp-over", "0.6").Replace("phase_deadline_seconds: 30", "phase_deadline_seconds: 5", StringComparison.Ordinal), CancellationToken.None);
        var refused = await federation.WaitForStudy("glm-dp-over", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        Assert.Equal("failed", refused["state"]?.ToString());
        Assert.All(refused["decisions"]!.AsArray(), d =>
        {
            Assert.False(d!["accept"]!.GetValue<bool>());
            Assert.Equal("privacy_budgets", d["rule"]!.ToString());
        });
        foreach (var n in federation.Nodes)
        {
            using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
            Assert.Empty(FederatedTwin.Node.Policy.PrivacyLedgerReport.Rounds(dir.Store, "glm-dp-over"));
        }
    }
}

/// <summary>The population composition across three node processes: exact without DP, noisy with it, small cells never shown.</summary>
public sealed class CompositionEndToEndTests
{
    [Fact]
    public async Task The_published_composition_is_the_sum_of_the_sites_counts_with_small_cells_suppressed_and_noise_when_dp_is_on()
    {
        var firstDay = TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        using var federation = await SyntheticSites.Start("composition", _ => 400, firstSeed: 21);
        static string Yaml(string id, string? rho) => $"""
            {TestFederation.StudyHeader(id, "federated-composition", rounds: null)}
              year: "2022"
            {(rho is null ? string.Empty : $"  dp_rho: \"{rho}\"")}
            """;
        await federation.CreateStudy(Yaml("exact", null), CancellationToken.None);
        await federation.CreateStudy(Yaml("noisy", "0.5"), CancellationToken.None);
        var exact = await federation.WaitForStudy("exact", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        var noisy = await federation.WaitForStudy("noisy", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        Assert.Equal("completed", exact["state"]?.ToString());
        Assert.Equal("completed", noisy["state"]?.ToString());

        var truth = new long[Analytics.Composition.CompositionStudy.VectorLength];
        foreach (var n in federation.Nodes)
        {
            using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
            var counts = LocalFederatedComposition.Counts(dir, 2022, "HOPERAT");
            for (var k = 0; k < truth.Length; k++)
            {
                truth[k] += counts[k];
            }
        }

        var cells = exact["result"]!["model"]!["composition"]!["cells"]!.AsArray();
        var interior = Analytics.Composition.CompositionLayout.CompositionShape;
        var shown = 0;
        for (var a = 0; a < interior[0]; a++)
        {
            for (var s = 0; s < interior[1]; s++)
            {
                for (var c = 0; c < interior[2]; c++)
                {
                    var published = cells[(((a * (interior[1] + 1)) + s) * (interior[2] + 1)) + c];
                    var actual = truth[Analytics.Composition.CompositionLayout.CompositionIndex(a, s, c)];
                    if (published is null)
                    {
                        continue;
                    }

                    shown++;
                    Assert.Equal(actual, published.GetValue<long>());
                    Assert.True(actual >= 11, "a cell under the minimum cell size was published");
                }
            }
        }

        Assert.True(shown > 10, $"only {shown} cells shown");
        Assert.Contains(cells, c => c is null); // the 90+ and 4+ corners are small at this size
        var grand = truth.Take(Analytics.Composition.CompositionLayout.CompositionCells).Sum();
        Assert.Equal(grand, cells[^1]!.GetValue<long>());

        // With DP each of the 3 nodes adds a share of variance 12/(2·0.5)/h = 6 per cell (h = min_nodes − 1 = 2, so any two honest
        // nodes reach the target 12): σ = √18 per cell, summed over 80 cells. The shares' σ ≈ 2.45 < 4, so the counts travel at
        // scale 2 and the release's true ρ (the sum of 2–3 discrete Gaussian shares, Kairouz, Liu & Steinke 2021 Prop. 14) is 0.5.
        var noisyTotal = noisy["result"]!["model"]!["composition"]!["cells"]!.AsArray()[^1]!.GetValue<long>();
        Assert.NotEqual(grand, noisyTotal);
        Assert.True(Math.Abs(noisyTotal - grand) < 8 * Math.Sqrt(18) * Math.Sqrt(80), $"noisy total {noisyTotal} vs {grand}");
        var noisyPrivacy = noisy["result"]!["model"]!["privacy"]!;
        Assert.True(noisyPrivacy["dp"]!.GetValue<bool>());
        Assert.Equal((2, 2.0), (noisyPrivacy["min_honest_nodes"]!.GetValue<int>(), noisyPrivacy["scale"]!.GetValue<double>()));
        Assert.Equal(0.5, noisyPrivacy["true_rho"]!.GetValue<double>(), 12);

        // A study that would take the year's spend past the policy's budget (1.0 for HOPERAT) is refused, saying why.
        var over = Yaml("over-budget", "0.6").Replace("phase_deadline_seconds: 30", "phase_deadline_seconds: 5", StringComparison.Ordinal);
        await federation.CreateStudy(over, CancellationToken.None);
        var refused = await federation.WaitForStudy("over-budget", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        Assert.Equal("failed", refused["state"]?.ToString());
        Assert.All(refused["decisions"]!.AsArray(), d =>
        {
            Assert.False(d!["accept"]!.GetValue<bool>());
            Assert.Equal("privacy_budgets", d["rule"]!.ToString());
            Assert.Contains("0.5 over the node's life", d["reason"]!.ToString(), StringComparison.Ordinal);
        });

        // `ftwin policy explain` on a node's own policy, with the node's spend so far, names the same rule.
        var studyFile = Path.Combine(TestFederation.TempDir("explain"), "over.yaml");
        await File.WriteAllTextAsync(studyFile, over);
        var explainLog = studyFile + ".log";
        using (var explain = FederatedTwin.Cli.Demo.ChildProcess.StartFtwin(["policy", "explain", Path.Combine(federation.Nodes[0].Dir, "policy.yaml"), "--study-file", studyFile, "--spent", "0.5"], explainLog))
        {
            // WaitForExit returns once the process has exited and its output is in the log.
            Assert.True(await Task.Run(() => explain.WaitForExit(TimeSpan.FromSeconds(60))), "ftwin policy explain did not exit within 60 s");
            Assert.Equal(1, explain.ExitCode);
        }

        Assert.Contains("rule privacy_budgets decides", (await File.ReadAllTextAsync(explainLog)).ReplaceLineEndings(" "), StringComparison.Ordinal);

        // The compliance report of a node, parsed as XHTML: the studies, the refusal's rule and the budget figures.
        var reportPath = Path.Combine(TestFederation.TempDir("report"), "report.html");
        var today = TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture); // the nodes are real processes: the wall clock dated their records
        using (var report = FederatedTwin.Cli.Demo.ChildProcess.StartFtwin(["compliance", "report", "--node-dir", federation.Nodes[1].Dir, "--from", firstDay, "--to", today, "--out", reportPath], reportPath + ".log"))
        {
            Assert.True(await Task.Run(() => report.WaitForExit(TimeSpan.FromSeconds(60))), "ftwin compliance report did not exit within 60 s");
            Assert.True(report.ExitCode == 0, await File.ReadAllTextAsync(reportPath + ".log"));
        }

        using var html = System.Xml.XmlReader.Create(reportPath, new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Ignore });
        var document = System.Xml.Linq.XDocument.Load(html);
        System.Xml.Linq.XNamespace x = "http://www.w3.org/1999/xhtml";
        System.Xml.Linq.XElement Table(string id) => document.Descendants(x + "table").Single(t => (string?)t.Attribute("id") == id);
        List<List<string>> Rows(string id) => [.. Table(id).Elements(x + "tr").Skip(1).Select(r => r.Elements().Select(c => c.Value).ToList())];
        var decisions = Rows("decisions");
        Assert.Contains(decisions, r => r[0] == "exact" && r[4] == "joined");
        Assert.Contains(decisions, r => r[0] == "noisy" && r[4] == "joined");
        Assert.Contains(decisions, r => r[0] == "over-budget" && r[4] == "refused" && r[5] == "privacy_budgets");
        var privacy = Rows("privacy").Single(r => r[0] == "HOPERAT");
        Assert.Equal("0.5", privacy[1]);
        Assert.Equal("1", privacy[2]);
        Assert.Equal("0.5", privacy[3]);
        Assert.Contains(Rows("sent"), r => r[0] == "noisy" && r[1] == "1");
        // What left the node, by statistic kind: the composition's two blocks, as the node recorded them when it sealed them.
        var noisySent = Table("sent").Elements(x + "tr").Single(r => r.Elements().First().Value == "noisy").Descendants(x + "li").Select(l => l.Value).ToList();
        Assert.Contains($"composition_cells: {Analytics.Composition.CompositionLayout.CompositionCells} × 1", noisySent);
        Assert.Contains($"prevalence_cells: {Analytics.Composition.CompositionStudy.VectorLength - Analytics.Composition.CompositionLayout.CompositionCells} × 1", noisySent);
        Assert.Equal("Verified", document.Descendants(x + "p").Single(p => (string?)p.Attribute("id") == "audit-status").Value);

        // `ftwin policy explain`'s rules decide exactly what each node decided: every recorded decision of every node,
        // replayed through the node's policy with the privacy it had spent for the purpose, and in all, before that decision.
        foreach (var n in federation.Nodes)
        {
            using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
            var policy = dir.LoadPolicy();
            var recorded = dir.Store.Read(c => Dapper.SqlMapper.Query<(string study_id, long accept, string rule, string spec_json, string decided_at, string purpose_of_use)>(c,
                "SELECT study_id, accept, rule, spec_json, decided_at, purpose_of_use FROM decisions").ToList());
            Assert.Equal(3, recorded.Count);
            foreach (var d in recorded)
            {
                var spent = dir.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<double?>(c, "SELECT SUM(rho) FROM privacy_ledger WHERE purpose=@p AND recorded_at < @at", new { p = d.purpose_of_use, at = d.decided_at })) ?? 0;
                var lifetime = dir.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<double?>(c, "SELECT SUM(rho) FROM privacy_ledger WHERE recorded_at < @at", new { at = d.decided_at })) ?? 0;
                var spec = System.Text.Json.JsonSerializer.Deserialize<StudySpec>(d.spec_json, WireJson.Options)!;
                var replay = policy.Decide(spec, new FederatedTwin.Node.Policy.SpentSoFar(spent, lifetime));
                Assert.Equal((d.accept == 1, d.rule), (replay.Accept, replay.Rule));
            }
        }

        // Each node charged the noisy study's rho to its ledger, and only that one.
        foreach (var n in federation.Nodes)
        {
            using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
            Assert.Equal(0.5, dir.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<double>(c, "SELECT SUM(rho) FROM privacy_ledger")));
        }
    }
}

/// <summary>FedAvg with ML.NET across three node processes: it learns (most of) what the exact GLM finds.</summary>
public sealed class FedAvgEndToEndTests
{
    private static readonly string[] Features = ["age", "sex_male", "heart_failure", "diabetes", "condition_count", "inpatient_admissions", "ed_visits"];

    [Fact]
    public void The_global_model_is_rebuilt_in_ml_net_with_exactly_the_averaged_weights()
    {
        var ml = new Microsoft.ML.MLContext(seed: 0);
        var rebuilt = LocalFedAvg.Rebuild(ml, [0.5, -1.25, 3.0]);
        Assert.Equal([0.5f, -1.25f], rebuilt.Weights);
        Assert.Equal(3.0f, rebuilt.Bias);
    }

    [Fact]
    public async Task Fedavg_rounds_bring_the_logistic_model_close_to_the_exact_pooled_fit()
    {
        using var federation = await SyntheticSites.Start("fedavg", i => 400 + (100 * i), firstSeed: 31);
        var yaml = $"""
            {TestFederation.StudyHeader("fedavg", "federated-fedavg", rounds: 4)}
              outcome: admission_next_year
              features: {string.Join(",", Features)}
              max_rows_per_node: "100000"
              max_abs_feature: "1000"
              local_iterations: "20"
              l2: "0.0001"
            """;
        await federation.CreateStudy(yaml, CancellationToken.None);
        var study = await federation.WaitForStudy("fedavg", TimeSpan.FromSeconds(180), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        var terms = study["result"]!["model"]!["terms"]!.AsArray().Select(t => t!["coefficient"]!.GetValue<double>()).ToArray();

        var fedAvg = Analytics.FedAvg.FedAvgStudy.Parse(StudyFile.Parse(yaml), Crypto.RlweThresholdScheme.Default.MaxParties);
        var parts = federation.Nodes.Select(n =>
        {
            using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
            return LocalFederatedGlm.Rows(dir, fedAvg.Rows, "HOPERAT");
        }).ToList();
        var pooled = new GlmData(Features.Length, [.. parts.SelectMany(p => p.Design)], [.. parts.SelectMany(p => p.Responses)]);
        var mle = GlmPooled.Fit(GlmFamily.Binomial, Features, pooled);
        var mean = pooled.Responses.Average();
        double Deviance(Func<int, double> probability) => 2 * Enumerable.Range(0, pooled.Rows).Sum(i =>
        {
            var p = Math.Clamp(probability(i), 1e-12, 1 - 1e-12);
            return -((pooled.Responses[i] * Math.Log(p)) + ((1 - pooled.Responses[i]) * Math.Log(1 - p)));
        });
        var fedAvgDeviance = Deviance(i => 1 / (1 + Math.Exp(-(terms[0] + Enumerable.Range(0, Features.Length).Sum(j => terms[j + 1] * pooled.Design[(i * Features.Length) + j])))));
        var nullDeviance = Deviance(_ => mean);
        Assert.True(fedAvgDeviance <= nullDeviance - (0.5 * (nullDeviance - mle.Deviance)),
            $"FedAvg deviance {fedAvgDeviance:F2}, null {nullDeviance:F2}, exact MLE {mle.Deviance:F2}");
        Assert.True(fedAvgDeviance >= mle.Deviance - 1e-6, "nothing beats the maximum-likelihood fit on its own rows");
    }
}

/// <summary>
/// The exact federated GLM of <see cref="GlmEndToEndTests"/>, on each of the coordinator's stores (<see cref="GlmEndToEndTests"/>:
/// coordinator.db; <see cref="GlmEndToEndOnPostgresTests"/>: PostgreSQL).
/// </summary>
public abstract class GlmEndToEndCases
{
    /// <summary>The three sites the cases run on.</summary>
    private protected abstract Task<FederatedTwin.Cli.Demo.LocalFederation> Federation { get; }

    private static readonly string[] Features = ["age", "sex_male", "heart_failure", "diabetes", "copd", "condition_count", "inpatient_admissions", "ed_visits"];

    [Theory]
    [InlineData("binomial", "admission_next_year", null, "0.25")]
    [InlineData("poisson", "ed_visits_next_year", "50", null)]
    public async Task A_federated_glm_equals_the_pooled_fit_of_the_same_rows(string family, string outcome, string? maxResponse, string? holdout)
    {
        var federation = await Federation;
        var yaml = $"""
            {TestFederation.StudyHeader($"glm-{family}", "federated-glm")}
              family: {family}
              outcome: {outcome}
              features: {string.Join(",", Features)}
              max_rows_per_node: "100000"
              max_abs_feature: "1000"
            {(maxResponse is null ? string.Empty : $"  max_abs_response: \"{maxResponse}\"")}
            {(holdout is null ? string.Empty : $"  holdout: \"{holdout}\"")}
            """;
        await federation.CreateStudy(yaml, CancellationToken.None);
        var study = await federation.WaitForStudy($"glm-{family}", TimeSpan.FromSeconds(180), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        var model = study["result"]!["model"]!;
        Assert.True(model["converged"]!.GetValue<bool>());
        Assert.True(model["rounds"]!.GetValue<int>() <= 10, $"{model["rounds"]} rounds");

        // The pooled reference: every node's rows as `ftwin node features export --study` writes them (a real
        // process per node), pooled and fitted by plain IRLS.
        var glm = GlmStudy.Parse(StudyFile.Parse(yaml), Crypto.RlweThresholdScheme.Default.MaxParties);
        var parts = new List<(List<double> X, List<double> Y)>();
        foreach (var n in federation.Nodes)
        {
            parts.Add(await Export(n.Dir, $"glm-{family}"));
        }

        var pooled = GlmPooled.Fit(glm.Spec.Family, Features, new GlmData(Features.Length, [.. parts.SelectMany(p => p.X)], [.. parts.SelectMany(p => p.Y)]));
        var terms = model["terms"]!.AsArray();
        Assert.Equal(pooled.Coefficients.Count, terms.Count);
        for (var i = 0; i < terms.Count; i++)
        {
            var federated = terms[i]!["coefficient"]!.GetValue<double>();
            Assert.True(Math.Abs(federated - pooled.Coefficients[i]) <= 1e-6 * Math.Max(1, Math.Abs(pooled.Coefficients[i])), $"{pooled.Names[i]}: federated {federated}, pooled {pooled.Coefficients[i]}");
            Assert.True(Math.Abs(terms[i]!["std_error"]!.GetValue<double>() - pooled.StandardErrors[i]) <= 1e-6 * pooled.StandardErrors[i], $"{pooled.Names[i]} standard error");
        }

        Assert.Equal(pooled.Deviance, model["deviance"]!.GetValue<double>(), 1e-6 * pooled.Deviance);
        Assert.Equal(parts.Sum(p => p.Y.Count), model["rows"]!.GetValue<long>());

        // With held-out patients, the model is evaluated on them: the decrypted histogram's row count is theirs.
        if (holdout is not null)
        {
            var evaluation = model["evaluation"]!;
            var heldOut = federation.Nodes.Sum(n =>
            {
                using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
                return LocalFederatedGlm.Rows(dir, glm, "HOPERAT", heldOut: true).Rows;
            });
            Assert.True(heldOut > 100, $"{heldOut} held-out rows");
            Assert.Equal(heldOut, evaluation["held_out_rows"]!.GetValue<long>());
            var auc = evaluation["auc"]!.GetValue<double>();
            Assert.InRange(auc, 0.55, 1.0);
            Assert.Equal(10, evaluation["calibration"]!.AsArray().Count);
        }
        else
        {
            Assert.Null(model["evaluation"]);
        }

        // The twin reads the coordinator's registry document as it is.
        var registeredModel = Analytics.Registry.RegisteredModel.FromJson(model.ToJsonString());
        Assert.Equal(model["id"]!.ToString(), registeredModel.Id);

        // And it is in the registry.
        var registered = await federation.Admin.Send(HttpMethod.Get, $"/v1/admin/models/{model["id"]}");
        Assert.Equal(model["id"]!.ToString(), registered!["id"]!.ToString());

        // The twin on this registry (read from the coordinator's store, as `ftwin model export` does): the outcome's
        // model is the federated one, and it predicts every contributed row exactly as the fitted coefficients do.
        Coordinator.Registry.RegistrySnapshot snapshot;
        using (var store = federation.OpenCoordinatorStore())
        {
            snapshot = Coordinator.Registry.RegistrySnapshot.Read(store);
        }

        var set = Twin.Simulation.ModelSet.FromModels(snapshot.Models, "coordinator", fallback: Twin.Simulation.ModelSet.DemoFallback());
        var twinOutcome = family == "binomial" ? "admission" : "ed_visits";
        Assert.Equal(model["id"]!.ToString(), set.ByOutcome[twinOutcome].Id);
        Assert.Equal(Twin.Simulation.ModelOrigin.Federated, set.Origins.Single(o => o.Outcome == twinOutcome).Kind);
        var beta = terms.Select(t => t!["coefficient"]!.GetValue<double>()).ToArray();
        var rows = parts.SelectMany(p => p.X).Chunk(Features.Length).ToList();
        Assert.True(rows.Count > 100);
        foreach (var x in rows)
        {
            // Features: age, sex_male, heart_failure, diabetes, copd, condition_count, inpatient_admissions, ed_visits.
            // The model has no other condition terms, so further conditions only make up condition_count.
            var mask = (x[2] == 1 ? 1 << 2 : 0) | (x[3] == 1 ? 1 : 0) | (x[4] == 1 ? 1 << 3 : 0);
            for (var k = 4; System.Numerics.BitOperations.PopCount((uint)mask) < (int)x[5]; k++)
            {
                mask |= 1 << k;
            }

            var person = new Twin.Simulation.PersonFeatures(2024, (int)x[0], x[1] == 1, mask, x[6], 0, x[7], 0);
            var eta = beta[0] + x.Select((v, j) => beta[j + 1] * v).Sum();
            var expected = family == "binomial" ? 1 / (1 + Math.Exp(-eta)) : Math.Exp(eta);
            Assert.Equal(expected, set.ByOutcome[twinOutcome].Mean(person), 1e-9 * Math.Max(1, expected));
        }
    }

    /// <summary>The node's export for the study: header = the features then the outcome, one row per contributed patient-year.</summary>
    private static async Task<(List<double> X, List<double> Y)> Export(string nodeDir, string study)
    {
        var log = Path.Combine(TestFederation.TempDir("export"), "rows.csv");
        using var process = FederatedTwin.Cli.Demo.ChildProcess.StartFtwin(["node", "features", "export", "--node-dir", nodeDir, "--study", study], log);
        Assert.True(await Task.Run(() => process.WaitForExit(TimeSpan.FromSeconds(60))) && process.ExitCode == 0, await File.ReadAllTextAsync(log));
        var lines = await File.ReadAllLinesAsync(log);
        Assert.Equal([.. Features, lines[0].Split(',')[^1]], lines[0].Split(','));
        var (x, y) = (new List<double>(), new List<double>());
        foreach (var line in lines.Skip(1))
        {
            var values = line.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            x.AddRange(values[..^1]);
            y.Add(values[^1]);
        }

        return (x, y);
    }
}

/// <summary>The exact GLM cases with `ftwin coordinator run --store postgres` (its own cluster, one database).</summary>
[Trait("Category", "Postgres")]
public sealed class GlmEndToEndOnPostgresTests(GlmEndToEndOnPostgresTests.ExactSitesOnPostgres sites) : GlmEndToEndCases, IClassFixture<GlmEndToEndOnPostgresTests.ExactSitesOnPostgres>
{
    private protected override Task<FederatedTwin.Cli.Demo.LocalFederation> Federation => sites.Federation;

    /// <summary>The same three sites as <see cref="GlmEndToEndTests.ExactSites"/>, the coordinator's state in a PostgreSQL database.</summary>
    public sealed class ExactSitesOnPostgres : IAsyncLifetime, IDisposable
    {
        private readonly Postgres.PostgresFixture _postgres = new();
        private readonly Lazy<Task<FederatedTwin.Cli.Demo.LocalFederation>> _federation;

        public ExactSitesOnPostgres()
        {
            _federation = new(() => SyntheticSites.Start("glm-exact-pg", i => 300 + (150 * i), firstSeed: 11, postgres: _postgres.NewDatabase()));
        }

        internal Task<FederatedTwin.Cli.Demo.LocalFederation> Federation => _federation.Value;

        public Task InitializeAsync() => Task.CompletedTask;

        public async Task DisposeAsync()
        {
            if (_federation.IsValueCreated)
            {
                (await _federation.Value).Dispose();
            }
        }

        /// <summary>After <see cref="DisposeAsync"/> (xunit disposes a fixture both ways): the cluster outlives the coordinator that used it.</summary>
        public void Dispose() => _postgres.Dispose();
    }
}
