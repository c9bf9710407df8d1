using System.Text.Json.Nodes;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// The end of `ftwin demo` on the hospitals' side (issue 21): every node holds the models the demo released, fetched by its own
/// worker from the coordinator (signed, checked under its pinned key), and the patient and facility twins run on its own patients.
/// </summary>
internal static class DemoNodeTwins
{
    /// <summary>
    /// Waits until every node's registry has fetched the coordinator's current catalog (each node fetches it at its next poll after
    /// a study registers a model), so the twin commands run after the demo find every model it released.
    /// </summary>
    public static async Task WaitForModels(LocalFederation federation, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var admin = federation.Admin;
        var listing = (await admin.Send(HttpMethod.Get, "/v1/admin/models", cancellationToken: cancellationToken))!.AsArray();
        var digest = ModelCatalog.Digest(listing.Select(m => (m!["id"]!.ToString(), m["created_at"]!.ToString())));
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        foreach (var (name, dir, _) in federation.Nodes)
        {
            while (true)
            {
                var store = new NodeStore(dir);
                if (store.Read(ModelQueries.CatalogDigest) == digest)
                {
                    break;
                }

                if (TimeProvider.System.GetUtcNow() > deadline)
                {
                    throw new TimeoutException($"{name} did not fetch the coordinator's model catalog within {timeout.TotalSeconds:F0} s (see its log).");
                }

                await Task.Delay(200, cancellationToken);
            }
        }
    }
}
