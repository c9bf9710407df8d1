using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Node.Sources;

namespace FederatedTwin.Node;

/// <summary>A node configuration file that is not valid (names the file and the field).</summary>
public sealed class NodeConfigurationException(string message) : Exception(message);

/// <summary>
/// Facts about the hospital that its data cannot tell and the facility twin needs: today the number of staffed beds
/// (occupancy = average daily census / staffed beds). Kept in <c>node-config.json</c> in the node directory, owner-only like
/// every file there, written by <c>ftwin node init --staffed-beds</c> and <c>ftwin node configure</c>. Staffed rather than
/// licensed beds because occupancy planning counts the beds that can be used (AHA Annual Survey definitions: staffed beds
/// are those set up and staffed at the end of the reporting period).
/// </summary>
public sealed record NodeConfiguration(int? StaffedBeds)
{
    /// <summary>The file's name in the node directory.</summary>
    public const string FileName = "node-config.json";

    private const string StaffedBedsField = "staffed_beds";
    private const string SourcesField = "sources";

    /// <summary>The data sources the node pulls from (issue 22; <see cref="SourceConfiguration"/> validates them), in the file's order.</summary>
    public IReadOnlyList<DataSource> Sources { get; init; } = [];

    /// <summary>The largest number accepted: above any hospital's staffed beds (the largest US campuses have about 2,500 to 3,000).</summary>
    public const int MaxStaffedBeds = 20_000;

    /// <summary>The configuration of a node directory; an empty one when the file does not exist.</summary>
    public static NodeConfiguration Load(string nodeDirectory)
    {
        var path = Path.Combine(nodeDirectory, FileName);
        return File.Exists(path) ? Parse(File.ReadAllText(path), path) : new NodeConfiguration((int?)null);
    }

    /// <summary>The source named <paramref name="name"/>, or null.</summary>
    public DataSource? Source(string name) => Sources.FirstOrDefault(s => s.Name == name);

    /// <summary>The configuration with <paramref name="added"/> appended (refused when its name is taken or it is not valid).</summary>
    public NodeConfiguration WithSource(DataSource added)
    {
        if (Source(added.Name) is not null)
        {
            throw new NodeConfigurationException($"a source named '{added.Name}' is already configured (remove it first: ftwin node source remove --name {added.Name})");
        }

        SourceConfiguration.Validate([added], "source");
        return this with { Sources = [.. Sources, added] };
    }

    /// <summary>Reads the file's JSON; every problem names the file and the field.</summary>
    public static NodeConfiguration Parse(string json, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new NodeConfigurationException($"{source}: not valid JSON ({e.Message})");
        }

        if (root is not JsonObject obj)
        {
            throw new NodeConfigurationException($"{source}: expected a JSON object");
        }

        foreach (var (key, _) in obj)
        {
            if (key is not (StaffedBedsField or SourcesField))
            {
                throw new NodeConfigurationException($"{source}: unknown field '{key}' (known: {StaffedBedsField}, {SourcesField})");
            }
        }

        var sources = obj[SourcesField] is { } list ? SourceConfiguration.ParseAll(list, $"{source}: {SourcesField}") : [];

        int? beds = null;
        if (obj[StaffedBedsField] is { } node)
        {
            if (node is not JsonValue v || !v.TryGetValue<JsonElement>(out var e) || e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var n))
            {
                throw new NodeConfigurationException($"{source}: {StaffedBedsField} must be a whole number");
            }

            beds = ValidateStaffedBeds(n, $"{source}: {StaffedBedsField}");
        }

        return new NodeConfiguration(beds) { Sources = sources };
    }

    /// <summary>Checks a number of staffed beds: a positive whole number up to <see cref="MaxStaffedBeds"/>.</summary>
    public static int ValidateStaffedBeds(int beds, string field = StaffedBedsField) => beds is >= 1 and <= MaxStaffedBeds
        ? beds
        : throw new NodeConfigurationException(string.Create(CultureInfo.InvariantCulture, $"{field} must be a positive whole number up to {MaxStaffedBeds:N0} (got {beds})"));

    /// <summary>Writes the configuration into the node directory, owner-only (0600).</summary>
    public void Save(string nodeDirectory)
    {
        if (StaffedBeds is { } beds)
        {
            ValidateStaffedBeds(beds);
        }

        var obj = new JsonObject();
        if (StaffedBeds is { } b)
        {
            obj[StaffedBedsField] = b;
        }

        if (Sources.Count > 0)
        {
            SourceConfiguration.Validate(Sources, SourcesField);
            obj[SourcesField] = new JsonArray([.. Sources.Select(SourceConfiguration.ToJson)]);
        }

        OwnerOnly.WriteAllText(Path.Combine(nodeDirectory, FileName), obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
