using FederatedTwin.Protocol.Federation;
using YamlDotNet.Serialization;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// A <see cref="StudySpec"/> as the study.yaml the coordinator's admin API reads (StudyFile.Parse): the fields under their
/// snake_case names, the parameters in their order, so the coordinator's spec equals the one written.
/// </summary>
internal static class StudyYaml
{
    public static string Write(StudySpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var document = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["id"] = spec.Id.Value,
            ["algorithm"] = spec.Algorithm,
            ["purpose_of_use"] = spec.PurposeOfUse.Code,
            ["min_nodes"] = spec.MinNodes,
            ["max_nodes"] = spec.MaxNodes,
            ["rounds"] = spec.Rounds,
            ["phase_deadline_seconds"] = spec.PhaseDeadlineSeconds,
        };
        if (spec.Description is { } description)
        {
            document["description"] = description;
        }

        if (spec.Parameters is { Count: > 0 } parameters)
        {
            document["parameters"] = parameters;
        }

        return new SerializerBuilder().Build().Serialize(document);
    }
}
