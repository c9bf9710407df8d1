using System.Text;
using FederatedTwin.Cli.Demo;

namespace FederatedTwin.Federation.Tests.Postgres;

/// <summary>
/// `ftwin coordinator run --store postgres` as a real process with three real node processes on loopback: a federated sum completes
/// with exactly the sum of the sites' inputs, the database holds no site's vector in the clear (pg_dump of it, as an operator's
/// backup would hold it), and a coordinator restarted on the same database serves the study as it ended.
/// </summary>
[Trait("Category", "Postgres")]
[Collection(SerialProcesses.Name)]
public sealed class CensusOnPostgresTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task A_federated_sum_on_postgres_is_exact_keeps_no_site_vector_and_survives_a_restart()
    {
        var database = postgres.NewDatabase();
        using var federation = await TestFederation.Start("census-pg", postgres: database);
        await federation.CreateStudy(TestFederation.StudyYaml("census"), CancellationToken.None);
        var study = await federation.WaitForStudy("census", TimeSpan.FromSeconds(90), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}; attempts {study["attempts"]?.ToJsonString()}");
        var expected = TestFederation.Sum(federation.Nodes.Select(n => TestFederation.SiteVector(n.Dir)));
        Assert.Equal(expected, TestFederation.Sums(study));
        Assert.False(File.Exists(Path.Combine(federation.CoordinatorDir, "coordinator.db"))); // the state went to PostgreSQL

        var dump = postgres.Dump(database);
        Assert.True(dump.AsSpan().IndexOf(Encoding.UTF8.GetBytes("[" + string.Join(",", expected) + "]")) >= 0); // the scan finds what it looks for
        foreach (var (_, dir, _) in federation.Nodes)
        {
            var vector = TestFederation.SiteVector(dir);
            Assert.True(dump.AsSpan().IndexOf(Encoding.UTF8.GetBytes("[" + string.Join(",", vector) + "]")) < 0, "a site's vector appears in the database as JSON");
            var asHex = Encoding.ASCII.GetBytes(Convert.ToHexStringLower([.. vector.SelectMany(BitConverter.GetBytes)]));
            Assert.True(dump.AsSpan().IndexOf(asHex) < 0, "a site's vector appears in the database as int64s (bytea hex)");
        }

        federation.KillCoordinator();
        await federation.StartCoordinator(CancellationToken.None);
        var again = await federation.WaitForStudy("census", TimeSpan.FromSeconds(30), null, CancellationToken.None);
        Assert.Equal("completed", again["state"]?.ToString());
        Assert.Equal(expected, TestFederation.Sums(again));
    }
}
