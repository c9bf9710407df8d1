namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// A model registry directory: one <see cref="RegisteredModel"/> JSON document per model, stored at the path its id
/// names (glm/admission_next_year/s1 → glm/admission_next_year/s1.json). Loading reads every *.json below the directory.
/// The coordinator's registry also holds documents that are not GLMs (kind "composition": the published population
/// composition; kind "fedavg"): <see cref="LoadDirectory"/> skips those, <see cref="DocumentsOfKind"/> returns them.
/// </summary>
public static class ModelRegistry
{
    /// <summary>Registry document kinds that are not GLMs: skipped by <see cref="LoadDirectory"/>.</summary>
    public static IReadOnlySet<string> OtherKinds { get; } = new HashSet<string>(StringComparer.Ordinal) { "composition", "fedavg" };

    /// <summary>The "kind" field of a registry document, or null if it has none (or is not a JSON object).</summary>
    public static string? KindOf(string json)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && doc.RootElement.TryGetProperty("kind", out var kind)
                && kind.ValueKind == System.Text.Json.JsonValueKind.String ? kind.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The (path, JSON) of every document of kind <paramref name="kind"/> below <paramref name="directory"/>, in path order.</summary>
    public static IReadOnlyList<(string Path, string Json)> DocumentsOfKind(string directory, string kind) =>
        !Directory.Exists(directory) ? [] :
        [.. Directory.GetFiles(directory, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => (Path: f, Json: File.ReadAllText(f))).Where(d => KindOf(d.Json) == kind)];

    /// <summary>Loads and validates every model below <paramref name="directory"/>; errors name the file and the field; ids must be unique.</summary>
    public static IReadOnlyList<RegisteredModel> LoadDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new RegisteredModelException("(directory)", "does not exist", directory);
        }

        var files = Directory.GetFiles(directory, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new RegisteredModelException("(directory)", "holds no *.json model documents", directory);
        }

        var byId = new Dictionary<string, string>(StringComparer.Ordinal);
        var models = new List<RegisteredModel>(files.Count);
        foreach (var file in files)
        {
            if (KindOf(File.ReadAllText(file)) is { } kind && OtherKinds.Contains(kind))
            {
                continue; // a composition release or a FedAvg model: not a GLM the twin evaluates
            }

            var model = RegisteredModel.Load(file);
            if (!byId.TryAdd(model.Id, file))
            {
                throw new RegisteredModelException("id", $"'{model.Id}' is also the id of {byId[model.Id]}", file);
            }

            models.Add(model);
        }

        // A directory holding only a composition release is valid: with a fallback model set, the twin then runs on the
        // fallback's models and the release's cohort (an outcome without any model is the model set's error).
        return models;
    }

    /// <summary>Validates and writes a model under <paramref name="directory"/> at its id's path; returns the file path.</summary>
    public static string Save(RegisteredModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.Validate();
        var path = Path.Combine(directory, model.RelativePath());
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, model.ToJson() + "\n");
        return path;
    }
}
