using FederatedTwin.Coordinator.Storage;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Models;

/// <summary>The model registry: every model a study trained.</summary>
public sealed class IndexModel(CoordinatorStore store) : DashboardPageModel
{
    public override string Section => "models";

    public IReadOnlyList<(string Id, string Study, string Kind, string Outcome, string Created)> Models { get; private set; } = [];

    public void OnGet() => Models = store.Read(c =>
        RegistryQueries.Listings(c, newestFirst: true).Select(m => (m.model_id, m.study_id, m.kind, m.outcome, m.created_at)).ToList());
}
