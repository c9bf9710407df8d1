using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Node.Sources;

/// <summary>
/// The "sources" of node-config.json (issue 22): each a named Bulk Data server or OMOP database and how often to pull it. Strict:
/// an unknown field, a field of the other kind, a bad value, or a password in an OMOP connection string is refused with the
/// field named. Secrets never live here: the SMART client key is sealed in the node directory, an OMOP password comes from
/// PGPASSWORD or a PostgreSQL password file (PGPASSFILE, libpq "The Password File").
/// </summary>
public static partial class SourceConfiguration
{
    /// <summary>The shortest schedule: a Bulk Data export is a heavy request for the hospital's FHIR server, and an ingest a heavy write.</summary>
    public static readonly TimeSpan MinimumEvery = TimeSpan.FromMinutes(15);

    /// <summary>The longest schedule accepted (a year): anything longer is a typo.</summary>
    public static readonly TimeSpan MaximumEvery = TimeSpan.FromDays(366);

    public const string FhirBulkKind = "fhir-bulk";
    public const string OmopKind = "omop";

    private static readonly string[] CommonFields = ["name", "kind", "every"];
    private static readonly string[] FhirFields = ["fhir_base", "client_id", "group", "types", "type_filter", "level"];
    private static readonly string[] OmopFields = ["omop_connection", "omop_schema"];

    [GeneratedRegex("^[a-z0-9-]{1,40}$")]
    private static partial Regex NamePattern();

    // FHIR R4 id (2.24.0.1 "id": [A-Za-z0-9\-\.]{1,64}) and resource type names.
    [GeneratedRegex("^[A-Za-z0-9.-]{1,64}$")]
    private static partial Regex FhirIdPattern();

    [GeneratedRegex("^[A-Z][A-Za-z]{1,63}$")]
    private static partial Regex ResourceTypePattern();

    // A PostgreSQL identifier as written unquoted (PostgreSQL 17, 4.1.1), at most NAMEDATALEN-1 = 63 bytes.
    [GeneratedRegex("^[a-z_][a-z0-9_$]{0,62}$")]
    private static partial Regex SchemaPattern();

    // ISO 8601-1:2019 5.5.2.4 durations in days, hours, minutes and seconds (weeks too); years and months are refused: their length varies.
    [GeneratedRegex(@"^P(?:(?<w>\d{1,3})W|(?:(?<d>\d{1,4})D)?(?:T(?:(?<h>\d{1,5})H)?(?:(?<m>\d{1,6})M)?(?:(?<s>\d{1,8})S)?)?)$")]
    private static partial Regex DurationPattern();

    public static string KindName(SourceKind kind) => kind == SourceKind.FhirBulk ? FhirBulkKind : OmopKind;

    /// <summary>Parses an ISO 8601 duration such as PT6H or P1D into a schedule; <paramref name="field"/> names it in the error.</summary>
    public static TimeSpan ParseEvery(string text, string field)
    {
        var m = DurationPattern().Match(text);
        if (!m.Success || text is "P" or "PT" || text.EndsWith('T'))
        {
            throw new NodeConfigurationException($"{field}: '{text}' is not an ISO 8601 duration in weeks, days, hours, minutes or seconds (e.g. PT6H, P1D; years and months vary in length and are not accepted)");
        }

        static long N(Group g) => g.Success ? long.Parse(g.Value, CultureInfo.InvariantCulture) : 0;
        var every = TimeSpan.FromSeconds((N(m.Groups["w"]) * 7 * 86400) + (N(m.Groups["d"]) * 86400) + (N(m.Groups["h"]) * 3600) + (N(m.Groups["m"]) * 60) + N(m.Groups["s"]));
        return ValidateEvery(every, field);
    }

    public static TimeSpan ValidateEvery(TimeSpan every, string field) => every < MinimumEvery
        ? throw new NodeConfigurationException($"{field}: {FormatEvery(every)} is shorter than the minimum of 15 minutes (PT15M)")
        : every > MaximumEvery ? throw new NodeConfigurationException($"{field}: {FormatEvery(every)} is longer than a year (P366D)") : every;

    /// <summary>A schedule as the file keeps it: the shortest ISO 8601 duration (P1D, PT6H, P1DT12H).</summary>
    public static string FormatEvery(TimeSpan every)
    {
        var text = "P" + (every.Days > 0 ? every.Days.ToString(CultureInfo.InvariantCulture) + "D" : string.Empty);
        var time = (every.Hours > 0 ? every.Hours.ToString(CultureInfo.InvariantCulture) + "H" : string.Empty)
            + (every.Minutes > 0 ? every.Minutes.ToString(CultureInfo.InvariantCulture) + "M" : string.Empty)
            + (every.Seconds > 0 ? every.Seconds.ToString(CultureInfo.InvariantCulture) + "S" : string.Empty);
        return time.Length > 0 ? text + "T" + time : text == "P" ? "PT0S" : text;
    }

    /// <summary>The OMOP database's host and database (what the audit and the list show; never the user or anything else).</summary>
    public static (string Host, string Database) OmopServer(string connection)
    {
        var builder = new DbConnectionStringBuilder { ConnectionString = connection };
        return (Value(builder, "Host", "Server") ?? string.Empty, Value(builder, "Database") ?? string.Empty);
    }

    /// <summary>The "sources" array of the file.</summary>
    internal static List<DataSource> ParseAll(JsonNode node, string where)
    {
        if (node is not JsonArray array)
        {
            throw new NodeConfigurationException($"{where} must be an array of sources");
        }

        var sources = new List<DataSource>();
        for (var i = 0; i < array.Count; i++)
        {
            sources.Add(Parse(array[i], $"{where}[{i}]"));
        }

        Validate(sources, where);
        return sources;
    }

    private static DataSource Parse(JsonNode? node, string where)
    {
        if (node is not JsonObject obj)
        {
            throw new NodeConfigurationException($"{where} must be an object");
        }

        var kindText = Text(obj, "kind", where) ?? throw new NodeConfigurationException($"{where}.kind is required ({FhirBulkKind} or {OmopKind})");
        var kind = kindText switch
        {
            FhirBulkKind => SourceKind.FhirBulk,
            OmopKind => SourceKind.Omop,
            _ => throw new NodeConfigurationException($"{where}.kind: '{kindText}' is not a source kind ({FhirBulkKind} or {OmopKind})"),
        };
        string[] known = [.. CommonFields, .. kind == SourceKind.FhirBulk ? FhirFields : OmopFields];
        foreach (var (key, _) in obj)
        {
            if (!known.Contains(key))
            {
                throw new NodeConfigurationException($"{where}: unknown field '{key}' for a {kindText} source (known: {string.Join(", ", known)})");
            }
        }

        List<string>? types = null;
        if (obj["types"] is { } t)
        {
            if (t is not JsonArray list || list.Any(x => x is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            {
                throw new NodeConfigurationException($"{where}.types must be an array of resource type names");
            }

            types = [.. list.Select(x => x!.GetValue<string>())];
        }

        var every = Text(obj, "every", where) is { } e ? ParseEvery(e, $"{where}.every") : (TimeSpan?)null;
        var patientLevel = ParseLevel(Text(obj, "level", where), Text(obj, "group", where) is not null, $"{where}.level");
        return new DataSource(Text(obj, "name", where) ?? string.Empty, kind, Text(obj, "fhir_base", where), Text(obj, "client_id", where), Text(obj, "group", where), types,
            Text(obj, "type_filter", where), Text(obj, "omop_connection", where), Text(obj, "omop_schema", where), every, patientLevel);
    }

    /// <summary>
    /// A Bulk Data export level as the file and the CLI give it (IG v2.0.0 "Endpoint"): <c>system</c> (the default) or <c>patient</c>;
    /// a group's export is chosen by naming the group. Returns whether it is the Patient level.
    /// </summary>
    public static bool ParseLevel(string? level, bool hasGroup, string where) => level switch
    {
        null => false,
        "system" when !hasGroup => false,
        "patient" when !hasGroup => true,
        "group" when hasGroup => false,
        "system" or "patient" => throw new NodeConfigurationException($"{where} must be left out for a group export (the group sets the level)"),
        _ => throw new NodeConfigurationException($"{where} must be system or patient (a group export is chosen by naming the group)"),
    };

    /// <summary>Checks sources as the file and the CLI take them; <paramref name="where"/> names them in the error.</summary>
    public static void Validate(IReadOnlyList<DataSource> sources, string where)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < sources.Count; i++)
        {
            var s = sources[i];
            var at = sources.Count == 1 && where == "source" ? "source" : $"{where}[{i}]";
            if (!NamePattern().IsMatch(s.Name))
            {
                throw new NodeConfigurationException($"{at}.name: '{s.Name}' must be 1 to 40 lowercase letters, digits or hyphens");
            }

            if (!names.Add(s.Name))
            {
                throw new NodeConfigurationException($"{at}.name: '{s.Name}' is configured twice");
            }

            if (s.Every is { } every)
            {
                ValidateEvery(every, $"{at}.every");
            }

            if (s.Kind == SourceKind.FhirBulk)
            {
                ValidateFhir(s, at);
            }
            else
            {
                ValidateOmop(s, at);
            }
        }
    }

    private static void ValidateFhir(DataSource s, string at)
    {
        if (s.OmopConnection is not null || s.OmopSchema is not null)
        {
            throw new NodeConfigurationException($"{at}: omop_connection and omop_schema are for omop sources");
        }

        if (string.IsNullOrEmpty(s.FhirBase) || !Uri.TryCreate(s.FhirBase, UriKind.Absolute, out var url) || url.Query.Length > 0 || url.Fragment.Length > 0 || url.UserInfo.Length > 0)
        {
            throw new NodeConfigurationException($"{at}.fhir_base must be the FHIR server's absolute base URL, without a query, fragment or user info");
        }

        // SMART Backend Services sends a signed client assertion and gets a bearer token: never over plain http off this host.
        if (UrlPolicy.Refusal(url, "fhir_base") is { } refusal)
        {
            throw new NodeConfigurationException($"{at}.fhir_base: {refusal}");
        }

        if (string.IsNullOrWhiteSpace(s.ClientId) || s.ClientId.Length > 255 || s.ClientId.Any(char.IsControl))
        {
            throw new NodeConfigurationException($"{at}.client_id is required: the client id the FHIR server registered for this node (SMART Backend Services), at most 255 characters");
        }

        if (s.Group is not null && !FhirIdPattern().IsMatch(s.Group))
        {
            throw new NodeConfigurationException($"{at}.group must be a FHIR Group id (letters, digits, '-' and '.', at most 64)");
        }

        foreach (var type in s.Types ?? [])
        {
            if (!ResourceTypePattern().IsMatch(type))
            {
                throw new NodeConfigurationException($"{at}.types: '{type}' is not a FHIR resource type name");
            }
        }

        if (s.TypeFilter is { } filter && (filter.Length == 0 || filter.Length > 2000 || filter.Any(char.IsControl) || !filter.Contains('?', StringComparison.Ordinal)))
        {
            throw new NodeConfigurationException($"{at}.type_filter must be a FHIR search such as Observation?category=laboratory (Bulk Data IG v2.0.0, _typeFilter), at most 2,000 characters");
        }
    }

    private static void ValidateOmop(DataSource s, string at)
    {
        if (s.FhirBase is not null || s.ClientId is not null || s.Group is not null || s.Types is not null || s.TypeFilter is not null)
        {
            throw new NodeConfigurationException($"{at}: fhir_base, client_id, group, types and type_filter are for fhir-bulk sources");
        }

        if (string.IsNullOrWhiteSpace(s.OmopConnection))
        {
            throw new NodeConfigurationException($"{at}.omop_connection is required (Host=...;Database=...;Username=...)");
        }

        DbConnectionStringBuilder builder;
        try
        {
            builder = new DbConnectionStringBuilder { ConnectionString = s.OmopConnection };
        }
        catch (ArgumentException)
        {
            throw new NodeConfigurationException($"{at}.omop_connection is not a connection string (Host=...;Database=...;Username=...)");
        }

        if (builder.ContainsKey("Password") || builder.ContainsKey("Pwd"))
        {
            // Never say the value: the message names the field only.
            throw new NodeConfigurationException($"{at}.omop_connection holds a Password: node-config.json keeps no secrets; use PGPASSFILE (a PostgreSQL password file) or PGPASSWORD in the node's environment");
        }

        foreach (var (key, alternative) in new[] { ("Host", "Server"), ("Database", null), ("Username", "User ID") })
        {
            if (Value(builder, key, alternative) is null)
            {
                throw new NodeConfigurationException($"{at}.omop_connection needs {key}=");
            }
        }

        if (s.OmopSchema is null || !SchemaPattern().IsMatch(s.OmopSchema))
        {
            throw new NodeConfigurationException($"{at}.omop_schema is required: the CDM schema's name as written unquoted (lowercase letters, digits, '_', at most 63)");
        }
    }

    /// <summary>A source as the file keeps it.</summary>
    internal static JsonObject ToJson(DataSource s)
    {
        var obj = new JsonObject { ["name"] = s.Name, ["kind"] = KindName(s.Kind) };
        void Put(string key, string? value)
        {
            if (value is not null)
            {
                obj[key] = value;
            }
        }

        Put("fhir_base", s.FhirBase);
        Put("client_id", s.ClientId);
        Put("group", s.Group);
        if (s.Types is { } types)
        {
            obj["types"] = new JsonArray([.. types.Select(t => (JsonNode)t)]);
        }

        Put("type_filter", s.TypeFilter);
        Put("level", s.PatientLevel ? "patient" : null);
        Put("omop_connection", s.OmopConnection);
        Put("omop_schema", s.OmopSchema);
        Put("every", s.Every is { } every ? FormatEvery(every) : null);
        return obj;
    }

    private static string? Text(JsonObject obj, string key, string where) => obj[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new NodeConfigurationException($"{where}.{key} must be a string"),
    };

    private static string? Value(DbConnectionStringBuilder builder, string key, string? alternative = null) =>
        builder.TryGetValue(key, out var v) && v is string s && s.Length > 0 ? s
        : alternative is not null && builder.TryGetValue(alternative, out var w) && w is string t && t.Length > 0 ? t : null;
}
