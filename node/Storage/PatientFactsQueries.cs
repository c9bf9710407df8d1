using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Storage;

/// <summary>A patient's row of patient_facts as the merge writes it.</summary>
internal readonly record struct PatientFactsRow(string Pseudonym, byte[] Data, int Entries, int Facts, int? LastYear, string? Sensitive, string? CodeLists);

/// <summary>A patient's demographics (the patients table, derived from the row's Patient entry).</summary>
internal readonly record struct PatientDemographics(string? Sex, string Zip3, int? DeceasedYear, int? BirthYear, bool NinetyPlus);

/// <summary>
/// The merge's SQL over one connection: the staging table, the one row per patient (patient_facts) and the tables
/// derived from it, the key filter's persisted state, and the WAL checkpoints. Every statement is prepared once and
/// reused for every patient (<see cref="Statements"/>): the merge writes a row per changed patient.
/// </summary>
internal sealed class PatientFactsQueries(SqliteConnection connection) : IDisposable
{
    private readonly Statements _sql = new(connection);

    /// <summary>The partitions with staged rows, in order.</summary>
    public IEnumerable<int> StagedPartitions() => _sql.Column("SELECT DISTINCT part FROM ingest_staging ORDER BY part").Select(p => (int)(long)p!);

    /// <summary>A partition's staged values, oldest first.</summary>
    public IEnumerable<byte[]> Staged(int part) => _sql.Column("SELECT data FROM ingest_staging WHERE part=? ORDER BY id", part).Select(d => (byte[])d!);

    public void DeleteStaged(int part) => _sql.Execute("DELETE FROM ingest_staging WHERE part=?", part);

    /// <summary>Whether no patient has a row yet (a first ingest).</summary>
    public bool NoFacts() => _sql.Scalar("SELECT EXISTS(SELECT 1 FROM patient_facts)") is 0L;

    /// <summary>A patient's (or an ownerless group's) entries, or null.</summary>
    public byte[]? Facts(string pseudonym) => _sql.Scalar("SELECT data FROM patient_facts WHERE pseudonym=?", pseudonym) as byte[];

    /// <summary>Every row, read before returning.</summary>
    public IEnumerable<(string Pseudonym, byte[] Data)> AllFacts() => _sql.Rows("SELECT pseudonym, data FROM patient_facts").Select(r => ((string)r[0]!, (byte[])r[1]!));

    /// <summary>Every row's entries, read before returning.</summary>
    public IEnumerable<byte[]> AllFactData() => _sql.Column("SELECT data FROM patient_facts").Select(d => (byte[])d!);

    /// <summary>The entries stored (the sum of the rows' counts).</summary>
    public long StoredEntries() => _sql.Scalar("SELECT COALESCE(SUM(entries), 0) FROM patient_facts") as long? ?? 0;

    public void DeleteFacts(string pseudonym) => _sql.Execute("DELETE FROM patient_facts WHERE pseudonym=?", pseudonym);

    public void UpsertFacts(in PatientFactsRow row) =>
        _sql.Execute("INSERT OR REPLACE INTO patient_facts(pseudonym, data, entries, facts, last_year, sensitive, code_lists) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row.Pseudonym, row.Data, row.Entries, row.Facts, row.LastYear, row.Sensitive, row.CodeLists);

    public void UpsertPatient(string pseudonym, in PatientDemographics patient) =>
        _sql.Execute("INSERT OR REPLACE INTO patients(pseudonym, sex, zip3, deceased_year, birth_year, age_90_plus) VALUES (?, ?, ?, ?, ?, ?)",
            pseudonym, patient.Sex, patient.Zip3, patient.DeceasedYear, patient.BirthYear, patient.NinetyPlus ? 1 : 0);

    public void DeleteConsentStates(string pseudonym) => _sql.Execute("DELETE FROM consent_states WHERE pseudonym=?", pseudonym);

    public void InsertConsentState(string pseudonym, string purpose, int year, string state) =>
        _sql.Execute("INSERT INTO consent_states(pseudonym, purpose, year, state) VALUES (?, ?, ?, ?)", pseudonym, purpose, year, state);

    /// <summary>The store's merge generation (0 before the first).</summary>
    public long Generation() => _sql.Scalar("SELECT value FROM store_meta WHERE key='generation'") as long? ?? 0;

    public void SetGeneration(long generation) =>
        _sql.Execute("INSERT INTO store_meta(key, value) VALUES ('generation', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", generation);

    /// <summary>The saved key filter and the generation it was saved at, or null.</summary>
    public (long Generation, byte[] Data)? SavedKeyFilter() =>
        _sql.Rows("SELECT value, data FROM store_meta WHERE key='key_filter_blocked'").FirstOrDefault() is [long generation, byte[] data] ? (generation, data) : null;

    public void SaveKeyFilter(long generation, byte[] data)
    {
        _sql.Execute("INSERT INTO store_meta(key, value, data) VALUES ('key_filter_blocked', ?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, data=excluded.data", generation, data);
        _sql.Execute("DELETE FROM store_meta WHERE key='key_filter'"); // the earlier, unblocked layout
    }

    /// <summary>WAL pages before the connection checkpoints by itself (0: never; another connection does it).</summary>
    public void SetWalAutocheckpoint(int pages) => _sql.Rows($"PRAGMA wal_autocheckpoint={pages}");

    /// <summary>Copies committed transactions from the WAL into the database without blocking writers (SQLite WAL, "Checkpointing").</summary>
    public void PassiveCheckpoint() => _sql.Rows("PRAGMA wal_checkpoint(PASSIVE)");

    public void Dispose() => _sql.Dispose();
}
