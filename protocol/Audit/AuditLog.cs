using System.Data.Common;
using System.Globalization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Protocol.Audit;

/// <summary>
/// The audit trail's storage format, the same in node.db and coordinator.db, so that one verifier
/// (`ftwin audit verify`) reads both: an append-only audit_log (one row per entry, every column in the
/// hash) and audit_checkpoints (one signed head per row). Plain ADO.NET over the service's connection
/// (SQLite, or PostgreSQL for a coordinator there: <see cref="PostgresSchema"/>), so an entry is appended in the
/// same transaction as the action it records.
/// </summary>
public sealed class AuditLog
{
    private readonly Func<DbConnection, DbTransaction, Ed25519Identity> _signer;
    private readonly int _checkpointInterval;

    /// <summary>A trail whose checkpoints are always signed by one key (the coordinator's).</summary>
    public AuditLog(Ed25519Identity identity, int checkpointInterval = AuditChain.DefaultCheckpointInterval)
        : this((_, _) => identity, checkpointInterval)
    {
    }

    /// <summary>
    /// A trail whose signing key is resolved in the appending transaction, from the chain as it stands then (a
    /// node's identity changes at the identity_key_rotated entry of its own chain: each checkpoint must be signed
    /// by the key that was the identity at the entry it covers, <see cref="IdentityKeyChain"/>).
    /// </summary>
    public AuditLog(Func<DbConnection, DbTransaction, Ed25519Identity> signer, int checkpointInterval = AuditChain.DefaultCheckpointInterval)
    {
        _signer = signer;
        _checkpointInterval = checkpointInterval;
    }

    /// <summary>
    /// The tables, and SQLite triggers that refuse UPDATE and DELETE on them, entries out of sequence
    /// and checkpoints that do not name an entry's current hash. The triggers are defence in depth
    /// against mistakes and casual edits; anyone who can write the file can drop them, which is what
    /// the hash chain and the signed checkpoints detect. Part of a migration: never edit, add a new one.
    /// </summary>
    public const string Schema = """
        CREATE TABLE audit_log(seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, outcome INTEGER NOT NULL,
            study_id TEXT NULL, purpose_of_use TEXT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE audit_checkpoints(seq INTEGER PRIMARY KEY, head_hash TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL,
            public_key TEXT NOT NULL, signature TEXT NOT NULL);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_in_sequence BEFORE INSERT ON audit_log
            WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
            BEGIN SELECT RAISE(ABORT, 'audit_log entries are appended in sequence'); END;
        CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
        CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
        CREATE TRIGGER audit_checkpoints_name_an_entry BEFORE INSERT ON audit_checkpoints
            WHEN NEW.head_hash IS NOT (SELECT hash FROM audit_log WHERE seq = NEW.seq)
            BEGIN SELECT RAISE(ABORT, 'a checkpoint must name an entry and its hash'); END;
        """;

    /// <summary>
    /// <see cref="Schema"/> for PostgreSQL (the coordinator's store there): the same tables and columns (BIGINT for SQLite's INTEGER,
    /// outcome kept 32-bit as it is read) and the same refusals as PL/pgSQL triggers. Part of a migration: never edit, add a new one.
    /// </summary>
    public const string PostgresSchema = """
        CREATE TABLE audit_log(seq BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, outcome INTEGER NOT NULL,
            study_id TEXT NULL, purpose_of_use TEXT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE audit_checkpoints(seq BIGINT PRIMARY KEY, head_hash TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL,
            public_key TEXT NOT NULL, signature TEXT NOT NULL);
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
        END $$;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_append_only();
        CREATE FUNCTION audit_log_in_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log) THEN
                RAISE EXCEPTION 'audit_log entries are appended in sequence';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER audit_log_in_sequence BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_in_sequence();
        CREATE FUNCTION audit_checkpoints_name_an_entry() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.head_hash IS DISTINCT FROM (SELECT hash FROM audit_log WHERE seq = NEW.seq) THEN
                RAISE EXCEPTION 'a checkpoint must name an entry and its hash';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER audit_checkpoints_name_an_entry BEFORE INSERT ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_name_an_entry();
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
        CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
        """;

    private int? _interval;

    /// <summary>
    /// Appends an entry within the caller's transaction. The first append of a chain writes its first
    /// entry (format, checkpoint interval, public key) before it; every N-th entry gets a checkpoint.
    /// </summary>
    public AuditEntry Append(DbConnection connection, DbTransaction transaction, string actor, AuditRecord record, DateTimeOffset now)
    {
        var head = Head(connection, transaction);
        if (head is null)
        {
            head = AuditChain.Seal(1, now, actor, AuditChain.Genesis(_signer(connection, transaction).PublicKey, _checkpointInterval), AuditChain.GenesisHash);
            Insert(connection, transaction, head);
        }

        var entry = AuditChain.Seal(head.Seq + 1, now, actor, record, head.Hash);
        Insert(connection, transaction, entry);
        if (entry.Seq % Interval(connection, transaction) == 0)
        {
            InsertCheckpoint(connection, transaction, AuditCheckpoint.Sign(_signer(connection, transaction), entry, now, CheckpointReasons.Interval));
        }

        return entry;
    }

    /// <summary>Signs the current head, unless it is already signed or the chain is empty.</summary>
    public AuditCheckpoint? Checkpoint(DbConnection connection, DbTransaction transaction, string reason, DateTimeOffset now)
    {
        var head = Head(connection, transaction);
        if (head is null || Scalar(connection, transaction, "SELECT COUNT(*) FROM audit_checkpoints WHERE seq=@seq", ("@seq", head.Seq)) is long and > 0)
        {
            return null;
        }

        var checkpoint = AuditCheckpoint.Sign(_signer(connection, transaction), head, now, reason);
        InsertCheckpoint(connection, transaction, checkpoint);
        return checkpoint;
    }

    /// <summary>The latest entry, or null for an empty chain.</summary>
    public static AuditEntry? Head(DbConnection connection, DbTransaction? transaction) =>
        ReadEntries(connection, transaction, "SELECT seq, at, actor, action, outcome, study_id, purpose_of_use, detail, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT 1").FirstOrDefault();

    /// <summary>Whether this store has the audit tables (a store from before the audit migration has not).</summary>
    public static bool Exists(DbConnection connection) =>
        Scalar(connection, null, "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ('audit_log','audit_checkpoints')") is long and 2;

    /// <summary>Every entry in stored order (by seq) and every checkpoint, for verification and export.</summary>
    public static (List<AuditEntry> Entries, List<AuditCheckpoint> Checkpoints) ReadAll(DbConnection connection)
    {
        var entries = ReadEntries(connection, null, "SELECT seq, at, actor, action, outcome, study_id, purpose_of_use, detail, prev_hash, hash FROM audit_log ORDER BY seq");
        var checkpoints = new List<AuditCheckpoint>();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, head_hash, at, reason, public_key, signature FROM audit_checkpoints ORDER BY seq";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            checkpoints.Add(new AuditCheckpoint(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5)));
        }

        return (entries, checkpoints);
    }

    private int Interval(DbConnection connection, DbTransaction transaction)
    {
        if (_interval is { } cached)
        {
            return cached;
        }

        var first = ReadEntries(connection, transaction, "SELECT seq, at, actor, action, outcome, study_id, purpose_of_use, detail, prev_hash, hash FROM audit_log WHERE seq=1").FirstOrDefault();
        var interval = AuditChain.CheckpointInterval(first);
        _interval = interval; // fixed by the chain's first entry, which never changes
        return interval;
    }

    private static List<AuditEntry> ReadEntries(DbConnection connection, DbTransaction? transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var entries = new List<AuditEntry>();
        while (reader.Read())
        {
            entries.Add(new AuditEntry(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetString(3),
                (AuditOutcome)reader.GetInt32(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6),
                reader.GetString(7),
                reader.GetString(8),
                reader.GetString(9)));
        }

        return entries;
    }

    private static void Insert(DbConnection connection, DbTransaction transaction, AuditEntry e) => Execute(connection, transaction, """
        INSERT INTO audit_log(seq, at, actor, action, outcome, study_id, purpose_of_use, detail, prev_hash, hash)
        VALUES (@seq, @at, @actor, @action, @outcome, @study, @purpose, @detail, @prev, @hash)
        """,
        ("@seq", e.Seq), ("@at", e.At), ("@actor", e.Actor), ("@action", e.Action), ("@outcome", (int)e.Outcome), ("@study", e.StudyId),
        ("@purpose", e.PurposeOfUse), ("@detail", e.Detail), ("@prev", e.PrevHash), ("@hash", e.Hash));

    private static void InsertCheckpoint(DbConnection connection, DbTransaction transaction, AuditCheckpoint c) => Execute(connection, transaction, """
        INSERT INTO audit_checkpoints(seq, head_hash, at, reason, public_key, signature) VALUES (@seq, @head, @at, @reason, @key, @signature)
        """,
        ("@seq", c.Seq), ("@head", c.HeadHash), ("@at", c.At), ("@reason", c.Reason), ("@key", c.PublicKey), ("@signature", c.Signature));

    private static void Execute(DbConnection connection, DbTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        var value = command.ExecuteScalar();
        return value is null or DBNull ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }
}
