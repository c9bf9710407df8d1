using FederatedTwin.Twin.Mssp;
using FederatedTwin.Twin.Simulation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>
/// Reads a scenario YAML file (format: docs/scenarios.md), loads the model set it names, and validates it: every error
/// names the field and its line (unknown outcome or model id, an outcome without a model, coverage outside [0,1], negative cost, ...).
/// </summary>
public static class ScenarioParser
{
    /// <summary>
    /// Parses scenario text. The <c>models:</c> field (default <c>demo</c>) names the model set: <c>demo</c>, a registry
    /// directory, or a mapping with <c>registry</c>, <c>use</c> (twin outcome → model id), <c>unit_costs</c> and
    /// <c>other_cost_log_sd</c>; model ids in the file are resolved against that set.
    /// </summary>
    public static ScenarioDefinition Parse(string yaml, ScenarioParseOptions? options = null)
    {
        options ??= new ScenarioParseOptions();
        YamlStream stream;
        try
        {
            stream = FederatedTwin.Analytics.Studies.YamlInput.Load(yaml);
        }
        catch (YamlException e)
        {
            throw new ScenarioFileException("(file)", e.Start.Line, $"not valid YAML: {e.Message}");
        }

        if (stream.Documents.Count == 0)
        {
            throw new ScenarioFileException("(file)", 1, "is empty");
        }

        var root = new YamlFields(stream.Documents[0].RootNode, string.Empty);
        var name = root.String("name") ?? throw new ScenarioFileException("name", root.Line, "is required");
        var startYear = root.Int("start_year") ?? throw new ScenarioFileException("start_year", root.Line, "is required");
        var horizon = root.Int("horizon") ?? 5;
        Check(horizon is >= 1 and <= 30, root, "horizon", "must be between 1 and 30 years");
        var population = root.Int("population") ?? 20_000;
        Check(population is >= 1_000 and <= 50_000_000, root, "population", "must be between 1,000 and 50,000,000");
        var replicates = root.Int("replicates") ?? 20;
        Check(replicates is >= 2 and <= 10_000, root, "replicates", "must be between 2 and 10,000");
        var seed = root.Int("seed") ?? 1;
        var models = ModelsParser.Parse(root, options);

        var interventions = root.Sequence("interventions")
            .Select((node, i) => InterventionParser.Parse(new YamlFields(node, $"interventions[{i}]"), startYear, horizon, models))
            .ToList();
        Check(interventions.Count <= 16, root, "interventions", "at most 16 interventions");
        var mssp = root.Node("mssp") is { } m ? ParseMssp(new YamlFields(m, "mssp")) : null;
        var uncertainty = root.String("uncertainty") is { } u ? ParseUncertainty(u) ?? throw new ScenarioFileException("uncertainty", root.Node("uncertainty")!.Start.Line,
            $"'{u}' is not one of all, monte_carlo_only") : UncertaintyMode.All;
        root.RejectUnknown();
        return new ScenarioDefinition(name, unchecked((uint)seed), population, startYear, horizon, replicates, models, interventions, mssp) { Uncertainty = uncertainty };
    }

    /// <summary>
    /// The file's <c>uncertainty:</c> value (or the CLI's <c>--uncertainty</c>): <c>all</c> or <c>monte_carlo_only</c>
    /// (<c>mc</c> for short); null for anything else.
    /// </summary>
    public static UncertaintyMode? ParseUncertainty(string value) => value switch
    {
        "all" => UncertaintyMode.All,
        "monte_carlo_only" or "mc" => UncertaintyMode.MonteCarloOnly,
        _ => null,
    };

    private static MsspTerms ParseMssp(YamlFields f)
    {
        try
        {
            var track = MsspTracks.Parse(f.String("track") ?? throw new ScenarioFileException(f.Field("track"), f.Line, "is required"));
            var assigned = new AssignedBeneficiaries(f.Int("assigned_beneficiaries") ?? throw new ScenarioFileException(f.Field("assigned_beneficiaries"), f.Line, "is required"));
            var benchmark = f.Double("benchmark_pbpy") ?? throw new ScenarioFileException(f.Field("benchmark_pbpy"), f.Line, "is required");
            Check(benchmark > 0, f, "benchmark_pbpy", "must be positive");
            var quality = f.Bool("quality_met") ?? throw new ScenarioFileException(f.Field("quality_met"), f.Line, "is required");
            var msrMlr = f.String("msr_mlr") is { } text ? MsrMlrChoice.Parse(text) : (MsrMlrChoice?)null;
            var revenue = f.Double("participant_revenue");
            var lowRevenue = f.Bool("low_revenue") ?? false;
            var score = f.Double("quality_score");
            var agreementStart = f.Int("agreement_start_year");
            f.RejectUnknown();
            var terms = new MsspTerms(track, assigned, (decimal)benchmark, quality, msrMlr, revenue is { } r ? (decimal)r : null, lowRevenue, score is { } q ? (decimal)q : null, agreementStart);
            // Validate the terms as the settlement will (e.g. 425.605(h) needs agreement_start_year for a low revenue BASIC ACO).
            _ = MsspSettlement.Settle(new SettlementInput(track, assigned, terms.BenchmarkPerBeneficiaryYear, terms.BenchmarkPerBeneficiaryYear,
                quality, terms.QualityScore, lowRevenue, msrMlr, terms.ParticipantRevenue, agreementStart));
            return terms;
        }
        catch (MsspInputException e)
        {
            throw new ScenarioFileException(f.Field(MsspField(e.Field)), f.Node(MsspField(e.Field))?.Start.Line ?? f.Line, e.Message);
        }
    }

    private static string MsspField(string cliOption) => cliOption switch
    {
        "agreement-start" => "agreement_start_year",
        "benchmark-pbpy" => "benchmark_pbpy",
        "assigned" => "assigned_beneficiaries",
        _ => cliOption.Replace('-', '_'),
    };

    internal static void Check(bool ok, YamlFields f, string key, string problem)
    {
        if (!ok)
        {
            throw new ScenarioFileException(f.Field(key), f.Node(key)?.Start.Line ?? f.Line, problem);
        }
    }
}
