using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>A fresh directory under the temp path (created by whatever writes to it first), deleted with its contents on dispose.</summary>
internal sealed class TempDirectory(string prefix) : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N"));

    /// <summary>The demo models saved here as a registry directory, with <paramref name="edit"/> applied to each (null drops it).</summary>
    public string DemoRegistry(Func<RegisteredModel, RegisteredModel?>? edit = null)
    {
        foreach (var m in DemoModels.Registry())
        {
            if ((edit ?? (x => x))(m) is { } kept)
            {
                ModelRegistry.Save(kept, Path);
            }
        }

        return Path;
    }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
