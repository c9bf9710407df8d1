using System.Diagnostics;
using System.Text.Json.Nodes;
using FederatedTwin.Node.Sources.Smart;

namespace FederatedTwin.Node.Data.Tests.Sources;

public sealed class SmartKeyCliTests
{
    [Fact]
    public void Smart_key_create_and_show_print_the_JWKS_and_refuse_what_they_must()
    {
        var dir = DataTestSupport.TempDir("smart-cli");
        using (NodeDirectory.OpenOrInitialize(dir))
        {
        }

        var none = Run("node", "smart-key", "show", "--node-dir", dir);
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("no SMART client key", none.Stderr, StringComparison.Ordinal);

        var created = Run("node", "smart-key", "create", "--node-dir", dir);
        Assert.Equal(0, created.ExitCode);
        var jwks = JsonNode.Parse(created.Stdout)!.AsObject(); // standard output is the JWKS alone
        var jwk = Assert.Single(jwks["keys"]!.AsArray())!;
        Assert.Equal("ES384", (string?)jwk["alg"]);
        Assert.Null(jwk["d"]);
        Assert.Contains((string)jwk["kid"]!, created.Stderr, StringComparison.Ordinal);

        var shown = Run("node", "smart-key", "show", "--node-dir", dir);
        Assert.Equal(0, shown.ExitCode);
        Assert.Equal(created.Stdout, shown.Stdout);

        var again = Run("node", "smart-key", "create", "--node-dir", dir, "--alg", "RS384");
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("already has a SMART client key", again.Stderr, StringComparison.Ordinal);
        Assert.Contains("--replace", again.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, again.Stdout);
        Assert.Equal(created.Stdout, Run("node", "smart-key", "show", "--node-dir", dir).Stdout);

        var replaced = Run("node", "smart-key", "create", "--node-dir", dir, "--alg", "RS384", "--kid", "ehr-2027", "--replace");
        Assert.Equal(0, replaced.ExitCode);
        var rsa = JsonNode.Parse(replaced.Stdout)!["keys"]![0]!;
        Assert.Equal("RSA", (string?)rsa["kty"]);
        Assert.Equal("ehr-2027", (string?)rsa["kid"]);
        Assert.Equal(replaced.Stdout, Run("node", "smart-key", "show", "--node-dir", dir).Stdout);
        using var node = NodeDirectory.OpenOrInitialize(dir);
        using var key = SmartClientKey.Load(node);
        Assert.Equal("ehr-2027", key.KeyId);
    }

    [Fact]
    public void A_missing_node_directory_is_refused_and_not_created()
    {
        var missing = Path.Combine(Path.GetTempPath(), "ftwin-smart-missing-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var verb in new[] { "create", "show" })
        {
            var result = Run("node", "smart-key", verb, "--node-dir", missing);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains("is not a node directory", result.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(missing));
        }
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ftwin.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
