using FederatedTwin.Coordinator.Orchestration;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>The badge style of a study state or attempt phase (colour always with the word: never colour alone).</summary>
public static class StudyBadges
{
    public static string For(string state) =>
        StudyStates.TryParse(state, out var study) ? study switch
        {
            StudyState.Completed => "ok",
            StudyState.Failed or StudyState.Cancelled => "bad",
            StudyState.Running => "warn",
            _ => "muted",
        }
        : AttemptPhases.TryParse(state, out var phase) ? phase switch
        {
            AttemptPhase.Done => "ok",
            AttemptPhase.Superseded => "bad",
            _ => "warn",
        }
        : "muted";
}
