namespace FederatedTwin.Protocol.Models.Registry;

/// <summary>
/// A model registry directory: one <see cref="RegisteredModel"/> JSON document per model, stored at the path its id
/// names (glm/admission_next_year/s1 → glm/admission_next_year/s1.json). Loading reads every *.json below the directory.
/// </summary>
public static class ModelRegistry
{
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
            var model = RegisteredModel.Load(file);
            if (!byId.TryAdd(model.Id, file))
            {
                throw new RegisteredModelException("id", $"'{model.Id}' is also the id of {byId[model.Id]}", file);
            }

            models.Add(model);
        }

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
