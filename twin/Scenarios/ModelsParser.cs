using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;
using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>The <c>models:</c> field of a scenario file: which registry, which model per outcome, unit costs.</summary>
internal static class ModelsParser
{
    public static ModelSet Parse(YamlFields root, ScenarioParseOptions options)
    {
        var node = root.Node("models");
        var line = node?.Start.Line ?? root.Line;
        string source;
        var sourceField = "models";
        var use = new Dictionary<string, string>(StringComparer.Ordinal);
        var useLines = new Dictionary<string, long>(StringComparer.Ordinal);
        var parameters = new TwinParameters();
        var parameterLines = new Dictionary<string, long>(StringComparer.Ordinal);
        string? fallback = null;
        var fallbackLine = line;
        switch (node)
        {
            case null:
                source = "demo";
                break;
            case YamlScalarNode scalar:
                source = YamlFields.Scalar(scalar, "models");
                break;
            default:
                var f = new YamlFields(node, "models");
                source = f.String("registry") ?? throw new ScenarioFileException("models.registry", f.Line, "is required: 'demo' or a registry directory");
                sourceField = "models.registry";
                line = f.Node("registry")!.Start.Line;
                if (f.Node("use") is { } useNode)
                {
                    var u = useNode as YamlMappingNode ?? throw new ScenarioFileException("models.use", useNode.Start.Line, "expected a mapping of twin outcome: model id");
                    foreach (var (key, value) in u.Children)
                    {
                        var outcome = YamlFields.Scalar(key, "models.use");
                        use[outcome] = YamlFields.Scalar(value, $"models.use.{outcome}");
                        useLines[outcome] = key.Start.Line;
                    }
                }

                if (f.Node("unit_costs") is { } costsNode)
                {
                    var c = new YamlFields(costsNode, "models.unit_costs");
                    parameters = parameters with
                    {
                        InpatientStayCost = c.Double("inpatient_stay") ?? parameters.InpatientStayCost,
                        InpatientDayCost = c.Double("inpatient_day") ?? parameters.InpatientDayCost,
                        EmergencyVisitCost = c.Double("emergency") ?? parameters.EmergencyVisitCost,
                    };
                    foreach (var key in new[] { "inpatient_stay", "inpatient_day", "emergency" })
                    {
                        parameterLines["unit_costs." + key] = c.Node(key)?.Start.Line ?? c.Line;
                    }

                    c.RejectUnknown();
                }

                fallback = f.String("fallback");
                fallbackLine = f.Node("fallback")?.Start.Line ?? f.Line;
                parameters = parameters with { OtherCostLogSd = f.Double("other_cost_log_sd") ?? parameters.OtherCostLogSd };
                parameterLines["other_cost_log_sd"] = f.Node("other_cost_log_sd")?.Start.Line ?? f.Line;
                f.RejectUnknown();
                break;
        }

        if (options.ModelsOverride is { } overridden)
        {
            source = overridden;
        }

        if (options.FallbackOverride is { } fallbackOverride)
        {
            fallback = fallbackOverride == "none" ? null : fallbackOverride;
        }

        var via = options.ModelsOverride is null ? string.Empty : " (--models)";
        string Directory(string name)
        {
            if (!options.AllowDirectories)
            {
                throw new ScenarioFileException(sourceField, line,
                    $"'{name}' is not a registry here: use 'demo'{string.Concat((options.NamedRegistries?.Keys ?? []).Select(k => $" or '{k}'"))}");
            }

            return Path.IsPathRooted(name) ? name : Path.GetFullPath(Path.Combine(options.BaseDirectory ?? System.IO.Directory.GetCurrentDirectory(), name));
        }

        ModelSetFallback? fallbackSet;
        try
        {
            fallbackSet = fallback switch
            {
                null => null,
                "demo" => ModelSet.DemoFallback(),
                _ => new ModelSetFallback(fallback, ModelRegistry.LoadDirectory(Directory(fallback))),
            };
        }
        catch (RegisteredModelException e)
        {
            throw new ScenarioFileException("models.fallback", fallbackLine, $"fallback registry '{fallback}': {e.Message}");
        }

        try
        {
            if (source == "demo")
            {
                return ModelSet.Demo(use, parameters);
            }

            if (options.NamedRegistries?.TryGetValue(source, out var named) == true)
            {
                return ModelSet.FromModels(named.Models, source, use: use, parameters: parameters, fallback: fallbackSet, compositions: named.Compositions);
            }

            return ModelSet.Load(Directory(source), use, parameters, fallbackSet);
        }
        catch (FormatException e)
        {
            throw new ScenarioFileException(sourceField, line, $"registry '{source}'{via}: composition release: {e.Message}");
        }
        catch (RegisteredModelException e)
        {
            throw new ScenarioFileException(sourceField, line, $"registry '{source}'{via}: {e.Message}");
        }
        catch (ModelSetException e) when (e.Field.StartsWith("use.", StringComparison.Ordinal))
        {
            throw new ScenarioFileException("models." + e.Field, useLines.GetValueOrDefault(e.Field[4..], line), e.Message);
        }
        catch (ModelSetException e) when (parameterLines.ContainsKey(e.Field))
        {
            throw new ScenarioFileException("models." + e.Field, parameterLines[e.Field], e.Message);
        }
        catch (ModelSetException e)
        {
            throw new ScenarioFileException(sourceField, line, e.Message + via);
        }
    }
}
