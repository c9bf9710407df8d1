using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace FederatedTwin.Architecture.Tests;

/// <summary>
/// The whiteboard of docs/architecture.md, enforced: which project may reference which, no model, study or result
/// handed across an assembly boundary as a JSON tree, SQL only in Storage folders, and files small enough to own one
/// job. A failure names the offending project, member, file or line.
/// </summary>
[Trait("Category", "Architecture")]
public sealed partial class ArchitectureTests
{
    /// <summary>Each product project (by folder) and the projects it may reference directly.</summary>
    internal static readonly IReadOnlyDictionary<string, string[]> Whiteboard = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["crypto"] = [],
        ["protocol"] = [],
        ["analytics"] = ["crypto", "protocol"],
        ["synth"] = [],
        ["twin"] = ["analytics"],
        ["hosting"] = ["protocol"],
        ["node"] = ["hosting", "analytics", "twin"],
        ["coordinator"] = ["hosting", "analytics", "twin"],
        ["cli"] = ["node", "coordinator", "twin", "synth"],
        ["bench/FederatedTwin.Bench"] = ["analytics"],
        ["fuzz/FederatedTwin.Fuzz"] = ["node", "twin"],
    };

    /// <summary>Packages a project must not pull in: the crypto library stays free of parsing and statistics.</summary>
    private static readonly IReadOnlyDictionary<string, string[]> ForbiddenPackages = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["crypto"] = ["YamlDotNet", "MathNet.Numerics", "Microsoft.Data.Sqlite", "Npgsql", "Dapper"],
        ["protocol"] = ["MathNet.Numerics", "Microsoft.Data.Sqlite", "Npgsql", "Dapper"],
        ["analytics"] = ["Microsoft.Data.Sqlite", "Npgsql", "Dapper"],
        ["twin"] = ["Microsoft.Data.Sqlite", "Npgsql", "Dapper"],
    };

    [Fact]
    public void Every_product_project_is_on_the_whiteboard_and_references_only_what_it_allows()
    {
        var projects = ProductProjects();
        var unknown = projects.Keys.Where(k => !Whiteboard.ContainsKey(k)).ToList();
        Assert.True(unknown.Count == 0, $"projects not on the whiteboard (add them to docs/architecture.md and {nameof(Whiteboard)}): {string.Join(", ", unknown)}");

        var violations = new List<string>();
        foreach (var (folder, csproj) in projects)
        {
            var doc = XDocument.Load(csproj);
            foreach (var reference in doc.Descendants("ProjectReference").Select(e => (string)e.Attribute("Include")!))
            {
                var target = ProjectFolder(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(csproj)!, reference)));
                if (!Whiteboard[folder].Contains(target, StringComparer.Ordinal))
                {
                    violations.Add($"{folder} -> {target}");
                }
            }

            foreach (var package in doc.Descendants("PackageReference").Select(e => (string)e.Attribute("Include")!))
            {
                if (ForbiddenPackages.TryGetValue(folder, out var forbidden) && forbidden.Contains(package, StringComparer.Ordinal))
                {
                    violations.Add($"{folder} -> package {package}");
                }
            }
        }

        Assert.True(violations.Count == 0, "forbidden references: " + string.Join("; ", violations));
    }

    [Fact]
    public void Compiled_assemblies_reference_only_the_closure_of_the_whiteboard()
    {
        var byAssembly = ProductProjects().Keys
            .Where(folder => folder is not "bench/FederatedTwin.Bench" and not "fuzz/FederatedTwin.Fuzz")
            .ToDictionary(AssemblyName, folder => folder, StringComparer.Ordinal);
        var violations = new List<string>();
        foreach (var (assemblyName, folder) in byAssembly)
        {
            var allowed = Closure(folder).Where(byAssembly.ContainsValue).Select(AssemblyName).ToHashSet(StringComparer.Ordinal);
            var assembly = Assembly.Load(assemblyName);
            foreach (var referenced in assembly.GetReferencedAssemblies().Select(a => a.Name!))
            {
                if (byAssembly.ContainsKey(referenced) && !allowed.Contains(referenced))
                {
                    violations.Add($"{assemblyName} -> {referenced}");
                }

                if (ForbiddenPackages.TryGetValue(folder, out var forbidden) && forbidden.Contains(referenced, StringComparer.Ordinal))
                {
                    violations.Add($"{assemblyName} -> {referenced}");
                }
            }
        }

        Assert.True(violations.Count == 0, "forbidden assembly references: " + string.Join("; ", violations));
    }

    [Fact]
    public void Node_and_coordinator_never_reference_each_other()
    {
        Assert.DoesNotContain("coordinator", Closure("node"));
        Assert.DoesNotContain("node", Closure("coordinator"));
        Assert.DoesNotContain(Assembly.Load("FederatedTwin.Node").GetReferencedAssemblies(), a => a.Name == "FederatedTwin.Coordinator");
        Assert.DoesNotContain(Assembly.Load("FederatedTwin.Coordinator").GetReferencedAssemblies(), a => a.Name == "FederatedTwin.Node");
    }

    /// <summary>
    /// Members of another assembly's public surface may not hand over a JSON tree: models, studies and results are
    /// types with one owner. The audit trail's records are JSON by their format (RFC 8785 canonical JSON, hash-chained),
    /// and Razor page models are read only by their own page, so both are outside the rule.
    /// </summary>
    [Fact]
    public void No_json_tree_crosses_an_assembly_boundary()
    {
        var violations = new List<string>();
        foreach (var folder in ProductProjects().Keys.Where(f => f is not "cli" and not "bench/FederatedTwin.Bench" and not "fuzz/FederatedTwin.Fuzz"))
        {
            foreach (var type in Assembly.Load(AssemblyName(folder)).GetExportedTypes())
            {
                if (IsOutsideTheJsonRule(type))
                {
                    continue;
                }

                foreach (var (member, memberType) in SurfaceTypes(type))
                {
                    if (MentionsJsonTree(memberType))
                    {
                        violations.Add($"{type.FullName}.{member}: {memberType.Name}");
                    }
                }
            }
        }

        Assert.True(violations.Count == 0, "JSON trees on a public surface (make them typed records):\n" + string.Join("\n", violations.Distinct()));
    }

    [Fact]
    public void Sql_lives_only_in_storage_folders()
    {
        var violations = new List<string>();
        foreach (var folder in ProductProjects().Keys)
        {
            foreach (var file in SourceFiles(folder, "*.cs", "*.cshtml"))
            {
                var relative = Path.GetRelativePath(RepositoryRoot, file).Replace('\\', '/');
                if (relative.Contains("/Storage/", StringComparison.Ordinal) || relative == AuditStore)
                {
                    continue;
                }

                var text = File.ReadAllText(file);
                foreach (Match match in Sql().Matches(text))
                {
                    var lineStart = text.LastIndexOf('\n', Math.Max(0, match.Index - 1)) + 1;
                    var line = text[lineStart..].Split('\n')[0].Trim();
                    if (!line.StartsWith("//", StringComparison.Ordinal) && !line.StartsWith('*'))
                    {
                        violations.Add($"{relative}:{text.AsSpan(0, match.Index).Count('\n') + 1}: {line}");
                    }
                }
            }
        }

        Assert.True(violations.Count == 0, "SQL outside a Storage/ folder:\n" + string.Join("\n", violations));
    }

    /// <summary>The clock is a dependency (<see cref="TimeProvider"/>), so tests move time instead of sleeping.</summary>
    [Fact]
    public void The_clock_is_read_through_a_time_provider()
    {
        var violations = ProductProjects().Keys
            .SelectMany(folder => SourceFiles(folder, "*.cs", "*.cshtml"))
            .SelectMany(file => File.ReadAllLines(file).Select((line, i) => (File: file, Line: i + 1, Text: line.Trim())))
            .Where(l => !l.Text.StartsWith("//", StringComparison.Ordinal) && Clock().IsMatch(l.Text))
            .Select(l => $"{Path.GetRelativePath(RepositoryRoot, l.File)}:{l.Line}: {l.Text}")
            .ToList();
        Assert.True(violations.Count == 0, "clock read directly (inject a TimeProvider):\n" + string.Join("\n", violations));
    }

    /// <summary>At most two product files over 600 lines, each saying on its first line why it is that long.</summary>
    [Fact]
    public void Long_files_are_at_most_two_and_say_why()
    {
        var longFiles = ProductProjects().Keys
            .SelectMany(folder => SourceFiles(folder, "*.cs"))
            .Select(file => (File: Path.GetRelativePath(RepositoryRoot, file), Lines: File.ReadAllLines(file)))
            .Where(f => f.Lines.Length > MaxLines)
            .ToList();
        Assert.True(longFiles.Count <= 2, $"more than two files over {MaxLines} lines: " + string.Join(", ", longFiles.Select(f => $"{f.File} ({f.Lines.Length})")));
        foreach (var (file, lines) in longFiles)
        {
            Assert.True(lines[0].StartsWith("// ", StringComparison.Ordinal), $"{file} has {lines.Length} lines: its first line must be a comment saying why");
        }
    }

    [Fact]
    public void The_rules_catch_what_they_forbid()
    {
        Assert.Matches(Sql(), "const string Q = \"SELECT id FROM studies WHERE state = @s\";");
        Assert.Matches(Sql(), "\"INSERT OR IGNORE INTO rosters(version) VALUES (@v)\"");
        Assert.Matches(Sql(), "UPDATE studies SET state = 'done'");
        Assert.Matches(Sql(), "PRAGMA journal_mode = WAL;");
        Assert.Matches(Sql(), "\"\"\"\n    SELECT s.id, s.state\n    FROM studies s\n    \"\"\"");
        Assert.DoesNotMatch(Sql(), "/// Selects the studies a node may update from the registry.");
        Assert.True(MentionsJsonTree(typeof(IReadOnlyList<JsonObject>)));
        Assert.True(MentionsJsonTree(typeof(Func<int, JsonNode?>)));
        Assert.False(MentionsJsonTree(typeof(IReadOnlyList<string>)));
        Assert.Matches(Clock(), "var now = DateTimeOffset.UtcNow;");
        Assert.DoesNotMatch(Clock(), "var now = time.GetUtcNow();");
        Assert.Contains("coordinator", Closure("cli"));
        Assert.Contains("crypto", Closure("coordinator"));
    }

    private const int MaxLines = 600;

    [GeneratedRegex(@"\bDateTime(Offset)?\.(UtcNow|Now|Today)\b")]
    private static partial Regex Clock();

    private const string AuditStore = "protocol/Audit/AuditLog.cs";

    [GeneratedRegex(@"\b(SELECT\s+[\w*(][^;""]{0,600}?\bFROM\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)\b|ALTER\s+TABLE\b|DROP\s+(TABLE|INDEX)\b|PRAGMA\s+\w+)")]
    private static partial Regex Sql();

    internal static string RepositoryRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FederatedTwin.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("FederatedTwin.sln not found above the test's directory");
    }

    /// <summary>Product projects by folder relative to the root: every project outside tests/.</summary>
    internal static IReadOnlyDictionary<string, string> ProductProjects() =>
        Directory.EnumerateFiles(RepositoryRoot, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !IsIgnored(p) && !Path.GetRelativePath(RepositoryRoot, p).Replace('\\', '/').StartsWith("tests/", StringComparison.Ordinal))
            .ToDictionary(p => ProjectFolder(Path.GetFullPath(p)), p => p, StringComparer.Ordinal);

    private static string ProjectFolder(string csproj) => Path.GetRelativePath(RepositoryRoot, Path.GetDirectoryName(csproj)!).Replace('\\', '/');

    private static bool IsIgnored(string path)
    {
        var relative = Path.GetRelativePath(RepositoryRoot, path).Replace('\\', '/');
        return relative.Split('/').Any(part => part is "bin" or "obj" or ".git" or "node_modules");
    }

    private static string AssemblyName(string folder)
    {
        var csproj = ProductProjects()[folder];
        var name = XDocument.Load(csproj).Descendants("AssemblyName").Select(e => e.Value).FirstOrDefault();
        return name ?? Path.GetFileNameWithoutExtension(csproj);
    }

    internal static HashSet<string> Closure(string folder)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(Whiteboard[folder]);
        while (stack.TryPop(out var next))
        {
            if (seen.Add(next))
            {
                foreach (var further in Whiteboard[next])
                {
                    stack.Push(further);
                }
            }
        }

        return seen;
    }

    private static IEnumerable<string> SourceFiles(string folder, params string[] patterns)
    {
        var root = Path.Combine(RepositoryRoot, folder);
        var nested = ProductProjects().Keys.Where(other => other != folder && other.StartsWith(folder + "/", StringComparison.Ordinal))
            .Select(other => Path.Combine(RepositoryRoot, other) + Path.DirectorySeparatorChar).ToList();
        return patterns.SelectMany(pattern => Directory.EnumerateFiles(root, pattern, SearchOption.AllDirectories))
            .Where(f => !IsIgnored(f) && !nested.Any(n => f.StartsWith(n, StringComparison.Ordinal)));
    }

    private static bool IsOutsideTheJsonRule(Type type)
    {
        if (type.Namespace is { } ns && (ns.EndsWith(".Audit", StringComparison.Ordinal) || ns.Contains(".Audit.", StringComparison.Ordinal)))
        {
            return true;
        }

        for (var t = type.BaseType; t is not null; t = t.BaseType)
        {
            if (t.FullName == "Microsoft.AspNetCore.Mvc.RazorPages.PageModel")
            {
                return true;
            }
        }

        return false;
    }

    private static IEnumerable<(string Member, Type Type)> SurfaceTypes(Type type)
    {
        const BindingFlags Flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var field in type.GetFields(Flags))
        {
            yield return (field.Name, field.FieldType);
        }

        foreach (var property in type.GetProperties(Flags))
        {
            yield return (property.Name, property.PropertyType);
        }

        foreach (var method in type.GetMethods(Flags).Where(m => !m.IsSpecialName))
        {
            yield return (method.Name, method.ReturnType);
            foreach (var parameter in method.GetParameters())
            {
                yield return ($"{method.Name}({parameter.Name})", parameter.ParameterType);
            }
        }

        foreach (var constructor in type.GetConstructors(Flags))
        {
            foreach (var parameter in constructor.GetParameters())
            {
                yield return ($".ctor({parameter.Name})", parameter.ParameterType);
            }
        }
    }

    internal static bool MentionsJsonTree(Type type)
    {
        if (type.HasElementType)
        {
            return MentionsJsonTree(type.GetElementType()!);
        }

        if (typeof(JsonNode).IsAssignableFrom(type))
        {
            return true;
        }

        return type.IsGenericType && type.GetGenericArguments().Any(MentionsJsonTree);
    }
}
