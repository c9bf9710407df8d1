using Dapper;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Bulk;

namespace FederatedTwin.Node.Data.Tests.Sources;

/// <summary>
/// A token source test double: hands out fixed tokens (the next one after a refresh) and counts the calls. The SMART Backend
/// Services client is another component with its own tests; the Bulk client only consumes <see cref="IAccessTokenSource"/>.
/// </summary>
internal sealed class FixedTokens(params string[] tokens) : IAccessTokenSource
{
    private int _index;
    public int Calls;
    public int Refreshes;

    public ValueTask<string> GetAsync(bool refresh, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        if (refresh)
        {
            Interlocked.Increment(ref Refreshes);
            _index = Math.Min(_index + 1, tokens.Length - 1);
        }

        return ValueTask.FromResult(tokens[_index]);
    }
}

internal static class BulkTestSupport
{
    /// <summary>Short waits where the server sends no Retry-After (its Retry-After is honoured as sent).</summary>
    public static BulkClientOptions Fast { get; } = new() { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(500) };

    public static BulkPuller Puller(IAccessTokenSource tokens, BulkClientOptions? options = null) => new((_, _) => tokens, null, options ?? Fast);

    public static DataSource Source(BulkDataTestServer server, string name = "ehr", string? group = null, IReadOnlyList<string>? types = null) =>
        new(name, SourceKind.FhirBulk, server.FhirBase.AbsoluteUri, "ftwin-node", group, types);

    /// <summary>A server that wants bearer token "t-1".</summary>
    public static async Task<(BulkDataTestServer Server, FixedTokens Tokens)> SampleServer()
    {
        var server = await BulkDataTestServer.StartFromFolder(DataTestSupport.NdjsonSample);
        server.TokenValidator = t => t == "t-1";
        return (server, new FixedTokens("t-1"));
    }

    /// <summary>What the store holds: patients, stored entries (resources) and facts.</summary>
    public static (long Patients, long Entries, long Facts) Counts(NodeDirectory node) => node.Store.Read(c =>
        (c.ExecuteScalar<long>("SELECT COUNT(*) FROM patients"),
         c.ExecuteScalar<long>("SELECT COALESCE(SUM(entries), 0) FROM patient_facts"),
         c.ExecuteScalar<long>("SELECT COALESCE(SUM(facts), 0) FROM patient_facts")));

    public static List<(string Action, string Detail)> AuditEntries(NodeDirectory node, string prefix = "source_") =>
        node.Store.Read(c => c.Query<(string, string)>("SELECT action, detail FROM audit_log WHERE action LIKE @p ORDER BY seq", new { p = prefix + "%" }).ToList());

    public static long SampleLines(params string[] types) =>
        Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson")
            .Where(f => !Path.GetFileName(f).StartsWith("log.", StringComparison.Ordinal) && (types.Length == 0 || types.Contains(Path.GetFileName(f).Split('.')[0])))
            .Sum(f => File.ReadLines(f).Count(l => l.Length > 0));
}
