using Dapper;
using FederatedTwin.Coordinator.Storage;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Models;

/// <summary>The model registry: every model a study trained.</summary>
public sealed class IndexModel(CoordinatorStore store) : DashboardPageModel
{
    public override string Section => "models";

    public IReadOnlyList<(string Id, string Study, string Kind, string Outcome, string Created)> Models { get; private set; } = [];

    public void OnGet() => Models = store.Read(c =>
        c.Query<(string, string, string, string, string)>("SELECT model_id, study_id, kind, outcome, created_at FROM models ORDER BY created_at DESC, model_id").ToList());
}
