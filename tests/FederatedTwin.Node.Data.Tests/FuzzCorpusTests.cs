using FederatedTwin.Fuzz;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>
/// Every fuzz target (fuzz/) over its committed seed corpus and over the inputs that once crashed it (fuzz/regressions/TARGET,
/// each fixed in the product): none may throw what its parser's callers are not prepared for. The long afl-fuzz runs are
/// outside the test suite (fuzz/run.sh); this keeps what they found found.
/// </summary>
public sealed class FuzzCorpusTests
{
    public static TheoryData<string> Targets()
    {
        var data = new TheoryData<string>();
        foreach (var t in FuzzTargets.All)
        {
            data.Add(t.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_seed_and_every_past_crash_runs_clean(string name)
    {
        var target = FuzzTargets.Find(name)!;
        var corpus = Inputs("corpus", name);
        Assert.NotEmpty(corpus);
        foreach (var file in corpus.Concat(Inputs("regressions", name)))
        {
            var ex = Record.Exception(() => target.Run(File.ReadAllBytes(file)));
            Assert.True(ex is null, $"{name}: {Path.GetRelativePath(Root, file)}: {ex}");
        }
    }

    [Fact]
    public void Every_target_has_a_seed_corpus_and_nothing_else_is_in_the_corpus_folders()
    {
        var folders = Directory.GetDirectories(Path.Combine(Root, "fuzz", "corpus")).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(FuzzTargets.All.Select(t => t.Name).Order(StringComparer.Ordinal), folders);
        Assert.True(FuzzTargets.All.Count >= 8);
    }

    private static IReadOnlyList<string> Inputs(string kind, string target)
    {
        var dir = Path.Combine(Root, "fuzz", kind, target);
        return Directory.Exists(dir) ? Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToList() : [];
    }

    private static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FederatedTwin.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("the repository root (FederatedTwin.sln) is not above the test assembly");
    }
}
