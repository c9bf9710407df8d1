using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Federation.Tests;

/// <summary>docker-compose.yml is checked as data here (no Docker engine runs on the build machines).</summary>
public sealed class DeploymentTests
{
    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FederatedTwin.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("FederatedTwin.sln not found above the test assembly.");
    }

    [Fact]
    public void Docker_compose_runs_a_coordinator_and_three_nodes_from_existing_dockerfiles_each_with_its_own_volume()
    {
        var root = RepositoryRoot();
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(root, "docker-compose.yml")))
        {
            yaml.Load(reader);
        }

        var services = (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
        // Services in a profile (tls-init: the trial CA, run once by hand) are set-up jobs, not part of the running federation.
        var running = services.Children.Where(s => !((YamlMappingNode)s.Value).Children.ContainsKey("profiles")).ToList();
        Assert.Equal(4, running.Count);
        var volumes = new HashSet<string>(StringComparer.Ordinal);
        var nodes = 0;
        foreach (var (name, node) in services.Children)
        {
            var service = (YamlMappingNode)node;
            var build = (YamlMappingNode)service["build"];
            var dockerfile = Path.Combine(root, ((YamlScalarNode)build["context"]).Value!, ((YamlScalarNode)build["dockerfile"]).Value!);
            Assert.True(File.Exists(dockerfile), $"{name}: {dockerfile} does not exist");
            var command = ((YamlSequenceNode)service["command"]).Children.Select(c => ((YamlScalarNode)c).Value).ToList();
            Assert.Contains(command[0], new[] { "coordinator", "node" });
            nodes += command[0] == "node" ? 1 : 0;
            if (command[0] == "node")
            {
                Assert.False(service.Children.ContainsKey("ports"), $"{name}: a node must not publish ports (outbound only)");
            }

            if (command is ["coordinator", "run", ..])
            {
                // Over TLS with nodes' client certificates, and healthy only when ready (not merely when the binary starts).
                Assert.Contains(command, c => c!.StartsWith("https://", StringComparison.Ordinal));
                Assert.Contains("--require-client-certificates", command);
                var health = ((YamlSequenceNode)((YamlMappingNode)service["healthcheck"])["test"]).Children.Select(c => ((YamlScalarNode)c).Value).ToList();
                Assert.Contains(health, c => c!.EndsWith("/health/ready", StringComparison.Ordinal));
            }

            // Each service's data volume is its own; the trial CA's volume is shared read-only (written only by the set-up job).
            foreach (var v in (YamlSequenceNode)service["volumes"])
            {
                var mount = ((YamlScalarNode)v).Value!;
                if (!mount.EndsWith(":ro", StringComparison.Ordinal) && !service.Children.ContainsKey("profiles"))
                {
                    Assert.True(volumes.Add(mount.Split(':')[0]), $"{name} shares a writable volume");
                }
            }
        }

        Assert.Equal(3, nodes);
        Assert.Contains("ENTRYPOINT", File.ReadAllText(Path.Combine(root, "Dockerfile")), StringComparison.Ordinal);
    }
}
