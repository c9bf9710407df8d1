using FederatedTwin.Hosting.Storage;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>
/// Versioned schema migrations; each runs once, in order, in its own transaction. Written twice, once per engine: step i of
/// <see cref="Steps"/> (SQLite) and of <see cref="PostgresSteps"/> bring a store to the same version i + 1 with the same tables and
/// columns (a test compares them), so a new migration is added to both lists. The queries (Storage/*Queries.cs) are written once.
/// </summary>
internal static class Migrations
{
    private static readonly string[] Steps =
    [
        """
        CREATE TABLE enrollment_tokens(token_hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
            used_by TEXT NULL, used_at TEXT NULL, revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE nodes(node_id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL,
            last_seen_at TEXT NULL, protocol_version INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE nonces(key_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY(key_id, nonce));
        CREATE TABLE studies(study_id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,
            offered_until TEXT NOT NULL, current_round INTEGER NOT NULL DEFAULT 0, current_attempt INTEGER NOT NULL DEFAULT 0,
            failure_reason TEXT NULL, result_json TEXT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE decisions(study_id TEXT NOT NULL REFERENCES studies(study_id), node_id TEXT NOT NULL REFERENCES nodes(node_id),
            accept INTEGER NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL, decided_at TEXT NOT NULL, PRIMARY KEY(study_id, node_id));
        CREATE TABLE attempts(study_id TEXT NOT NULL REFERENCES studies(study_id), round INTEGER NOT NULL, attempt INTEGER NOT NULL,
            phase TEXT NOT NULL, participants_json TEXT NOT NULL, crp_seed BLOB NOT NULL, request_json TEXT NOT NULL,
            collective_key BLOB NULL, aggregate BLOB NULL, aggregate_digest TEXT NULL, phase_deadline TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT NULL, outcome TEXT NULL, PRIMARY KEY(study_id, round, attempt));
        CREATE TABLE contributions(study_id TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, kind TEXT NOT NULL,
            node_id TEXT NOT NULL, payload BLOB NOT NULL, signature BLOB NOT NULL, digest TEXT NOT NULL, received_at TEXT NOT NULL,
            PRIMARY KEY(study_id, round, attempt, kind, node_id),
            FOREIGN KEY(study_id, round, attempt) REFERENCES attempts(study_id, round, attempt));
        CREATE TABLE round_results(study_id TEXT NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL, values_json TEXT NOT NULL,
            participants_json TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL, PRIMARY KEY(study_id, round));
        CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL, study_id TEXT NULL,
            node_id TEXT NULL, detail TEXT NOT NULL);
        """,
        // The model registry: every model a study trained, as the JSON the analysts and the twin read.
        """
        CREATE TABLE models(model_id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies(study_id), kind TEXT NOT NULL,
            outcome TEXT NOT NULL, created_at TEXT NOT NULL, model_json TEXT NOT NULL);
        """,
        // The tamper-evident audit trail (protocol/Audit, docs/operations.md): append-only, hash-chained,
        // with signed checkpoints. Kept beside `events`, which other code reads and which stays as it is.
        FederatedTwin.Protocol.Audit.AuditLog.Schema,
        // Every node's audit chain head as its signed requests carried it: evidence held outside the node.
        """
        CREATE TABLE node_audit_heads(node_id TEXT NOT NULL, seq INTEGER NOT NULL, sha256 TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY(node_id, seq));
        """,
        // The dashboard's local accounts (ASP.NET Core Identity's PasswordHasher: PBKDF2-HMAC-SHA512, salted).
        """
        CREATE TABLE dashboard_users(user_name TEXT PRIMARY KEY COLLATE NOCASE, role TEXT NOT NULL, password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL, last_sign_in_at TEXT NULL);
        """,
        // Every key each node has held (Orchestration/NodeKeys.cs): nodes.public_key is the current one; a key, once held,
        // is never enrolled or rotated to again (UNIQUE), so a retired key cannot come back under any node. A trigger
        // records each enrollment's key, so the enrollment code needs no change; existing nodes start with their key.
        """
        CREATE TABLE node_key_history(node_id TEXT NOT NULL REFERENCES nodes(node_id), public_key TEXT NOT NULL UNIQUE, valid_from TEXT NOT NULL,
            valid_until TEXT NULL, replaced_by TEXT NULL, PRIMARY KEY(node_id, public_key));
        INSERT INTO node_key_history(node_id, public_key, valid_from) SELECT node_id, public_key, enrolled_at FROM nodes;
        CREATE TRIGGER node_key_history_on_enroll AFTER INSERT ON nodes
            BEGIN INSERT INTO node_key_history(node_id, public_key, valid_from) VALUES (NEW.node_id, NEW.public_key, NEW.enrolled_at); END;
        """,
        // Federation protocol v2 (docs/protocol.md): attempts go through commit and reveal phases, and contributions are signed over
        // other statements, so an attempt of v1 cannot continue: live attempts are superseded and running studies failed with the
        // reason (create them again). Offered studies carry no protocol state and stay offered. Rosters the ACO publishes for nodes.
        """
        UPDATE attempts SET phase='superseded', outcome='protocol upgraded to version 2', finished_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')
            WHERE phase NOT IN ('done','superseded');
        INSERT INTO events(at, kind, study_id, node_id, detail)
            SELECT strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'study_failed', study_id, NULL, 'interrupted by the upgrade to federation protocol 2' FROM studies WHERE state='running';
        UPDATE studies SET state='failed', updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now'),
            failure_reason='interrupted by the upgrade to federation protocol 2 (commit-then-reveal rounds, pinned roster): create the study again'
            WHERE state='running';
        CREATE TABLE rosters(version INTEGER PRIMARY KEY, federation TEXT NOT NULL, sha256 TEXT NOT NULL, document BLOB NOT NULL, published_at TEXT NOT NULL);
        """,
        // Federation protocol v3, enrollment bound to keys (protocol/Federation/EnrollmentProof.cs): a token's row keeps the key HKDF
        // derives from the token (the node's MAC is checked with it), beside the token's SHA-256, which is its public id. Tokens issued
        // before keep no derivable key (only their hash was stored, and the key cannot be derived from it): they stay listed and are
        // refused at enrollment with the rule enrollment-token-legacy (issue a new one). A node registers the SHA-256 fingerprint of
        // its TLS client certificate with its enrollment (null for nodes enrolled before, or without one).
        """
        ALTER TABLE enrollment_tokens ADD COLUMN mac_key BLOB NULL;
        ALTER TABLE nodes ADD COLUMN tls_client_sha256 TEXT NULL;
        """,
        // The twin's back-tests (`ftwin twin validate` stores each through the admin API; the dashboard shows the latest).
        """
        CREATE TABLE twin_validations(id INTEGER PRIMARY KEY AUTOINCREMENT, cutoff_year INTEGER NOT NULL, stored_at TEXT NOT NULL, document TEXT NOT NULL);
        """,
        // Keeping the twin current (docs/models.md, "Refresh"): each node's data version as its signed work poll last carried it, and
        // when it last changed (null: the node never sent one); the version a node had when it decided on a study; study templates
        // with a refresh rule and their runs (each run a normal study); and each registered model's lineage and version in it.
        """
        ALTER TABLE nodes ADD COLUMN data_version INTEGER NULL;
        ALTER TABLE nodes ADD COLUMN data_changed_at TEXT NULL;
        ALTER TABLE decisions ADD COLUMN data_version INTEGER NULL;
        CREATE TABLE study_templates(template_id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, refresh TEXT NOT NULL, every_seconds INTEGER NULL,
            min_nodes_with_new_data INTEGER NULL, min_new_data_fraction REAL NULL, created_at TEXT NOT NULL, stopped_at TEXT NULL);
        CREATE TABLE template_runs(template_id TEXT NOT NULL REFERENCES study_templates(template_id), seq INTEGER NOT NULL,
            study_id TEXT NOT NULL UNIQUE REFERENCES studies(study_id), created_at TEXT NOT NULL, trigger TEXT NOT NULL, PRIMARY KEY(template_id, seq));
        ALTER TABLE models ADD COLUMN lineage TEXT NULL;
        ALTER TABLE models ADD COLUMN lineage_version INTEGER NULL;
        CREATE INDEX models_by_lineage ON models(lineage, lineage_version);
        """,
    ];

    /// <summary>
    /// The same steps in PostgreSQL: BIGINT where SQLite has INTEGER (Dapper reads both as long), DOUBLE PRECISION for REAL, BYTEA
    /// for BLOB, identity columns for AUTOINCREMENT, instants as the same ISO 8601 text (StoredTime.cs), dashboard user names unique
    /// without case by an index on lower(user_name) (SQLite: COLLATE NOCASE; the queries compare lower() on both), the enrollment
    /// trigger of node_key_history in PL/pgSQL. Never edit one that has shipped; add the next step here and in <see cref="Steps"/>.
    /// </summary>
    private static readonly string[] PostgresSteps =
    [
        """
        CREATE TABLE enrollment_tokens(token_hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
            used_by TEXT NULL, used_at TEXT NULL, revoked BIGINT NOT NULL DEFAULT 0);
        CREATE TABLE nodes(node_id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL,
            last_seen_at TEXT NULL, protocol_version BIGINT NOT NULL, revoked BIGINT NOT NULL DEFAULT 0);
        CREATE TABLE nonces(key_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY(key_id, nonce));
        CREATE TABLE studies(study_id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,
            offered_until TEXT NOT NULL, current_round BIGINT NOT NULL DEFAULT 0, current_attempt BIGINT NOT NULL DEFAULT 0,
            failure_reason TEXT NULL, result_json TEXT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE decisions(study_id TEXT NOT NULL REFERENCES studies(study_id), node_id TEXT NOT NULL REFERENCES nodes(node_id),
            accept BIGINT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL, decided_at TEXT NOT NULL, PRIMARY KEY(study_id, node_id));
        CREATE TABLE attempts(study_id TEXT NOT NULL REFERENCES studies(study_id), round BIGINT NOT NULL, attempt BIGINT NOT NULL,
            phase TEXT NOT NULL, participants_json TEXT NOT NULL, crp_seed BYTEA NOT NULL, request_json TEXT NOT NULL,
            collective_key BYTEA NULL, aggregate BYTEA NULL, aggregate_digest TEXT NULL, phase_deadline TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT NULL, outcome TEXT NULL, PRIMARY KEY(study_id, round, attempt));
        CREATE TABLE contributions(study_id TEXT NOT NULL, round BIGINT NOT NULL, attempt BIGINT NOT NULL, kind TEXT NOT NULL,
            node_id TEXT NOT NULL, payload BYTEA NOT NULL, signature BYTEA NOT NULL, digest TEXT NOT NULL, received_at TEXT NOT NULL,
            PRIMARY KEY(study_id, round, attempt, kind, node_id),
            FOREIGN KEY(study_id, round, attempt) REFERENCES attempts(study_id, round, attempt));
        CREATE TABLE round_results(study_id TEXT NOT NULL, round BIGINT NOT NULL, attempt BIGINT NOT NULL, values_json TEXT NOT NULL,
            participants_json TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL, PRIMARY KEY(study_id, round));
        CREATE TABLE events(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, study_id TEXT NULL,
            node_id TEXT NULL, detail TEXT NOT NULL);
        """,
        """
        CREATE TABLE models(model_id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies(study_id), kind TEXT NOT NULL,
            outcome TEXT NOT NULL, created_at TEXT NOT NULL, model_json TEXT NOT NULL);
        """,
        FederatedTwin.Protocol.Audit.AuditLog.PostgresSchema,
        """
        CREATE TABLE node_audit_heads(node_id TEXT NOT NULL, seq BIGINT NOT NULL, sha256 TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY(node_id, seq));
        """,
        """
        CREATE TABLE dashboard_users(user_name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL, last_sign_in_at TEXT NULL);
        CREATE UNIQUE INDEX dashboard_users_name_without_case ON dashboard_users(lower(user_name));
        """,
        """
        CREATE TABLE node_key_history(node_id TEXT NOT NULL REFERENCES nodes(node_id), public_key TEXT NOT NULL UNIQUE, valid_from TEXT NOT NULL,
            valid_until TEXT NULL, replaced_by TEXT NULL, PRIMARY KEY(node_id, public_key));
        INSERT INTO node_key_history(node_id, public_key, valid_from) SELECT node_id, public_key, enrolled_at FROM nodes;
        CREATE FUNCTION node_key_history_on_enroll() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO node_key_history(node_id, public_key, valid_from) VALUES (NEW.node_id, NEW.public_key, NEW.enrolled_at);
            RETURN NULL;
        END $$;
        CREATE TRIGGER node_key_history_on_enroll AFTER INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION node_key_history_on_enroll();
        """,
        // The same upgrade as SQLite's step 7 (a PostgreSQL store created by this build has no v1 attempts, so it changes no row).
        """
        UPDATE attempts SET phase='superseded', outcome='protocol upgraded to version 2', finished_at=to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            WHERE phase NOT IN ('done','superseded');
        INSERT INTO events(at, kind, study_id, node_id, detail)
            SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'study_failed', study_id, NULL, 'interrupted by the upgrade to federation protocol 2' FROM studies WHERE state='running';
        UPDATE studies SET state='failed', updated_at=to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            failure_reason='interrupted by the upgrade to federation protocol 2 (commit-then-reveal rounds, pinned roster): create the study again'
            WHERE state='running';
        CREATE TABLE rosters(version BIGINT PRIMARY KEY, federation TEXT NOT NULL, sha256 TEXT NOT NULL, document BYTEA NOT NULL, published_at TEXT NOT NULL);
        """,
        """
        ALTER TABLE enrollment_tokens ADD COLUMN mac_key BYTEA NULL;
        ALTER TABLE nodes ADD COLUMN tls_client_sha256 TEXT NULL;
        """,
        """
        CREATE TABLE twin_validations(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, cutoff_year BIGINT NOT NULL, stored_at TEXT NOT NULL, document TEXT NOT NULL);
        """,
        """
        ALTER TABLE nodes ADD COLUMN data_version BIGINT NULL;
        ALTER TABLE nodes ADD COLUMN data_changed_at TEXT NULL;
        ALTER TABLE decisions ADD COLUMN data_version BIGINT NULL;
        CREATE TABLE study_templates(template_id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, refresh TEXT NOT NULL, every_seconds BIGINT NULL,
            min_nodes_with_new_data BIGINT NULL, min_new_data_fraction DOUBLE PRECISION NULL, created_at TEXT NOT NULL, stopped_at TEXT NULL);
        CREATE TABLE template_runs(template_id TEXT NOT NULL REFERENCES study_templates(template_id), seq BIGINT NOT NULL,
            study_id TEXT NOT NULL UNIQUE REFERENCES studies(study_id), created_at TEXT NOT NULL, trigger TEXT NOT NULL, PRIMARY KEY(template_id, seq));
        ALTER TABLE models ADD COLUMN lineage TEXT NULL;
        ALTER TABLE models ADD COLUMN lineage_version BIGINT NULL;
        CREATE INDEX models_by_lineage ON models(lineage, lineage_version);
        """,
    ];

    /// <summary>The schema and its runner (hosting/Storage/SchemaMigrations.cs).</summary>
    internal static readonly SchemaMigrations Schema = new("coordinator", Steps);

    /// <summary>The same schema on PostgreSQL: as many steps, the same tables and columns.</summary>
    internal static readonly SchemaMigrations PostgresSchema = new("coordinator", PostgresSteps);

    /// <summary>The number of schema versions this build knows.</summary>
    public static int Latest => Schema.Latest;

    /// <param name="connection">An open connection to coordinator.db.</param>
    /// <param name="upTo">The schema version to stop at (tests build a store of an earlier version, then upgrade it).</param>
    public static void Apply(SqliteConnection connection, int upTo = int.MaxValue) =>
        Schema.Apply(new SqliteDialect(new SqliteSettings(connection.DataSource, ForeignKeys: true)), connection, upTo);
}
