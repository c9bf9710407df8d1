using FederatedTwin.Cli.Demo;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Synthetic;

namespace FederatedTwin.Federation.Tests;

/// <summary>Three node processes (site-a, site-b, site-c) and a coordinator on loopback, each site holding its own generated population.</summary>
internal static class SyntheticSites
{
    /// <summary>
    /// Starts the federation once every site has ingested its own `ftwin synth` export: <paramref name="patients"/>(i) patients at
    /// site i, from the synthetic profiles in turn and generator seed <paramref name="firstSeed"/> + i.
    /// </summary>
    /// <param name="postgres">The coordinator's PostgreSQL database (null: coordinator.db).</param>
    public static Task<LocalFederation> Start(string name, Func<int, int> patients, ulong firstSeed, string? postgres = null) =>
        LocalFederation.Start(TestFederation.TempDir(name), ["site-a", "site-b", "site-c"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None, (i, node) =>
        {
            var export = TestFederation.TempDir(name + "-export");
            PopulationGenerator.Generate(patients(i), SyntheticProfile.All[i % SyntheticProfile.All.Count], firstSeed + (ulong)i, export);
            new IngestPipeline(node).Run(export);
        }, postgres: postgres);
}
