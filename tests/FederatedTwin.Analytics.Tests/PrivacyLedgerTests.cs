using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

public class PrivacyLedgerTests
{
    private static readonly PurposeOfUse Research = new("HRESCH");
    private static readonly PrivacyBudget Budget = new(Research, new DateOnly(2026, 1, 1), new DateOnly(2026, 12, 31), new ZcdpRho(1.0));

    [Fact]
    public void StudyOverBudgetIsRefusedWithReason()
    {
        var ledger = new PrivacyLedger();
        ledger.Record(new LedgerEntry("s1", 1, Research, new DateOnly(2026, 3, 1), new ZcdpRho(0.7)));
        ledger.Record(new LedgerEntry("old", 1, Research, new DateOnly(2025, 3, 1), new ZcdpRho(5)));
        var ok = ledger.Check(Budget, "s2", new ZcdpRho(0.3), new DateOnly(2026, 4, 1));
        Assert.True(ok.Accepted);
        var refused = ledger.Check(Budget, "s3", new ZcdpRho(0.31), new DateOnly(2026, 4, 1));
        Assert.False(refused.Accepted);
        Assert.Contains("exceeds remaining", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(0.7, refused.PeriodSpent.Value, 12);
        Assert.Equal(5.7, refused.LifetimeSpent.Value, 12);
    }

    [Fact]
    public void OtherPurposesDoNotConsumeThisBudget()
    {
        var ledger = new PrivacyLedger();
        ledger.Record(new LedgerEntry("s1", 1, new PurposeOfUse("HOPERAT"), new DateOnly(2026, 3, 1), new ZcdpRho(0.9)));
        Assert.True(ledger.Check(Budget, "s2", new ZcdpRho(1.0), new DateOnly(2026, 4, 1)).Accepted);
    }
}
