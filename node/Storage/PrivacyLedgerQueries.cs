using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>One charge to the privacy ledger as stored: a study's plan (<see cref="Study"/>) or a re-run's fresh draw.</summary>
public sealed record LedgerCharge(string Purpose, int Year, double Rho, long SitesPerPerson, bool Study);

/// <summary>One round's release as stored (privacy_rounds): ρ per hospital record and the k it was charged under.</summary>
public sealed record LedgerRound(string Study, int Round, string Purpose, int Year, double Rho, string Algorithm, string RecordedAt, int Draw, long SitesPerPerson);

/// <summary>The last noise draw kept for a round: its number, the request it answered, and the noised values (little-endian longs).</summary>
public sealed record KeptDraw(long Draw, string RequestSha256, byte[] NoisedValues);

/// <summary>A study's plan as charged (privacy_ledger), with its charge in the policy's unit now.</summary>
public sealed record LedgerStudyEntry(string StudyId, string Purpose, long Year, double Rho, long SitesPerPerson, double ChargedRho, string RecordedAt);

/// <summary>
/// The privacy ledger's tables: privacy_ledger (each accepted study's planned ρ, charged at acceptance) and privacy_rounds (each
/// release; draw &gt; 1 is a re-run's fresh noise, charged on top). Sums are in the ledger's unit for a group size k (@j):
/// ρ × max(k then, k now)² (group privacy; see node/Policy/PrivacyUnit.cs).
/// </summary>
public static class PrivacyLedgerQueries
{
    /// <summary>Every charge: each accepted study's planned ρ, and each re-run's fresh noise draw.</summary>
    private const string Charges = "SELECT purpose, year, rho, sites_per_person, 1 AS study FROM privacy_ledger UNION ALL SELECT purpose, year, rho, sites_per_person, 0 AS study FROM privacy_rounds WHERE draw > 1";

    /// <summary>An entry in the ledger's unit now (@j: the policy's k): ρ × max(k then, k now)².</summary>
    private static readonly string InUnit = $"rho * {SqliteSyntax.Greatest("sites_per_person", "@j")} * {SqliteSyntax.Greatest("sites_per_person", "@j")}";

    private static readonly string InsertRoundSql =
        $"{SqliteSyntax.InsertOrIgnore} privacy_rounds(study_id, round, draw, purpose, year, rho, sites_per_person, algorithm, request_sha256, noised_values, recorded_at) VALUES (@s, @r, @draw, @p, @year, @rho, @k, @alg, @d, @v, @now)";

    /// <summary>The ρ charged, in the unit of group size <paramref name="groupSize"/>, for a purpose (null: every purpose) in a year (null: every year).</summary>
    public static double Spent(DbConnection c, DbTransaction? t, int groupSize, string? purpose, int? year) =>
        c.ExecuteScalar<double?>($"SELECT SUM({InUnit}) FROM ({Charges}) WHERE (@purpose IS NULL OR purpose=@purpose) AND (@year IS NULL OR year=@year)", new { j = groupSize, purpose, year }, t) ?? 0;

    public static IReadOnlyList<LedgerCharge> AllCharges(DbConnection c) =>
        c.Query<(string purpose, int year, double rho, long sites_per_person, long study)>(Charges).Select(r => new LedgerCharge(r.purpose, r.year, r.rho, r.sites_per_person, r.study == 1)).ToList();

    /// <summary>The lifetime sum in the unit of group size <paramref name="groupSize"/> (null: nothing charged), and how many studies and re-draws it holds.</summary>
    public static (double? Spent, long Studies, long Redraws) Lifetime(DbConnection c, int groupSize) =>
        c.QuerySingle<(double? spent, long studies, long redraws)>($"SELECT SUM({InUnit}), COALESCE(SUM(study), 0), COALESCE(SUM(1 - study), 0) FROM ({Charges})", new { j = groupSize });

    /// <summary>The per-round entries, of one study or (null) all, in the order they were recorded.</summary>
    public static IReadOnlyList<LedgerRound> Rounds(DbConnection c, string? studyId) => c.Query<(string study_id, long round, string purpose, long year, double rho, string algorithm, string recorded_at, long draw, long sites_per_person)>(
            "SELECT study_id, round, purpose, year, rho, algorithm, recorded_at, draw, sites_per_person FROM privacy_rounds WHERE @s IS NULL OR study_id=@s ORDER BY recorded_at, round, draw", new { s = studyId })
        .Select(r => new LedgerRound(r.study_id, (int)r.round, r.purpose, (int)r.year, r.rho, r.algorithm, r.recorded_at, (int)r.draw, r.sites_per_person)).ToList();

    /// <summary>Each study's plan as charged, with its charge in the unit of group size <paramref name="groupSize"/>.</summary>
    public static IReadOnlyList<LedgerStudyEntry> Studies(DbConnection c, int groupSize) => c.Query<(string study_id, string purpose, long year, double rho, long sites_per_person, double charged_rho, string recorded_at)>(
            $"SELECT study_id, purpose, year, rho, sites_per_person, {InUnit} AS charged_rho, recorded_at FROM privacy_ledger ORDER BY recorded_at", new { j = groupSize })
        .Select(r => new LedgerStudyEntry(r.study_id, r.purpose, r.year, r.rho, r.sites_per_person, r.charged_rho, r.recorded_at)).ToList();

    /// <summary>Charges an accepted study's planned ρ (per hospital record) under group size <paramref name="groupSize"/>.</summary>
    public static int InsertStudyCharge(DbConnection c, DbTransaction t, string study, string purpose, int year, double rho, int groupSize, string now) =>
        c.Execute("INSERT INTO privacy_ledger(study_id, purpose, year, rho, sites_per_person, recorded_at) VALUES (@s, @p, @year, @rho, @k, @now)",
            new { s = study, p = purpose, year, rho, k = groupSize, now }, t);

    /// <summary>The ρ the study's other rounds spent on their first draws.</summary>
    public static double? OtherRoundsRho(DbConnection c, string study, int round) =>
        c.ExecuteScalar<double?>("SELECT SUM(rho) FROM privacy_rounds WHERE study_id=@s AND round<>@r AND draw=1", new { s = study, r = round });

    public static KeptDraw? LatestDraw(DbConnection c, string study, int round) =>
        c.QuerySingleOrDefault<(long draw, string request_sha256, byte[] noised_values)?>(
            "SELECT draw, request_sha256, noised_values FROM privacy_rounds WHERE study_id=@s AND round=@r ORDER BY draw DESC LIMIT 1", new { s = study, r = round }) is { } r
            ? new KeptDraw(r.draw, r.request_sha256, r.noised_values)
            : null;

    /// <summary>Records a round's noise draw; 0 when that draw was already recorded (its stored values are used).</summary>
    public static int InsertRound(DbConnection c, DbTransaction t, LedgerRound round, string requestSha256, byte[] noisedValues)
    {
        ArgumentNullException.ThrowIfNull(round);
        return c.Execute(InsertRoundSql, new
        {
            s = round.Study, r = round.Round, draw = round.Draw, p = round.Purpose, year = round.Year, rho = round.Rho, k = round.SitesPerPerson,
            alg = round.Algorithm, d = requestSha256, v = noisedValues, now = round.RecordedAt,
        }, t);
    }

    public static byte[] NoisedValues(DbConnection c, string study, int round, int draw) =>
        c.QuerySingle<byte[]>("SELECT noised_values FROM privacy_rounds WHERE study_id=@s AND round=@r AND draw=@draw", new { s = study, r = round, draw });
}
