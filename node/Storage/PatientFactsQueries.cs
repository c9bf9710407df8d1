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

    /// <summary>
    /// The data version this merge writes under (<see cref="FeatureQueries.PublishedVersion"/> + 1): its rows are invisible to every
    /// reader until the merge publishes it. A row it replaces or deletes that an earlier version published is kept in the
    /// *_superseded tables (valid until this version), always, not only while a study pins it: a study accepted while a merge is
    /// under way (or after one was killed half-way) pins the published version, whose rows this merge may already have replaced.
    /// Rows no unreleased pin can see are deleted when the version is published (<see cref="FeatureQueries.CollectSuperseded"/>).
    /// </summary>
    public long Draft { get; set; } = 1;

    public void DeleteFacts(string pseudonym)
    {
        SupersedeFacts(pseudonym);
        _sql.Execute("DELETE FROM patient_facts WHERE pseudonym=?", pseudonym);
    }

    public void UpsertFacts(in PatientFactsRow row)
    {
        SupersedeFacts(row.Pseudonym);
        _sql.Execute("INSERT OR REPLACE INTO patient_facts(pseudonym, data, entries, facts, last_year, sensitive, code_lists, valid_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row.Pseudonym, row.Data, row.Entries, row.Facts, row.LastYear, row.Sensitive, row.CodeLists, Draft);
    }

    public void UpsertPatient(string pseudonym, in PatientDemographics patient)
    {
        _sql.Execute("""
            INSERT OR REPLACE INTO patients_superseded(pseudonym, valid_from, valid_to, sex, zip3, deceased_year, birth_year, age_90_plus)
            SELECT pseudonym, valid_from, ?, sex, zip3, deceased_year, birth_year, age_90_plus FROM patients WHERE pseudonym=? AND valid_from < ?
            """, Draft, pseudonym, Draft);
        _sql.Execute("INSERT OR REPLACE INTO patients(pseudonym, sex, zip3, deceased_year, birth_year, age_90_plus, valid_from) VALUES (?, ?, ?, ?, ?, ?, ?)",
            pseudonym, patient.Sex, patient.Zip3, patient.DeceasedYear, patient.BirthYear, patient.NinetyPlus ? 1 : 0, Draft);
    }

    /// <summary>A patient's demographics removed (its Patient resource was deleted at the source), kept for the versions before this merge's.</summary>
    public void DeletePatient(string pseudonym)
    {
        _sql.Execute("""
            INSERT OR REPLACE INTO patients_superseded(pseudonym, valid_from, valid_to, sex, zip3, deceased_year, birth_year, age_90_plus)
            SELECT pseudonym, valid_from, ?, sex, zip3, deceased_year, birth_year, age_90_plus FROM patients WHERE pseudonym=? AND valid_from < ?
            """, Draft, pseudonym, Draft);
        _sql.Execute("DELETE FROM patients WHERE pseudonym=?", pseudonym);
    }

    public void DeleteConsentStates(string pseudonym)
    {
        _sql.Execute("""
            INSERT OR REPLACE INTO consent_states_superseded(pseudonym, purpose, year, state, valid_from, valid_to)
            SELECT pseudonym, purpose, year, state, valid_from, ? FROM consent_states WHERE pseudonym=? AND valid_from < ?
            """, Draft, pseudonym, Draft);
        _sql.Execute("DELETE FROM consent_states WHERE pseudonym=?", pseudonym);
    }

    public void InsertConsentState(string pseudonym, string purpose, int year, string state) =>
        _sql.Execute("INSERT INTO consent_states(pseudonym, purpose, year, state, valid_from) VALUES (?, ?, ?, ?, ?)", pseudonym, purpose, year, state, Draft);

    /// <summary>A published row about to be replaced or deleted is kept for the versions before this merge's.</summary>
    private void SupersedeFacts(string pseudonym) => _sql.Execute("""
        INSERT OR REPLACE INTO patient_facts_superseded(pseudonym, valid_from, valid_to, data, entries, facts, last_year, sensitive, code_lists)
        SELECT pseudonym, valid_from, ?, data, entries, facts, last_year, sensitive, code_lists FROM patient_facts WHERE pseudonym=? AND valid_from < ?
        """, Draft, pseudonym, Draft);

    /// <summary>The data version readers see (0 before the first merge).</summary>
    public long Published() => _sql.Scalar("SELECT value FROM store_meta WHERE key='data_version'") as long? ?? 0;

    /// <summary>The version a merge killed before it published left its rows under (null: none), so the next merge completes and publishes it.</summary>
    public long? PendingDraft() => _sql.Scalar("SELECT value FROM store_meta WHERE key='data_draft'") as long?;

    /// <summary>Marks <see cref="Draft"/> as begun, in the merge's first transaction.</summary>
    public void BeginDraft() =>
        _sql.Execute("INSERT INTO store_meta(key, value) VALUES ('data_draft', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", Draft);

    /// <summary>Publishes <see cref="Draft"/>: from the commit on, readers of the current data see this merge's rows.</summary>
    public void Publish()
    {
        _sql.Execute("INSERT INTO store_meta(key, value) VALUES ('data_version', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", Draft);
        _sql.Execute("DELETE FROM store_meta WHERE key='data_draft'");
    }

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
