using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>A patient as the feature builder reads it: the de-identified demographics and the blob of its stored entries.</summary>
public readonly record struct PatientWithFactsRow(string Pseudonym, string? Sex, int? DeceasedYear, int? BirthYear, bool NinetyPlus, byte[] Data);

/// <summary>A patient alive at the start of a year, with its consent state for a purpose in that year (null: no Consent decides it).</summary>
public readonly record struct CensusRow(int? BirthYear, bool NinetyPlus, string? Sex, string? ConsentState);

/// <summary>
/// The de-identified data plane as the features and the census read it (patients, patient_facts, consent_states), always as of one
/// data version (<c>asOf</c>): a row is visible at version V when it was written at or before V (valid_from) and, for a row an ingest
/// replaced or deleted since (the *_superseded tables), not replaced until after V (valid_to). Each patient has at most one visible row
/// per table at any version, so the current table and its superseded rows are read side by side (UNION ALL), never merged.
/// </summary>
public static class FeatureQueries
{
    private const string Facts = """
        (SELECT pseudonym, data, last_year, sensitive, code_lists FROM patient_facts WHERE valid_from <= @asOf
         UNION ALL SELECT pseudonym, data, last_year, sensitive, code_lists FROM patient_facts_superseded WHERE valid_from <= @asOf AND valid_to > @asOf)
        """;

    private const string Patients = """
        (SELECT pseudonym, sex, deceased_year, birth_year, age_90_plus FROM patients WHERE valid_from <= @asOf
         UNION ALL SELECT pseudonym, sex, deceased_year, birth_year, age_90_plus FROM patients_superseded WHERE valid_from <= @asOf AND valid_to > @asOf)
        """;

    private const string Consents = """
        (SELECT pseudonym, purpose, year, state FROM consent_states WHERE valid_from <= @asOf
         UNION ALL SELECT pseudonym, purpose, year, state FROM consent_states_superseded WHERE valid_from <= @asOf AND valid_to > @asOf)
        """;

    /// <summary>The data version an ingest last published: what readers of the current data (and a study accepted now) see.</summary>
    public static long PublishedVersion(DbConnection c) => PublishedVersion(c, null);

    /// <inheritdoc cref="PublishedVersion(DbConnection)"/>
    public static long PublishedVersion(DbConnection c, DbTransaction? t) =>
        c.ExecuteScalar<long?>("SELECT value FROM store_meta WHERE key='data_version'", transaction: t) ?? 0;

    /// <summary>The last year with any fact.</summary>
    public static int? DataLastYear(DbConnection c, long asOf) => c.ExecuteScalar<int?>($"SELECT MAX(last_year) FROM {Facts}", new { asOf });

    /// <summary>
    /// Every patient with its facts, by pseudonym, streamed from an open reader (the connection stays the caller's). The four
    /// arms pair each side's current and superseded rows; SQLite merges them in pseudonym order (a compound ORDER BY), and the
    /// arms over superseded rows are driven from those (few) rows (CROSS JOIN fixes the loop order), so a store without any
    /// costs what the single join did.
    /// </summary>
    public static IEnumerable<PatientWithFactsRow> PatientsWithFacts(DbConnection c, long asOf)
    {
        ArgumentNullException.ThrowIfNull(c);
        using var command = c.CreateCommand();
        command.CommandText = """
            SELECT p.pseudonym, p.sex, p.deceased_year, p.birth_year, p.age_90_plus, f.data
            FROM patients p JOIN patient_facts f ON f.pseudonym = p.pseudonym WHERE p.valid_from <= $asOf AND f.valid_from <= $asOf
            UNION ALL
            SELECT p.pseudonym, p.sex, p.deceased_year, p.birth_year, p.age_90_plus, f.data
            FROM patient_facts_superseded f CROSS JOIN patients p ON p.pseudonym = f.pseudonym
            WHERE f.valid_from <= $asOf AND f.valid_to > $asOf AND p.valid_from <= $asOf
            UNION ALL
            SELECT p.pseudonym, p.sex, p.deceased_year, p.birth_year, p.age_90_plus, f.data
            FROM patients_superseded p CROSS JOIN patient_facts f ON f.pseudonym = p.pseudonym
            WHERE p.valid_from <= $asOf AND p.valid_to > $asOf AND f.valid_from <= $asOf
            UNION ALL
            SELECT p.pseudonym, p.sex, p.deceased_year, p.birth_year, p.age_90_plus, f.data
            FROM patients_superseded p CROSS JOIN patient_facts_superseded f ON f.pseudonym = p.pseudonym
            WHERE p.valid_from <= $asOf AND p.valid_to > $asOf AND f.valid_from <= $asOf AND f.valid_to > $asOf
            ORDER BY 1
            """;
        var parameter = command.CreateParameter();
        parameter.ParameterName = "$asOf";
        parameter.Value = asOf;
        command.Parameters.Add(parameter);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return new PatientWithFactsRow(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.GetInt64(4) != 0, (byte[])reader[5]);
        }
    }

    /// <summary>Every patient-year's consent state for a purpose.</summary>
    public static IEnumerable<(string Pseudonym, int Year, string State)> ConsentStates(DbConnection c, string purpose, long asOf) =>
        c.Query<(string pseudonym, int year, string state)>($"SELECT pseudonym, year, state FROM {Consents} WHERE purpose=@purpose", new { purpose, asOf });

    /// <summary>The entry blobs of patients some of whose entries may have been flagged under other custom code lists than <paramref name="tag"/>.</summary>
    public static IEnumerable<byte[]> FactsFlaggedUnlike(DbConnection c, string? tag, long asOf) =>
        c.Query<byte[]>($"SELECT data FROM {Facts} WHERE code_lists {SqliteSyntax.IsDistinctFrom} @tag", new { tag, asOf });

    /// <summary>Each patient's sensitive exclusion counts ("category=n;…"), for patients with any.</summary>
    public static IEnumerable<string> SensitiveCounts(DbConnection c, long asOf) => c.Query<string>($"SELECT sensitive FROM {Facts} WHERE sensitive IS NOT NULL", new { asOf });

    /// <summary>Patient-years whose consent state is deny, by purpose.</summary>
    public static Dictionary<string, long> ConsentDenials(DbConnection c, long asOf) =>
        c.Query<(string purpose, long n)>($"SELECT purpose, COUNT(*) FROM {Consents} WHERE state='deny' GROUP BY purpose", new { asOf }).ToDictionary(x => x.purpose, x => x.n);

    /// <summary>Pseudonyms of the patients whose death year is recorded and is at most <paramref name="year"/> (the patient twin scores the living only).</summary>
    public static HashSet<string> DeceasedBy(DbConnection c, int year, long asOf) =>
        c.Query<string>($"SELECT pseudonym FROM {Patients} WHERE deceased_year IS NOT NULL AND deceased_year <= @year", new { year, asOf }).ToHashSet(StringComparer.Ordinal);

    public static long PatientCount(DbConnection c, long asOf) => c.ExecuteScalar<long>($"SELECT COUNT(*) FROM {Patients}", new { asOf });

    /// <summary>The patients alive at the start of <paramref name="year"/>, with their consent state for <paramref name="purpose"/> that year.</summary>
    public static List<CensusRow> Census(DbConnection c, int year, string purpose, long asOf) =>
        c.Query<(int? birth_year, bool age_90_plus, string? sex, string? state)>($"""
            SELECT p.birth_year, p.age_90_plus, p.sex, (SELECT s.state FROM {Consents} s WHERE s.pseudonym = p.pseudonym AND s.year = @year AND s.purpose = @purpose) AS state
            FROM {Patients} p
            WHERE (p.deceased_year IS NULL OR p.deceased_year >= @year)
            """, new { year, purpose, asOf }).Select(r => new CensusRow(r.birth_year, r.age_90_plus, r.sex, r.state)).ToList();

    /// <summary>
    /// Releases the pins of studies that ended (<see cref="StudyQueries.ReleaseEndedSnapshots"/>) and deletes the superseded rows no
    /// unreleased pin can see (a pin at V sees a row valid from valid_from up to, not including, valid_to). Run when an ingest
    /// publishes a version and after a study's round.
    /// </summary>
    public static int CollectSuperseded(DbConnection c, DbTransaction t, string now)
    {
        StudyQueries.ReleaseEndedSnapshots(c, t, now);
        const string Unpinned = "NOT EXISTS (SELECT 1 FROM study_snapshots s WHERE s.released_at IS NULL AND s.data_version >= x.valid_from AND s.data_version < x.valid_to)";
        return c.Execute($"DELETE FROM patient_facts_superseded AS x WHERE {Unpinned}", transaction: t)
            + c.Execute($"DELETE FROM patients_superseded AS x WHERE {Unpinned}", transaction: t)
            + c.Execute($"DELETE FROM consent_states_superseded AS x WHERE {Unpinned}", transaction: t);
    }

    /// <summary>Rows kept for pinned versions (patient_facts, patients, consent_states), for the status and the tests.</summary>
    public static long SupersededRows(DbConnection c) => c.ExecuteScalar<long>(
        "SELECT (SELECT COUNT(*) FROM patient_facts_superseded) + (SELECT COUNT(*) FROM patients_superseded) + (SELECT COUNT(*) FROM consent_states_superseded)");
}
