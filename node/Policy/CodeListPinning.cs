namespace FederatedTwin.Node.Policy;

/// <summary>
/// A site's own sensitive code lists (sensitive_codes): inline codes and CSV files inside the policy's directory, each file
/// pinned by the SHA-256 the signed policy states, so a list edited after approval is refused rather than used.
/// </summary>
internal static class CodeListPinning
{
    /// <summary>Each custom category's (system, code) list: its inline codes and the rows of its CSV file, whose SHA-256 must be the one the policy pins.</summary>
    public static Dictionary<string, IReadOnlyList<(string System, string Code)>> Read(Dictionary<string, SitePolicyParser.CustomCategory> categories, string source, string? baseDirectory)
    {
        var result = new Dictionary<string, IReadOnlyList<(string System, string Code)>>(StringComparer.Ordinal);
        foreach (var (name, category) in categories.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var codes = (category.Codes ?? []).Select(c => (c.System!, c.Code!)).ToList();
            if (category.File is { } file)
            {
                if (baseDirectory is null)
                {
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.file: a code list file can only be read from a policy file on disk.");
                }

                var root = Path.GetFullPath(baseDirectory);
                var path = Path.GetFullPath(Path.Combine(root, file));
                if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.file: must be inside the policy's directory ({root}).");
                }

                if (!File.Exists(path))
                {
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.file: {path} does not exist.");
                }

                var bytes = File.ReadAllBytes(path);
                var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
                if (sha256 != category.Sha256)
                {
                    // The signed policy pins the list's content: a list edited after approval is not used (45 CFR 164.316(a), documented policies).
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.sha256: {file} has SHA-256 {sha256}, not the {category.Sha256} the policy pins; review the change and update the policy.");
                }

                codes.AddRange(ReadCodeFile(bytes, file));
            }

            result[name] = codes.Distinct().ToList();
        }

        return result;
    }

    /// <summary>A code list file: a header "system,code", then one (system, code) per line; # comments and blank lines are skipped.</summary>
    internal static IEnumerable<(string System, string Code)> ReadCodeFile(byte[] bytes, string file)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), detectEncodingFromByteOrderMarks: true);
        var lineNo = 0;
        var header = false;
        var rows = new List<(string, string)>();
        while (reader.ReadLine() is { } raw)
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var parts = line.Split(',');
            if (!header)
            {
                header = parts is ["system", "code"] ? true : throw new SitePolicyException($"{file}, line {lineNo}: the header must be system,code.");
                continue;
            }

            if (parts.Length != 2 || parts.Any(p => p.Trim().Length == 0))
            {
                throw new SitePolicyException($"{file}, line {lineNo}: expected system,code.");
            }

            rows.Add((parts[0].Trim(), parts[1].Trim()));
        }

        return rows.Count > 0 ? rows : throw new SitePolicyException($"{file}: lists no codes.");
    }

    /// <summary>SHA-256 over the sorted (category, system, code) triples: which custom lists flagged the data at ingest.</summary>
    public static string Fingerprint(IReadOnlyDictionary<string, IReadOnlyList<(string System, string Code)>> custom) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join('\n',
            custom.SelectMany(c => c.Value.Select(x => $"{c.Key}\t{x.System}\t{x.Code}")).Order(StringComparer.Ordinal)))));
}
