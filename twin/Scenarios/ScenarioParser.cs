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
        var root = Root(yaml);
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

        var interventions = Interventions(root, startYear, horizon, models);
        var mssp = root.Node("mssp") is { } m ? ParseMssp(new YamlFields(m, "mssp"), startYear, horizon) : null;
        var uncertainty = Uncertainty(root);
        root.RejectUnknown();
        return new ScenarioDefinition(name, unchecked((uint)seed), population, startYear, horizon, replicates, models, interventions, mssp) { Uncertainty = uncertainty };
    }

    /// <summary>
    /// Parses a scenario file for a run on a given cohort and model set (the facility twin: a hospital's own patients on its
    /// node's released models): name, seed, replicates, uncertainty and the interventions, parsed against
    /// <paramref name="models"/> for <paramref name="startYear"/> and <paramref name="horizon"/>. The fields that describe a
    /// synthetic population or its models (<c>start_year</c>, <c>horizon</c>, <c>population</c>, <c>models</c>, <c>mssp</c>)
    /// do not apply to a given cohort: they are read (so a misspelt field is still an error) and named in
    /// <paramref name="ignored"/> when present, never silently used.
    /// </summary>
    public static ScenarioDefinition ParseForCohort(string yaml, ModelSet models, int startYear, int horizon, int population, out IReadOnlyList<string> ignored)
    {
        ArgumentNullException.ThrowIfNull(models);
        var root = Root(yaml);
        var name = root.String("name") ?? throw new ScenarioFileException("name", root.Line, "is required");
        var replicates = root.Int("replicates") ?? 20;
        Check(replicates is >= 2 and <= 10_000, root, "replicates", "must be between 2 and 10,000");
        var seed = root.Int("seed") ?? 1;
        var notUsed = new List<string>();
        foreach (var key in (string[])["start_year", "horizon", "population", "models", "mssp"])
        {
            if (root.Node(key) is not null)
            {
                notUsed.Add(key);
            }
        }

        var interventions = Interventions(root, startYear, horizon, models);
        var uncertainty = Uncertainty(root);
        root.RejectUnknown();
        ignored = notUsed;
        return new ScenarioDefinition(name, unchecked((uint)seed), population, startYear, horizon, replicates, models, interventions, null) { Uncertainty = uncertainty };
    }

    private static List<TwinIntervention> Interventions(YamlFields root, int startYear, int horizon, ModelSet models)
    {
        var list = root.Sequence("interventions")
            .Select((node, i) => InterventionParser.Parse(new YamlFields(node, $"interventions[{i}]"), startYear, horizon, models))
            .ToList();
        Check(list.Count <= 16, root, "interventions", "at most 16 interventions");
        return list;
    }

    private static UncertaintyMode Uncertainty(YamlFields root) =>
        root.String("uncertainty") is { } u ? ParseUncertainty(u) ?? throw new ScenarioFileException("uncertainty", root.Node("uncertainty")!.Start.Line,
            $"'{u}' is not one of all, monte_carlo_only") : UncertaintyMode.All;

    private static YamlFields Root(string yaml)
    {
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

        return new YamlFields(stream.Documents[0].RootNode, string.Empty);
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

    private static MsspTerms ParseMssp(YamlFields f, int startYear, int horizon)
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
            var terms = new MsspTerms(track, assigned, Money(f, "benchmark_pbpy", benchmark), quality, msrMlr, revenue is { } r ? Money(f, "participant_revenue", r) : null, lowRevenue,
                score is { } q ? Money(f, "quality_score", q) : null, agreementStart);
            // Validate the terms as the settlement of every simulated year will (e.g. 425.605(h) needs agreement_start_year for a
            // low revenue BASIC ACO; Track 1 is not settled after 2021; 2018-2020 need the quality score).
            for (var year = startYear; year < startYear + horizon; year++)
            {
                _ = MsspSettlement.Settle(new SettlementInput(track, assigned, terms.BenchmarkPerBeneficiaryYear, terms.BenchmarkPerBeneficiaryYear,
                    quality, terms.QualityScore, lowRevenue, msrMlr, terms.ParticipantRevenue, agreementStart, year));
            }
            return terms;
        }
        catch (MsspInputException e) when (e.Field == "performance-year")
        {
            throw new ScenarioFileException("start_year", f.Line, $"the MSSP settlement of simulated year {startYear}: {e.Message}");
        }
        catch (MsspInputException e)
        {
            throw new ScenarioFileException(f.Field(MsspField(e.Field)), f.Node(MsspField(e.Field))?.Start.Line ?? f.Line, e.Message);
        }
    }

    /// <summary>
    /// A settlement amount as the engine's decimal: refused beyond ±10^15 (no ACO's benchmark, revenue or score comes near it;
    /// a larger double has no decimal value, fuzz/regressions/scenario-yaml), with the field and line.
    /// </summary>
    private static decimal Money(YamlFields f, string field, double value) => double.IsFinite(value) && Math.Abs(value) <= 1e15
        ? (decimal)value
        : throw new ScenarioFileException(f.Field(field), f.Line, $"must be at most 10^15 in size, got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

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
