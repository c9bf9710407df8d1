namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>The badge style of a study state or attempt phase (colour always with the word: never colour alone).</summary>
public static class StudyBadges
{
    public static string For(string state) => state switch
    {
        "completed" or "done" => "ok",
        "failed" or "cancelled" or "superseded" => "bad",
        "running" or "key_commit" or "key_open" or "update_commit" or "update_open" or "decrypt" => "warn",
        _ => "muted",
    };
}
