using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Studies;

/// <summary>One study, followed live: round, attempt and phase, which nodes accepted or refused (with the rule) or dropped, its result.</summary>
public sealed class DetailModel(CoordinatorStore store, RoundEngine engine, TimeProvider? clock = null) : DashboardPageModel
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public override string Section => "studies";

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = string.Empty;

    public StudyDetail Study { get; private set; } = null!;

    public StudySpec Spec { get; private set; } = null!;

    public IReadOnlyDictionary<string, string> NodeNames { get; private set; } = new Dictionary<string, string>();

    public IReadOnlyList<string> ModelIds { get; private set; } = [];

    public string State => Study.State;

    public bool Ended => StudyStates.TryParse(State, out var state) && state.HasEnded();

    public StudyAttemptDetail? LatestAttempt => Study.Attempts.Count == 0 ? null : Study.Attempts[^1];

    /// <summary>A federated sum's published table (null for a model's result, or before the study completes).</summary>
    public CountTableStudyResult? Census => Study.Result?.Value as CountTableStudyResult;

    public IActionResult OnGet() => Load() ? Page() : NotFound();

    /// <summary>The live region alone, for the page's script to swap in every few seconds.</summary>
    public IActionResult OnGetLive() => Load() ? Partial("_StudyLive", this) : NotFound();

    public async Task<IActionResult> OnPostCancelAsync()
    {
        if (!await Allowed(DashboardPolicies.Analyze))
        {
            return Forbid();
        }

        engine.Cancel(new StudyId(Id), _clock.GetUtcNow());
        return Redirect("/studies/" + Uri.EscapeDataString(Id));
    }

    /// <summary>The nodes of an attempt, by name.</summary>
    public IEnumerable<string> Names(IEnumerable<string> ids) => ids.Select(i => NodeNames.GetValueOrDefault(i, i));

    /// <summary>Nodes that were in an attempt but not in the next one of the same round: they dropped out.</summary>
    public IEnumerable<string> Dropped(int index)
    {
        var attempts = Study.Attempts;
        if (index + 1 >= attempts.Count || attempts[index].Round != attempts[index + 1].Round)
        {
            return [];
        }

        return Names(attempts[index].Participants).Except(Names(attempts[index + 1].Participants));
    }

    private bool Load()
    {
        if (StudyDetail.Read(store, Id) is not { } study)
        {
            return false;
        }

        Study = study;
        Spec = study.Spec.Value;
        NodeNames = store.Read(NodeQueries.Names);
        ModelIds = store.Read(c => RegistryQueries.IdsOfStudy(c, Id));
        return true;
    }
}
