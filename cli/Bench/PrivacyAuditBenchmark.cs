using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Bench.PrivacyAudit;
using FederatedTwin.Synthetic;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Analytics.Privacy.Auditing;

namespace FederatedTwin.Cli.Bench;

/// <summary>What one `ftwin bench privacy-audit` run does.</summary>
/// <param name="Trials">Runs of each release; each is one canary, present with probability ½ (m of the one-run audit).</param>
/// <param name="Seed">Seeds the generated populations and the canaries' coin flips (the noise always comes from the CSPRNG, as in production).</param>
/// <param name="NoiseMultiplier">F: every node's noise is multiplied by F (the nodes are configured with ρ/F²) while the claim stays ρ.</param>
/// <param name="PatientsPerSite">Patients generated per site.</param>
internal sealed record PrivacyAuditOptions(int Trials = 10_000, ulong Seed = 1, double NoiseMultiplier = 1, int PatientsPerSite = 200)
{
    /// <summary>ρ each release is audited at: an audit certifies at most about ln(guesses) (the bound of m correct guesses), so a large ρ cannot be audited.</summary>
    public const double Rho = 0.1;

    public const double Delta = 1e-5;

    public const double Confidence = 0.99;

    /// <summary>Simulated hospitals; also the study's min_nodes, so the sum's noise is exactly the target.</summary>
    public const int Sites = 3;

    /// <summary>The codec's declared maximum of parties.</summary>
    public const int MaxParties = 16;

    /// <summary>Runs without the canary that measure the noise for the score's weights (not audited).</summary>
    public const int CalibrationRuns = 64;
}

/// <summary>
/// `ftwin bench privacy-audit`: an empirical lower bound on the ε of the composition release and of the DP GLM, to set
/// against the ε their ρ claims (docs/privacy.md, "Empirical privacy audit"). Each release is run <c>Trials</c> times on
/// the same generated hospitals, each run with its own canary patient present or not by a fair coin; a score in the
/// direction of the canary's contribution ranks the runs, the highest are guessed "present" and the lowest "absent", and the
/// correct guesses give ε ≥ the one-run audit's bound (Steinke, Nasr &amp; Jagielski 2023) at 99% confidence
/// (<see cref="CanaryGuesses"/>, <see cref="OneRunAudit"/>).
/// </summary>
internal static class PrivacyAuditBenchmark
{
    public static int Run(PrivacyAuditOptions options, bool json, TextWriter output, TextWriter progress)
    {
        var refused = options.Trials < 100 ? "--trials must be at least 100"
            : !(options.NoiseMultiplier > 0) || !double.IsFinite(options.NoiseMultiplier) ? "--miscalibrate must be a positive number"
            : options.PatientsPerSite < 20 ? "--patients must be at least 20"
            : null;
        if (refused is not null)
        {
            progress.WriteLine("privacy-audit: " + refused);
            return 2;
        }

        var results = Audit(options, progress);
        if (json)
        {
            output.WriteLine(new JsonObject { ["mechanisms"] = new JsonArray([.. results]) }.ToJsonString());
        }
        else
        {
            foreach (var r in results)
            {
                double Number(string key) => r[key]!.GetValue<double>();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r["name"]!.GetValue<string>(),-12} claimed ε {Number("claimed_epsilon"):F3} (ρ {PrivacyAuditOptions.Rho}, δ {PrivacyAuditOptions.Delta}); empirical ε ≥ {Number("empirical_epsilon"):F3} at confidence {PrivacyAuditOptions.Confidence} ({r["correct"]!.GetValue<int>()} of {r["guesses"]!.GetValue<int>()} guesses right in {r["trials"]!.GetValue<int>()} runs; noise × {options.NoiseMultiplier})"));
            }
        }

        return 0;
    }

    /// <summary>Generates the sites, audits both releases and returns one JSON object per mechanism.</summary>
    public static IReadOnlyList<JsonObject> Audit(PrivacyAuditOptions options, TextWriter progress)
    {
        var root = Path.Combine(Path.GetTempPath(), "ftwin-privacy-audit-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var clock = Stopwatch.StartNew();
            progress.WriteLine($"privacy-audit: generating and ingesting {PrivacyAuditOptions.Sites} sites x {options.PatientsPerSite} patients");
            var population = AuditPopulation.Generate(PrivacyAuditOptions.Sites, options.PatientsPerSite, options.Seed, root);
            progress.WriteLine($"privacy-audit: sites ready in {clock.Elapsed.TotalSeconds:F1} s");
            var calibration = new CryptographicRandomBits();
            var releases = new[]
            {
                CompositionAudit.Create(population, PrivacyAuditOptions.Rho, options.NoiseMultiplier, PrivacyAuditOptions.MaxParties),
                GlmAudit.Create(population, PrivacyAuditOptions.Rho, options.NoiseMultiplier, PrivacyAuditOptions.MaxParties, calibration),
            };
            var claimed = ZcdpAccountant.EpsilonCanonneKamathSteinke(new ZcdpRho(PrivacyAuditOptions.Rho), PrivacyAuditOptions.Delta);
            var results = new List<JsonObject>();
            foreach (var release in releases)
            {
                var started = clock.Elapsed;
                var score = release.Calibrate(PrivacyAuditOptions.CalibrationRuns, calibration);
                var coins = new SplitMix64(SplitMix64.Mix(options.Seed ^ (ulong)release.Name.Length ^ 0x5EED));
                var included = Enumerable.Range(0, options.Trials).Select(_ => (coins.Next() & 1) == 1).ToArray();
                int step = Math.Max(1, options.Trials / 10);
                var scores = score.Runs(included, () => new CryptographicRandomBits(), done =>
                {
                    if (done % step == 0)
                    {
                        progress.WriteLine($"privacy-audit: {release.Name} {done}/{options.Trials} runs");
                    }
                });
                var bound = CanaryGuesses.Audit(scores, included, PrivacyAuditOptions.Delta, PrivacyAuditOptions.Confidence);
                results.Add(new JsonObject
                {
                    ["name"] = release.Name,
                    ["claimed_epsilon"] = claimed,
                    ["delta"] = bound.Delta,
                    ["empirical_epsilon"] = Math.Round(bound.EpsilonLowerBound, 4),
                    ["confidence"] = bound.Confidence,
                    ["trials"] = bound.Canaries,
                    ["guesses"] = bound.Guesses,
                    ["correct"] = bound.Correct,
                    ["rho"] = release.ClaimedRho,
                    ["noise_multiplier"] = options.NoiseMultiplier,
                    ["rounds"] = release.Rounds.Count,
                    ["canary_l2"] = Math.Round(release.CanaryNorm, 6),
                    // μ² of the score's two distributions; a mechanism spending exactly ρ on this canary has 2ρ/F².
                    ["canary_signal_to_noise"] = Math.Round(score.SignalToNoise, 4),
                    ["seconds"] = Math.Round((clock.Elapsed - started).TotalSeconds, 1),
                });
                progress.WriteLine($"privacy-audit: {release.Name} done: empirical epsilon {bound.EpsilonLowerBound:F3} (claimed {claimed:F3})");
            }

            return results;
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A file still open on a slow file system: the temporary directory is left behind, nothing else depends on it.
            }
        }
    }
}
