using FederatedTwin.Node.Storage;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Policy;

/// <summary>One purpose's privacy spend, in the ledger's unit: this calendar year against the policy's budget, and since the node began.</summary>
public sealed record PrivacySpend(string Purpose, int Year, double PeriodSpent, double? PeriodBudget, double LifetimeSpent, double LifetimeEpsilon, int Studies);

/// <summary>What the ledger holds before a charge, in its unit: the purpose's spend this calendar year, and every purpose's over the node's life.</summary>
public sealed record SpentSoFar(double PurposeThisYear, double Lifetime);

/// <summary>A charge to the ledger: a release's zCDP ρ per hospital record, and what it costs in the ledger's unit (k²ρ).</summary>
public sealed record PrivacyCharge(double Rho, PrivacyUnit Unit)
{
    public double Charged => Unit.Charge(Rho);
}

/// <summary>The node's spend over its whole life, all purposes and years, against the policy's lifetime budget, in the ledger's unit.</summary>
/// <param name="Unit">Whom the figures protect (the policy's max_sites_per_person).</param>
/// <param name="Spent">Every charge: each accepted study's plan and each re-run's fresh draw.</param>
/// <param name="Budget">The policy's lifetime_privacy_budget; null when it sets none (then no study that adds noise is joined).</param>
/// <param name="Studies">Accepted studies charged.</param>
/// <param name="Redraws">Re-run noise draws charged on top of their studies' plans.</param>
public sealed record LifetimeSpend(PrivacyUnit Unit, double Spent, LifetimePrivacyBudget? Budget, int Studies, int Redraws)
{
    /// <summary>The δ the spend is shown at: the budget's (its own δ when stated as (ε, δ)), else 10⁻⁶.</summary>
    public double Delta => Budget?.Delta ?? PrivacyLedgerReport.Delta;

    /// <summary>The spend's ε at <see cref="Delta"/> (Canonne, Kamath &amp; Steinke 2020).</summary>
    public double Epsilon => Spent > 0 ? ZcdpAccountant.EpsilonCanonneKamathSteinke(new ZcdpRho(Spent), Delta) : 0;

    /// <summary>What the budget has left; null without a budget.</summary>
    public double? Remaining => Budget is { } b ? Math.Max(0, b.Rho - Spent) : null;
}

/// <summary>One round's spend: which study and round released what, under which purpose, when; draw 2 and up are re-runs charged on top of the plan.</summary>
/// <param name="Rho">The release's zCDP ρ per hospital record (the study's charge over its planned rounds).</param>
/// <param name="SitesPerPerson">The policy's max_sites_per_person when the round was recorded (1: none).</param>
/// <param name="Spent">The release in the ledger's unit: ρ × k², k the larger of <paramref name="SitesPerPerson"/> and the policy's now.</param>
public sealed record RoundSpend(string StudyId, int Round, string Purpose, int Year, double Rho, string Algorithm, string RecordedAt, int Draw = 1, int SitesPerPerson = 1, double Spent = 0);

/// <summary>
/// The node's privacy ledger read back: privacy_ledger (one entry per accepted study with the zCDP ρ per hospital record it
/// declared, charged at acceptance) and privacy_rounds (each release; a re-run's fresh draw, draw &gt; 1, is charged on top).
/// zCDP composes by addition (Bun &amp; Steinke 2016, Lemma 1.7); (ε, δ) uses Canonne, Kamath &amp; Steinke 2020's conversion.
/// <para>
/// Every entry keeps the k (max_sites_per_person, 1 for none) it was charged under, and is counted at k² ρ with k the larger of
/// that and the policy's k now (<see cref="PrivacyUnit"/>): a charge is never lowered by a later policy, and raising k re-states
/// every earlier charge, since the releases were about the same people. The spend shown is so always an upper bound in the unit
/// the policy states now.
/// </para>
/// </summary>
public static class PrivacyLedgerReport
{
    public const double Delta = 1e-6;

    /// <summary>δ as reports print it: 10⁻⁶ for a power of ten, else its value.</summary>
    public static string DeltaText(double delta)
    {
        var exponent = Math.Round(Math.Log10(delta));
        return exponent < 0 && Math.Abs(Math.Pow(10, exponent) - delta) <= 1e-12 * delta
            ? "10⁻" + string.Concat(((int)-exponent).ToString(System.Globalization.CultureInfo.InvariantCulture).Select(d => "⁰¹²³⁴⁵⁶⁷⁸⁹"[d - '0']))
            : delta.ToString("G3", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static double InUnitOf(double rho, long sitesThen, PrivacyUnit unit) => rho * Math.Pow(Math.Max(sitesThen, unit.GroupSize), 2);

    /// <summary>
    /// The per-round entries (privacy_rounds): one per release of noisy statistics, with the ρ per hospital record it spent and the
    /// same in the ledger's unit. Their sum per study is at most the study's planned ρ (the budget is checked, and charged, against
    /// the plan; a study that converges early or fails spends less than it reserved).
    /// </summary>
    public static IReadOnlyList<RoundSpend> Rounds(NodeStore store, string? studyId = null, PrivacyUnit unit = default) => store.Read(c => PrivacyLedgerQueries.Rounds(c, studyId)
        .Select(r => new RoundSpend(r.Study, r.Round, r.Purpose, r.Year, r.Rho, r.Algorithm, r.RecordedAt, r.Draw, (int)r.SitesPerPerson, InUnitOf(r.Rho, r.SitesPerPerson, unit))).ToList());

    /// <summary>The ρ charged, in the ledger's unit, for a purpose (null: every purpose) in a calendar year (null: every year), inside the caller's transaction.</summary>
    public static double Spent(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, PrivacyUnit unit, string? purpose, int? year) =>
        PrivacyLedgerQueries.Spent(connection, transaction, unit.GroupSize, purpose, year);

    /// <summary>What a charge for <paramref name="purpose"/> this <paramref name="year"/> is checked against: the purpose's yearly spend and the lifetime spend.</summary>
    public static SpentSoFar SpentBefore(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, PrivacyUnit unit, string purpose, int year) =>
        new(Spent(connection, transaction, unit, purpose, year), Spent(connection, transaction, unit, null, null));

    public static IReadOnlyList<PrivacySpend> Read(NodeStore store, SitePolicy policy, int year)
    {
        var rows = store.Read(PrivacyLedgerQueries.AllCharges);
        return rows.Select(r => r.Purpose).Concat(policy.PrivacyBudgets.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(p =>
            {
                var mine = rows.Where(r => r.Purpose == p).ToList();
                var lifetime = mine.Sum(r => InUnitOf(r.Rho, r.SitesPerPerson, policy.PrivacyUnit));
                return new PrivacySpend(p, year, mine.Where(r => r.Year == year).Sum(r => InUnitOf(r.Rho, r.SitesPerPerson, policy.PrivacyUnit)), policy.PrivacyBudgets.TryGetValue(p, out var b) ? b : null, lifetime,
                    lifetime > 0 ? ZcdpAccountant.EpsilonCanonneKamathSteinke(new ZcdpRho(lifetime), Delta) : 0, mine.Count(r => r.Study));
            })
            .ToList();
    }

    /// <summary>The node's lifetime spend, all purposes and years, against the policy's lifetime budget.</summary>
    public static LifetimeSpend Lifetime(NodeStore store, SitePolicy policy)
    {
        var (spent, studies, redraws) = store.Read(c => PrivacyLedgerQueries.Lifetime(c, policy.PrivacyUnit.GroupSize));
        return new LifetimeSpend(policy.PrivacyUnit, spent ?? 0, policy.LifetimeBudget, (int)studies, (int)redraws);
    }
}
