using Dapper;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Privacy;

namespace FederatedTwin.Node.Policy;

/// <summary>One purpose's privacy spend: this calendar year against the policy's budget, and since the node began.</summary>
public sealed record PrivacySpend(string Purpose, int Year, double PeriodSpent, double? PeriodBudget, double LifetimeSpent, double LifetimeEpsilon, int Studies);

/// <summary>One round's spend: which study and round spent what, under which purpose, when; draw 2 and up are re-runs charged on top of the plan.</summary>
public sealed record RoundSpend(string StudyId, int Round, string Purpose, int Year, double Rho, string Algorithm, string RecordedAt, int Draw = 1);

/// <summary>
/// The node's privacy ledger read back (the privacy_ledger table: one entry per accepted study with the zCDP ρ
/// it declared, charged at acceptance). zCDP composes by addition (Bun &amp; Steinke 2016, Lemma 1.7); the
/// lifetime (ε, δ = 1e-6) uses Canonne, Kamath &amp; Steinke 2020's conversion.
/// </summary>
public static class PrivacyLedgerReport
{
    public const double Delta = 1e-6;

    /// <summary>
    /// The per-round entries (privacy_rounds): one per round in which this node released noisy statistics, with the ρ that
    /// round spent. Their sum per study is at most the study's planned ρ (the budget is checked, and charged, against the
    /// plan; a study that converges early or fails spends less than it reserved).
    /// </summary>
    public static IReadOnlyList<RoundSpend> Rounds(NodeStore store, string? studyId = null) => store.Read(c => c.Query<(string study_id, long round, string purpose, long year, double rho, string algorithm, string recorded_at, long draw)>(
            "SELECT study_id, round, purpose, year, rho, algorithm, recorded_at, draw FROM privacy_rounds WHERE @s IS NULL OR study_id=@s ORDER BY recorded_at, round, draw", new { s = studyId })
        .Select(r => new RoundSpend(r.study_id, (int)r.round, r.purpose, (int)r.year, r.rho, r.algorithm, r.recorded_at, (int)r.draw)).ToList());

    /// <summary>
    /// Every charge to the ledger: each accepted study's planned ρ (privacy_ledger, charged at acceptance) and each re-run's fresh
    /// noise draw (privacy_rounds with draw &gt; 1: a round released again over another set of hospitals, charged on top of the plan).
    /// </summary>
    private const string Charges = "SELECT purpose, year, rho, 1 AS study FROM privacy_ledger UNION ALL SELECT purpose, year, rho, 0 AS study FROM privacy_rounds WHERE draw > 1";

    /// <summary>The ρ charged for a purpose in a calendar year (null: every year), inside the caller's transaction.</summary>
    public static double SpentRho(Microsoft.Data.Sqlite.SqliteConnection connection, Microsoft.Data.Sqlite.SqliteTransaction? transaction, string purpose, int? year) =>
        connection.ExecuteScalar<double?>($"SELECT SUM(rho) FROM ({Charges}) WHERE purpose=@purpose AND (@year IS NULL OR year=@year)", new { purpose, year }, transaction) ?? 0;

    public static IReadOnlyList<PrivacySpend> Read(NodeStore store, SitePolicy policy, int year)
    {
        var rows = store.Read(c => c.Query<(string purpose, int year, double rho, long study)>(Charges).ToList());
        return rows.Select(r => r.purpose).Concat(policy.PrivacyBudgets.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(p =>
            {
                var mine = rows.Where(r => r.purpose == p).ToList();
                var lifetime = mine.Sum(r => r.rho);
                return new PrivacySpend(p, year, mine.Where(r => r.year == year).Sum(r => r.rho), policy.PrivacyBudgets.TryGetValue(p, out var b) ? b : null, lifetime,
                    lifetime > 0 ? ZcdpAccountant.EpsilonCanonneKamathSteinke(new ZcdpRho(lifetime), Delta) : 0, mine.Count(r => r.study == 1));
            })
            .ToList();
    }
}
