using System.Diagnostics;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// One federation for the kill tests (three nodes with their own ingested synthetic populations, a coordinator), and the exact GLM it
/// fits undisturbed: each test runs the same study under another id on the same stores, kills processes in it, and compares.
/// Undisturbed and disturbed runs see the same rows in the same order, so an exact fit must agree to the last bit.
/// </summary>
public sealed class GlmFederationFixture : IAsyncLifetime
{
    private static readonly string[] Features = ["age", "sex_male", "heart_failure", "diabetes", "copd", "condition_count", "inpatient_admissions", "ed_visits"];

    private LocalFederation? _federation;

    internal LocalFederation Federation => _federation ?? throw new InvalidOperationException("The federation has not started.");

    /// <summary>The undisturbed run's model (registry document).</summary>
    public JsonNode Reference { get; private set; } = null!;

    /// <summary>How long the federation took to start (ingest included) and the reference study to run.</summary>
    public TimeSpan StartTime { get; private set; }

    public TimeSpan ReferenceTime { get; private set; }

    /// <summary>The exact binomial GLM of the kill tests, 4 rounds (moments and at most 3 Newton steps); phase deadline 60 s: a killed process is back well within it.</summary>
    public static string ExactGlm(string id) => $"""
        id: {id}
        algorithm: federated-glm
        purpose_of_use: HOPERAT
        min_nodes: 3
        max_nodes: 3
        phase_deadline_seconds: 60
        parameters:
          family: binomial
          outcome: admission_next_year
          features: {string.Join(",", Features)}
          max_rows_per_node: "100000"
          max_abs_feature: "1000"
          max_iterations: "3"
        """;

    /// <summary>A DP GLM of ρ 0.6 over 4 rounds (moments and 3 Newton steps): 0.15 a round, charged to each node's ledger.</summary>
    public static string DpGlm(string id) => """
        id: ID
        algorithm: federated-glm
        purpose_of_use: HOPERAT
        min_nodes: 3
        max_nodes: 3
        phase_deadline_seconds: 60
        parameters:
          family: binomial
          outcome: admission_next_year
          features: age,sex_male,heart_failure,condition_count,inpatient_admissions
          feature_bounds: "inpatient_admissions:0:5"
          max_rows_per_node: "100000"
          max_iterations: "3"
          dp_max_rows_per_patient: "4"
          dp_rho: "0.6"
        """.Replace("ID", id, StringComparison.Ordinal);

    public async Task InitializeAsync()
    {
        Faults.Init();
        var clock = Stopwatch.StartNew();
        _federation = await Faults.StartSynthetic("kills", patients: 150, firstSeed: 11);
        StartTime = clock.Elapsed;
        clock.Restart();
        await Federation.CreateStudy(ExactGlm("reference"), CancellationToken.None);
        var study = await Faults.Ended(Federation, "reference");
        Faults.AssertCompleted(study);
        Reference = study["result"]!["model"]!;
        ReferenceTime = clock.Elapsed;
    }

    /// <summary>The coefficients, standard errors and deviance of a fitted model, as the bits of their doubles.</summary>
    public static long[] Bits(JsonNode model) =>
    [
        .. model["terms"]!.AsArray().SelectMany(t => new[] { t!["coefficient"]!.GetValue<double>(), t["std_error"]!.GetValue<double>() }).Select(BitConverter.DoubleToInt64Bits),
        BitConverter.DoubleToInt64Bits(model["deviance"]!.GetValue<double>()),
    ];

    public Task DisposeAsync()
    {
        _federation?.Stop(TimeSpan.FromSeconds(10));
        _federation?.Dispose();
        return Task.CompletedTask;
    }
}
