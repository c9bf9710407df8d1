using System.Net;
using FederatedTwin.Coordinator;
using FederatedTwin.Node;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// /health/ready runs a real query on the service's store (and, on a node, loads the identity the audit trail names):
/// Healthy while the store answers, Unhealthy once its file cannot be opened; /health/live does not depend on it.
/// </summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task A_nodes_readiness_fails_when_node_db_cannot_be_opened_and_recovers_when_it_is_back()
    {
        var dir = TestFederation.TempDir("ready-node");
        using (NodeDirectory.OpenOrInitialize(dir))
        {
        }

        var (app, url) = await NodeService.Start(dir);
        try
        {
            using var http = new HttpClient { BaseAddress = url };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);

            using (Unreadable(Path.Combine(dir, "node.db")))
            {
                var ready = await http.GetAsync("/health/ready");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                Assert.Equal("Unhealthy", await ready.Content.ReadAsStringAsync());
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
            }

            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_coordinators_readiness_fails_when_coordinator_db_cannot_be_opened()
    {
        var dir = TestFederation.TempDir("ready-coordinator");
        await using var app = CoordinatorHost.Build([], o => o.DataDir = dir);
        var health = app.Services.GetRequiredService<HealthCheckService>();
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(c => c.Tags.Contains("ready"))).Status);

        using (Unreadable(Path.Combine(dir, "coordinator.db")))
        {
            var report = await health.CheckHealthAsync(c => c.Tags.Contains("ready"));
            Assert.Equal(HealthStatus.Unhealthy, report.Status);
            Assert.Contains("coordinator is not ready", report.Entries["store"].Description, StringComparison.Ordinal);
        }

        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(c => c.Tags.Contains("ready"))).Status);
    }

    /// <summary>Moves a SQLite file (and its WAL) aside and puts a directory in its place until disposed.</summary>
    private static Restore Unreadable(string database)
    {
        // The service's own store connections are pooled (the test's never are: TestStore): an idle one would keep the moved file
        // open, and the readiness probe would still answer from it. Dropping the pools is what makes the service open the file anew.
        SqliteConnection.ClearAllPools();
        var files = new[] { database, database + "-wal", database + "-shm" }.Where(File.Exists).ToList();
        foreach (var file in files)
        {
            File.Move(file, file + ".aside");
        }

        Directory.CreateDirectory(database);
        return new Restore(database, files);
    }

    private sealed class Restore(string database, IReadOnlyList<string> files) : IDisposable
    {
        public void Dispose()
        {
            SqliteConnection.ClearAllPools(); // no pooled connection to the directory that stood in for the store outlives it
            Directory.Delete(database);
            foreach (var file in files)
            {
                File.Move(file + ".aside", file);
            }
        }
    }
}
