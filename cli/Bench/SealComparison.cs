namespace FederatedTwin.Cli.Bench;

/// <summary>Placeholder replaced below.</summary>
internal static class SealComparison
{
    public static Dictionary<string, object>? Run() => null;
}
