using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>A node policy's zCDP budget for one purpose of use over one period.</summary>
public sealed record PrivacyBudget(PurposeOfUse Purpose, DateOnly PeriodStart, DateOnly PeriodEnd, ZcdpRho Limit);

/// <summary>One spend: which study and round spent what, when, under which purpose.</summary>
public sealed record LedgerEntry(string StudyId, int Round, PurposeOfUse Purpose, DateOnly Date, ZcdpRho Spent);

/// <summary>Outcome of checking a planned study against the budget; <see cref="Reason"/> says why.</summary>
public sealed record BudgetDecision(bool Accepted, string Reason, ZcdpRho PeriodSpent, ZcdpRho LifetimeSpent);

/// <summary>
/// Pure per-node ledger model: ρ composes additively (Bun and Steinke 2016), so the period spend is
/// the sum of entries for the purpose inside the period; the lifetime spend sums every entry.
/// Persistence belongs to the services.
/// </summary>
public sealed class PrivacyLedger
{
    private readonly List<LedgerEntry> entries = [];

    public IReadOnlyList<LedgerEntry> Entries => entries;

    public ZcdpRho LifetimeSpent() => ZcdpAccountant.Compose(entries.Select(e => e.Spent));

    public ZcdpRho PeriodSpent(PrivacyBudget budget)
    {
        ArgumentNullException.ThrowIfNull(budget);
        return ZcdpAccountant.Compose(entries
            .Where(e => e.Purpose == budget.Purpose && e.Date >= budget.PeriodStart && e.Date <= budget.PeriodEnd)
            .Select(e => e.Spent));
    }

    /// <summary>Refuses a study whose planned spend would exceed the period's remaining budget.</summary>
    public BudgetDecision Check(PrivacyBudget budget, string studyId, ZcdpRho planned, DateOnly date)
    {
        ArgumentNullException.ThrowIfNull(budget);
        var period = PeriodSpent(budget);
        var lifetime = LifetimeSpent();
        if (date < budget.PeriodStart || date > budget.PeriodEnd)
        {
            return new BudgetDecision(false, $"study {studyId}: date {date:O} is outside the budget period", period, lifetime);
        }

        double remaining = budget.Limit.Value - period.Value;
        if (planned.Value > remaining)
        {
            return new BudgetDecision(
                false,
                $"study {studyId}: planned rho {planned.Value:G6} exceeds remaining {remaining:G6} of {budget.Limit.Value:G6} for purpose '{budget.Purpose.Code}' (period spent {period.Value:G6}, lifetime {lifetime.Value:G6})",
                period,
                lifetime);
        }

        return new BudgetDecision(true, $"study {studyId}: accepted, remaining after {remaining - planned.Value:G6}", period, lifetime);
    }

    public void Record(LedgerEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        entries.Add(entry);
    }
}
