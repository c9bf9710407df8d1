using System.Security.Cryptography;
using System.Text.Json;
using FederatedTwin.Synthetic;

namespace FederatedTwin.Node.Data.Tests;

public sealed class GeneratorTests
{
    private static string Digest(string dir) => string.Join(",", PopulationGenerator.ResourceTypes.Select(t =>
        Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, $"{t}.000.ndjson"))))));

    [Fact]
    public void The_same_seed_gives_the_same_export_and_another_seed_another()
    {
        var a = DataTestSupport.TempDir("gen-a");
        var b = DataTestSupport.TempDir("gen-b");
        var c = DataTestSupport.TempDir("gen-c");
        PopulationGenerator.Generate(3000, SyntheticProfile.Named("urban-academic"), 5, a);
        PopulationGenerator.Generate(3000, SyntheticProfile.Named("urban-academic"), 5, b);
        PopulationGenerator.Generate(3000, SyntheticProfile.Named("urban-academic"), 6, c);
        Assert.Equal(Digest(a), Digest(b));
        Assert.NotEqual(Digest(a), Digest(c));
        using var truth = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, "ground-truth.json")));
        Assert.Equal(4, truth.RootElement.GetProperty("models").GetArrayLength());
    }

    [Fact]
    public void Profiles_differ_in_age_case_mix_and_cost_after_ingest()
    {
        var stats = SyntheticProfile.All.Select(p =>
        {
            var export = DataTestSupport.TempDir("profile-" + p.Name);
            PopulationGenerator.Generate(3000, p, 9, export);
            using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("profile-node"));
            var summary = DataTestSupport.Ingest(node, export);
            Assert.Equal(0, summary.Quarantined);
            var rows = new Features.FeatureBuilder(node.Store).All().Where(r => r.Values["year"] == 2020).ToList();
            return (p.Name, Age: rows.Average(r => r.Values["age"]!.Value), Conditions: rows.Average(r => r.Values["condition_count"]!.Value), Cost: rows.Average(r => r.Values["cost"]!.Value));
        }).ToDictionary(s => s.Name);

        Assert.True(stats["rural-community"].Age > stats["urban-academic"].Age + 5);
        Assert.True(stats["urban-academic"].Age > stats["safety-net"].Age + 3);
        Assert.True(stats["safety-net"].Conditions > stats["urban-academic"].Conditions * 0.8);
        Assert.NotEqual(stats["urban-academic"].Cost, stats["rural-community"].Cost);
    }

    [Fact]
    public void Bad_lines_on_request_are_quarantined_and_everything_else_is_accepted()
    {
        var export = DataTestSupport.TempDir("gen-bad");
        PopulationGenerator.Generate(500, SyntheticProfile.Named("safety-net"), 2, export, badLines: 14);
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("gen-bad-node"));
        var summary = DataTestSupport.Ingest(node, export);
        Assert.Equal(14, summary.Quarantined);
        Assert.Equal(summary.LinesRead - 14, summary.Accepted);
    }
}
