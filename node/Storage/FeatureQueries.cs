using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>A patient as the feature builder reads it: the de-identified demographics and the blob of its stored entries.</summary>
public readonly record struct PatientWithFactsRow(string Pseudonym, string? Sex, int? DeceasedYear, int? BirthYear, bool NinetyPlus, byte[] Data);

/// <summary>A patient alive at the start of a year, with its consent state for a purpose in that year (null: no Consent decides it).</summary>
public readonly record struct CensusRow(int? BirthYear, bool NinetyPlus, string? Sex, string? ConsentState);

/// <summary>The de-identified data plane as the features and the census read it (patients, patient_facts, consent_states).</summary>
public static class FeatureQueries
{
    /// <summary>The last year with any fact.</summary>
    public static int? DataLastYear(DbConnection c) => c.ExecuteScalar<int?>("SELECT MAX(last_year) FROM patient_facts");

    /// <summary>Every patient with its facts, by pseudonym, streamed from an open reader (the connection stays the caller's).</summary>
    public static IEnumerable<PatientWithFactsRow> PatientsWithFacts(DbConnection c)
    {
        ArgumentNullException.ThrowIfNull(c);
        using var command = c.CreateCommand();
        command.CommandText = """
            SELECT p.pseudonym, p.sex, p.deceased_year, p.birth_year, p.age_90_plus, f.data
            FROM patients p JOIN patient_facts f ON f.pseudonym = p.pseudonym ORDER BY p.pseudonym
            """;
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return new PatientWithFactsRow(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.GetInt64(4) != 0, (byte[])reader[5]);
        }
    }

    /// <summary>Every patient-year's consent state for a purpose.</summary>
    public static IEnumerable<(string Pseudonym, int Year, string State)> ConsentStates(DbConnection c, string purpose) =>
        c.Query<(string pseudonym, int year, string state)>("SELECT pseudonym, year, state FROM consent_states WHERE purpose=@purpose", new { purpose });

    /// <summary>The entry blobs of patients some of whose entries may have been flagged under other custom code lists than <paramref name="tag"/>.</summary>
    public static IEnumerable<byte[]> FactsFlaggedUnlike(DbConnection c, string? tag) =>
        c.Query<byte[]>($"SELECT data FROM patient_facts WHERE code_lists {SqliteSyntax.IsDistinctFrom} @tag", new { tag });

    /// <summary>Each patient's sensitive exclusion counts ("category=n;…"), for patients with any.</summary>
    public static IEnumerable<string> SensitiveCounts(DbConnection c) => c.Query<string>("SELECT sensitive FROM patient_facts WHERE sensitive IS NOT NULL");

    /// <summary>Patient-years whose consent state is deny, by purpose.</summary>
    public static Dictionary<string, long> ConsentDenials(DbConnection c) =>
        c.Query<(string purpose, long n)>("SELECT purpose, COUNT(*) FROM consent_states WHERE state='deny' GROUP BY purpose").ToDictionary(x => x.purpose, x => x.n);

    public static long PatientCount(DbConnection c) => c.ExecuteScalar<long>("SELECT COUNT(*) FROM patients");

    /// <summary>The patients alive at the start of <paramref name="year"/>, with their consent state for <paramref name="purpose"/> that year.</summary>
    public static List<CensusRow> Census(DbConnection c, int year, string purpose) =>
        c.Query<(int? birth_year, bool age_90_plus, string? sex, string? state)>("""
            SELECT p.birth_year, p.age_90_plus, p.sex, s.state FROM patients p
            LEFT JOIN consent_states s ON s.pseudonym = p.pseudonym AND s.year = @year AND s.purpose = @purpose
            WHERE (p.deceased_year IS NULL OR p.deceased_year >= @year)
            """, new { year, purpose }).Select(r => new CensusRow(r.birth_year, r.age_90_plus, r.sex, r.state)).ToList();
}
