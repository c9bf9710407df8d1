using Dapper;
using FederatedTwin.Hosting.Storage;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Storage;

/// <summary>
/// The node's SQLite store (node.db): enrollment, decisions, and every attempt's sealed key share,
/// submission and decryption share, so a node killed mid-round resumes without issuing a second,
/// different contribution to the same attempt; and the audit trail (audit_log, audit_checkpoints).
/// </summary>
public sealed class NodeStore : SqliteStore
{
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE enrollment(id INTEGER PRIMARY KEY CHECK (id = 1), node_id TEXT NOT NULL, coordinator_url TEXT NOT NULL,
            coordinator_public_key TEXT NOT NULL, enrolled_at TEXT NOT NULL);
        CREATE TABLE decisions(study_id TEXT PRIMARY KEY, accept INTEGER NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL,
            purpose_of_use TEXT NOT NULL, algorithm TEXT NOT NULL, decided_at TEXT NOT NULL, reported_at TEXT NULL);
        CREATE TABLE attempt_keys(study_id TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, sealed_secret BLOB NOT NULL,
            key_share BLOB NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY(study_id, round, attempt));
        CREATE TABLE submissions(study_id TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, ciphertext BLOB NOT NULL,
            digest TEXT NOT NULL, value_count INTEGER NOT NULL, submitted_at TEXT NOT NULL, PRIMARY KEY(study_id, round, attempt));
        CREATE TABLE decryption_shares(study_id TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, aggregate_digest TEXT NOT NULL,
            share BLOB NOT NULL, issued_at TEXT NOT NULL, PRIMARY KEY(study_id, round, attempt));
        CREATE TABLE attempt_watermarks(study_id TEXT NOT NULL, round INTEGER NOT NULL, highest_attempt INTEGER NOT NULL, PRIMARY KEY(study_id, round));
        CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL, study_id TEXT NULL, detail TEXT NOT NULL);
        """,
        // The data plane (docs/privacy.md): everything here is de-identified at the door. Patients and
        // resources are keyed by HMAC pseudonyms; dates are years; sources are content hashes.
        """
        CREATE TABLE ingest_runs(run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT NULL,
            lines_read INTEGER NOT NULL DEFAULT 0, accepted INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0, per_type_json TEXT NULL, seconds REAL NULL);
        CREATE TABLE resources(resource_key TEXT PRIMARY KEY, type TEXT NOT NULL, pseudonym TEXT NULL, content_hash TEXT NOT NULL);
        CREATE TABLE quarantine(source_hash TEXT NOT NULL, line_no INTEGER NOT NULL, byte_offset INTEGER NOT NULL, line_hmac TEXT NOT NULL,
            reason_code TEXT NOT NULL, reason TEXT NOT NULL, quarantined_at TEXT NOT NULL, PRIMARY KEY(source_hash, line_no));
        CREATE TABLE patients(pseudonym TEXT PRIMARY KEY, sex TEXT NULL, zip3 TEXT NOT NULL, deceased_year INTEGER NULL);
        CREATE TABLE patient_ages(pseudonym TEXT NOT NULL, year INTEGER NOT NULL, age INTEGER NOT NULL, PRIMARY KEY(pseudonym, year));
        CREATE TABLE facts(resource_key TEXT NOT NULL, seq INTEGER NOT NULL, pseudonym TEXT NOT NULL, year INTEGER NOT NULL, kind TEXT NOT NULL,
            category TEXT NULL, value REAL NOT NULL, sensitive TEXT NULL, PRIMARY KEY(resource_key, seq));
        CREATE INDEX facts_by_patient ON facts(pseudonym);
        CREATE TABLE consents(resource_key TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, status TEXT NOT NULL, scope TEXT NULL, year INTEGER NULL, rules_json TEXT NOT NULL);
        CREATE TABLE consent_states(pseudonym TEXT NOT NULL, purpose TEXT NOT NULL, year INTEGER NOT NULL, state TEXT NOT NULL, PRIMARY KEY(pseudonym, purpose, year));
        CREATE TABLE dirty_patients(pseudonym TEXT PRIMARY KEY);
        """,
        // Data plane v2: ages as a birth year or a 90+ flag (no per-year rows that would reveal the birth
        // year of a patient now over 89), facts clustered by patient, resources without a rowid. The old
        // tables are dropped: a node on v2 re-runs its ingest (operations.md), nothing else is lost.
        """
        DROP TABLE patient_ages;
        DROP TABLE facts;
        DROP TABLE resources;
        DELETE FROM patients;
        DELETE FROM consents;
        DELETE FROM consent_states;
        DELETE FROM dirty_patients;
        ALTER TABLE patients ADD COLUMN birth_year INTEGER NULL;
        ALTER TABLE patients ADD COLUMN age_90_plus INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE resources(resource_key TEXT PRIMARY KEY, type TEXT NOT NULL, pseudonym TEXT NULL, content_hash TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE facts(pseudonym TEXT NOT NULL, resource_key TEXT NOT NULL, seq INTEGER NOT NULL, year INTEGER NOT NULL, kind TEXT NOT NULL,
            category TEXT NULL, value REAL NOT NULL, sensitive TEXT NULL, PRIMARY KEY(pseudonym, resource_key, seq)) WITHOUT ROWID;
        """,
        // The privacy ledger: the zCDP rho each accepted study spends, per purpose and calendar year; and the
        // study as offered, next to the decision, so the node can show exactly what it gave to it.
        """
        CREATE TABLE privacy_ledger(study_id TEXT PRIMARY KEY, purpose TEXT NOT NULL, year INTEGER NOT NULL, rho REAL NOT NULL, recorded_at TEXT NOT NULL);
        ALTER TABLE decisions ADD COLUMN spec_json TEXT NULL;
        """,
        // The tamper-evident audit trail (protocol/Audit, docs/operations.md): append-only, hash-chained,
        // with signed checkpoints. Kept beside `events`, which other code reads and which stays as it is.
        FederatedTwin.Protocol.Audit.AuditLog.Schema,
        // Per-round privacy spend: which study and round spent what (privacy_ledger keeps the study's planned ρ, charged
        // at acceptance). The noised vector is kept so that a retried attempt of the round re-sends the same noisy values
        // rather than drawing fresh noise, which would spend the round's ρ again.
        """
        CREATE TABLE privacy_rounds(study_id TEXT NOT NULL, round INTEGER NOT NULL, purpose TEXT NOT NULL, year INTEGER NOT NULL, rho REAL NOT NULL,
            algorithm TEXT NOT NULL, request_sha256 TEXT NOT NULL, noised_values BLOB NOT NULL, recorded_at TEXT NOT NULL, PRIMARY KEY(study_id, round));
        """,
        // Data plane v3 (docs/architecture.md): one row per patient holding all of its de-identified
        // resources, merged at the end of each ingest from per-batch staging rows, instead of a row per
        // resource and fact. The derived tables are cleared with the old ones: re-run the ingest once
        // (docs/operations.md); studies, ledger and audit are kept.
        """
        DROP TABLE facts;
        DROP TABLE resources;
        DROP TABLE dirty_patients;
        DROP TABLE consents;
        DELETE FROM patients;
        DELETE FROM consent_states;
        CREATE TABLE patient_facts(pseudonym TEXT PRIMARY KEY, data BLOB NOT NULL, entries INTEGER NOT NULL, facts INTEGER NOT NULL,
            last_year INTEGER NULL, sensitive TEXT NULL, code_lists TEXT NULL);
        CREATE TABLE ingest_staging(id INTEGER PRIMARY KEY AUTOINCREMENT, part INTEGER NOT NULL, data BLOB NOT NULL);
        CREATE INDEX ingest_staging_by_part ON ingest_staging(part, id);
        CREATE TABLE store_meta(key TEXT PRIMARY KEY, value INTEGER NULL, data BLOB NULL);
        """,
        // The node's identity key is the one its audit trail's last identity_key_rotated entry names, looked up for
        // every signature (node/Identity/NodeIdentityKeys.cs); the latest entry of an action is also how the policy in
        // force and the enrollment's state are read. An index, so none of these scans the whole trail.
        """
        CREATE INDEX audit_log_by_action ON audit_log(action, seq);
        """,
        // Federation protocol v2 (docs/protocol.md, docs/threat-model.md): the federation roster this node pinned (each version,
        // the document as approved, and who approved it), refused roster documents (audited once each), the commitment sets it
        // saw (one per attempt and kind: a second, different one is refused), the attempt's CRP seed as this node first saw it,
        // and what every submission and decryption share was made over (the digest of the plaintext values and the set of
        // submitters), so the node can refuse to help decrypt the same values over another set. A round may release more than one
        // noise draw (a re-run after a share was issued draws afresh and is charged again): privacy_rounds gains a draw number.
        """
        CREATE TABLE rosters(version INTEGER PRIMARY KEY, federation TEXT NOT NULL, sha256 TEXT NOT NULL, document BLOB NOT NULL,
            approved_by TEXT NOT NULL, pinned_at TEXT NOT NULL);
        CREATE TABLE roster_refusals(sha256 TEXT PRIMARY KEY, version INTEGER NULL, rule TEXT NOT NULL, refused_at TEXT NOT NULL);
        CREATE TABLE commitment_sets(study_id TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, kind TEXT NOT NULL,
            digest TEXT NOT NULL, keys_json TEXT NOT NULL, seen_at TEXT NOT NULL, PRIMARY KEY(study_id, round, attempt, kind));
        ALTER TABLE attempt_keys ADD COLUMN crp_seed BLOB NULL;
        ALTER TABLE submissions ADD COLUMN values_sha256 TEXT NULL;
        ALTER TABLE submissions ADD COLUMN draw INTEGER NULL;
        ALTER TABLE decryption_shares ADD COLUMN submitters_json TEXT NULL;
        ALTER TABLE decryption_shares ADD COLUMN submitters_sha256 TEXT NULL;
        ALTER TABLE decryption_shares ADD COLUMN values_sha256 TEXT NULL;
        ALTER TABLE decryption_shares ADD COLUMN update_set_digest TEXT NULL;
        CREATE TABLE privacy_rounds_v2(study_id TEXT NOT NULL, round INTEGER NOT NULL, draw INTEGER NOT NULL, purpose TEXT NOT NULL, year INTEGER NOT NULL,
            rho REAL NOT NULL, algorithm TEXT NOT NULL, request_sha256 TEXT NOT NULL, noised_values BLOB NOT NULL, recorded_at TEXT NOT NULL,
            PRIMARY KEY(study_id, round, draw));
        INSERT INTO privacy_rounds_v2(study_id, round, draw, purpose, year, rho, algorithm, request_sha256, noised_values, recorded_at)
            SELECT study_id, round, 1, purpose, year, rho, algorithm, request_sha256, noised_values, recorded_at FROM privacy_rounds;
        DROP TABLE privacy_rounds;
        ALTER TABLE privacy_rounds_v2 RENAME TO privacy_rounds;
        """,
        // The privacy unit (docs/privacy.md): each charge keeps the site policy's max_sites_per_person k it was made under, since
        // a release costs k² times its ρ per hospital record for a person treated at k hospitals (group privacy). Entries from
        // before were charged per hospital record: k = 1.
        """
        ALTER TABLE privacy_ledger ADD COLUMN sites_per_person INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE privacy_rounds ADD COLUMN sites_per_person INTEGER NOT NULL DEFAULT 1;
        """,
        // The release ledger (node/Federation/ReleaseLedger.cs, docs/threat-model.md "Differencing"): decryption_shares, the record of every
        // release and the set of submitters it was over, also says what an exact study released (its statistics and cohorts) and over which
        // member hospitals (roster names, stable across key rotations), so that an exact repeat of a statistic over another set of hospitals,
        // in any later study, is refused. Shares issued before carry neither and take part only in the within-study check.
        """
        ALTER TABLE decryption_shares ADD COLUMN hospitals_json TEXT NULL;
        ALTER TABLE decryption_shares ADD COLUMN statistics_json TEXT NULL;
        ALTER TABLE decryption_shares ADD COLUMN exact INTEGER NULL;
        """,
        // Studies on a snapshot (docs/architecture.md, "Snapshots"): every ingest merge writes under one data version, published
        // (store_meta 'data_version') when the merge is complete; a study pins the published version when the node accepts it
        // (study_snapshots) and every round reads the patients, their facts and consent states as of it. A row an ingest replaces
        // or deletes is kept in a *_superseded table with the version it stopped at, until no unreleased pin can see it.
        """
        ALTER TABLE patient_facts ADD COLUMN valid_from INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE patients ADD COLUMN valid_from INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE consent_states ADD COLUMN valid_from INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE patient_facts_superseded(pseudonym TEXT NOT NULL, valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL, data BLOB NOT NULL,
            entries INTEGER NOT NULL, facts INTEGER NOT NULL, last_year INTEGER NULL, sensitive TEXT NULL, code_lists TEXT NULL, PRIMARY KEY(pseudonym, valid_from));
        CREATE TABLE patients_superseded(pseudonym TEXT NOT NULL, valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL, sex TEXT NULL, zip3 TEXT NOT NULL,
            deceased_year INTEGER NULL, birth_year INTEGER NULL, age_90_plus INTEGER NOT NULL, PRIMARY KEY(pseudonym, valid_from)) WITHOUT ROWID;
        CREATE TABLE consent_states_superseded(pseudonym TEXT NOT NULL, purpose TEXT NOT NULL, year INTEGER NOT NULL, state TEXT NOT NULL,
            valid_from INTEGER NOT NULL, valid_to INTEGER NOT NULL, PRIMARY KEY(pseudonym, purpose, year, valid_from)) WITHOUT ROWID;
        CREATE TABLE study_snapshots(study_id TEXT PRIMARY KEY, data_version INTEGER NOT NULL, last_round INTEGER NOT NULL, grace_seconds INTEGER NOT NULL,
            pinned_at TEXT NOT NULL, released_at TEXT NULL, release_reason TEXT NULL);
        """,
        // Attempt secrets deleted once they can serve nothing more (issue 19; node/Federation/RoundParticipant.cs): the sealed secret is
        // overwritten by an empty blob (the column stays NOT NULL) with secure_delete on, so the freed cell is zeroed in the file, and
        // when and why is kept. Secrets of attempts this node already decrypted for, or that a later attempt of their round superseded,
        // are deleted here; the rest as their shares are issued, their attempts superseded or past their deadline, or the store restored.
        """
        PRAGMA secure_delete=ON;
        ALTER TABLE attempt_keys ADD COLUMN secret_retired_at TEXT NULL;
        ALTER TABLE attempt_keys ADD COLUMN secret_retired_reason TEXT NULL;
        UPDATE attempt_keys SET sealed_secret = X'', secret_retired_reason = 'share_issued',
            secret_retired_at = (SELECT d.issued_at FROM decryption_shares d WHERE d.study_id = attempt_keys.study_id AND d.round = attempt_keys.round AND d.attempt = attempt_keys.attempt)
            WHERE EXISTS (SELECT 1 FROM decryption_shares d WHERE d.study_id = attempt_keys.study_id AND d.round = attempt_keys.round AND d.attempt = attempt_keys.attempt);
        UPDATE attempt_keys SET sealed_secret = X'', secret_retired_reason = 'superseded'
            WHERE length(sealed_secret) > 0
              AND attempt < (SELECT w.highest_attempt FROM attempt_watermarks w WHERE w.study_id = attempt_keys.study_id AND w.round = attempt_keys.round);
        """,
        // The federation's models as this node received them (issue 21; node/Twins/NodeModelRegistry.cs): each registry document with the
        // coordinator's signature over it and the key it verified under, re-checked whenever a twin uses it. Aggregate coefficients only.
        """
        CREATE TABLE federation_models(model_id TEXT NOT NULL, version TEXT NOT NULL, kind TEXT NOT NULL, study_id TEXT NOT NULL, outcome TEXT NOT NULL,
            released_at TEXT NOT NULL, document TEXT NOT NULL, signature TEXT NOT NULL, coordinator_key TEXT NOT NULL, fetched_at TEXT NOT NULL,
            PRIMARY KEY(model_id, version));
        """,
        // Data sources' pull state (issue 22; node/Storage/SourceQueries.cs): the watermark of the last successful pull and the last outcome.
        // The source's definition is in node-config.json; nothing here is patient data.
        """
        CREATE TABLE source_pulls(source_key TEXT PRIMARY KEY, watermark TEXT NULL, last_pull_at TEXT NULL, last_status TEXT NULL,
            last_detail TEXT NULL, last_success_at TEXT NULL);
        """,
        // t-of-n committees (issue 23; node/Federation/RoundParticipant.Committee.cs): an attempt's sealed secret is replaced by the node's
        // committee secret once every dealer's share checked (committee_point: its evaluation point; null for a dealer's own secret), and a
        // decryption share records the decrypting set it was weighted for, so a retry is answered only for that set.
        """
        ALTER TABLE attempt_keys ADD COLUMN committee_point INTEGER NULL;
        ALTER TABLE decryption_shares ADD COLUMN decrypt_set_digest TEXT NULL;
        """,
    ];

    /// <summary>The page size of stores created by this build.</summary>
    public const int PageSize = 16384;

    private static readonly SchemaMigrations Schema = new("node", Migrations);

    private readonly TimeProvider _time;

    // A new store gets 16 KiB pages (SQLite takes the size only before the file has content; an existing
    // store keeps its own until a VACUUM, docs/operations.md): a patient's row is a blob of a few KiB, and
    // with the default 4 KiB pages the ingest's merge wrote 2-3 times slower (one WAL frame per page) and
    // the file was 30% larger. Measured on 21,000 patients' rows (44 MB): 0.56-0.89 s vs 0.25 s.
    // maxSizeBytes: the store size cap (hosting/Storage/StoreSizeCap.cs), on every connection; null for none.
    public NodeStore(string nodeDir, TimeProvider? time = null, long? maxSizeBytes = null)
        : base(new SqliteSettings(System.IO.Path.Combine(nodeDir, "node.db"), PageSize, MaxSizeBytes: maxSizeBytes), Schema)
    {
        _time = time ?? TimeProvider.System;
        MaxSizeBytes = maxSizeBytes;
    }

    /// <summary>The store size cap this process applies (null: none).</summary>
    public long? MaxSizeBytes { get; }

    /// <summary>The number of schema versions this build knows.</summary>
    public static int LatestSchema => Schema.Latest;

    /// <summary>Applies the migrations not yet applied, each in its own transaction, up to <paramref name="upTo"/> (tests build a store of an earlier version).</summary>
    internal static void Migrate(SqliteConnection connection, int upTo = int.MaxValue) =>
        Schema.Apply(new SqliteDialect(new SqliteSettings(connection.DataSource, PageSize)), connection, upTo);

    /// <summary>WAL pages a bulk-writing connection lets accumulate before it checkpoints: 64 MB whatever the store's page size.</summary>
    public static int BulkWalAutocheckpointPages(SqliteConnection connection) => (int)((64L << 20) / SqliteDialect.PageSizeOf(connection));

    /// <summary>
    /// The ingest's connection: WAL with synchronous=NORMAL (a power cut may lose the last committed
    /// batches, never corrupt the file; the ingest is idempotent, so re-running it restores them), a
    /// 64 MB page cache for the merge, and checkpoints every 64 MB of WAL rather than every 1,000 pages (each
    /// checkpoint syncs the file; staged batches would otherwise trigger one every few batches).
    /// </summary>
    public SqliteConnection OpenForBulkWrite()
    {
        var connection = Open();
        SqliteDialect.ForBulkWrite(connection, cacheKiB: 65536, BulkWalAutocheckpointPages(connection));
        return connection;
    }

    /// <summary>Deletes every attempt secret held in a copy of a node store (a backup being made), with secure_delete on: see <see cref="FederationQueries.RetireSecrets"/>.</summary>
    public static int RetireSecretsIn(string storeCopy, string reason, string now)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = storeCopy, Pooling = false }.ToString());
        connection.Open();
        using var transaction = connection.BeginTransaction();
        var retired = FederationQueries.RetireSecrets(connection, transaction, attempt: null, reason, now);
        transaction.Commit();
        return retired;
    }

    public void Event(string kind, string? study, string detail) => Write((c, t) =>
        c.Execute("INSERT INTO events(at, kind, study_id, detail) VALUES (@at, @kind, @study, @detail)", new { at = _time.GetUtcNow().ToString("O"), kind, study, detail }, t));

    public sealed record Enrollment(string NodeId, string CoordinatorUrl, string CoordinatorPublicKey, string EnrolledAt);

    public Enrollment? GetEnrollment() => Read(c => c.QuerySingleOrDefault<Enrollment>(
        "SELECT node_id AS NodeId, coordinator_url AS CoordinatorUrl, coordinator_public_key AS CoordinatorPublicKey, enrolled_at AS EnrolledAt FROM enrollment WHERE id=1"));
}
