using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;

namespace FederatedTwin.Analytics.Studies;

/// <summary>
/// YAML from outside (study, policy and scenario files) read so that every malformed document is a <see cref="YamlException"/>:
/// YamlDotNet reports some broken documents with ArgumentException ("the current event is of an unsupported type") or
/// InvalidOperationException (a plain scalar cut by a flow indicator), which every caller's error handling missed (found by
/// the policy-yaml and scenario-yaml fuzz targets). Callers keep turning YamlException into their own one-line error.
/// </summary>
public static class YamlInput
{
    /// <summary>The documents of <paramref name="yaml"/> as YamlDotNet's representation model.</summary>
    public static YamlStream Load(string yaml)
    {
        var stream = new YamlStream();
        Guard(yaml, () => stream.Load(new StringReader(yaml)));
        return stream;
    }

    /// <summary>The first document of <paramref name="yaml"/> as a <typeparamref name="T"/>.</summary>
    public static T Deserialize<T>(IDeserializer deserializer, string yaml)
    {
        ArgumentNullException.ThrowIfNull(deserializer);
        var result = default(T)!;
        Guard(yaml, () => result = deserializer.Deserialize<T>(yaml));
        return result;
    }

    private static void Guard(string yaml, Action read)
    {
        try
        {
            read();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            var at = BreakingPoint(yaml);
            throw new YamlException(at, at, "the document is incomplete or malformed (an unclosed bracket or quote?)");
        }
    }

    /// <summary>Where the bare event parser gives up on <paramref name="yaml"/>: the position a message can name.</summary>
    private static Mark BreakingPoint(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        try
        {
            while (parser.MoveNext())
            {
            }
        }
        catch (YamlException e)
        {
            return e.Start;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // The scanner can fail this way on an unterminated flow collection: the last event read is where it broke.
        }

        return parser.Current?.Start ?? Mark.Empty;
    }
}
