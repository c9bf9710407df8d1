using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The clock an in-process test moves instead of sleeping: a <see cref="FakeTimeProvider"/> handed to every component under test
/// that reads time (the node's store, audit trail, study decisions and rounds; the coordinator's services).
/// </summary>
internal static class TestClock
{
    /// <summary>A fixed instant mid-year, so that nothing charged "this year" depends on the day the suite runs.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 6, 15, 9, 0, 0, TimeSpan.Zero);

    public static FakeTimeProvider Start() => new(Epoch);
}
