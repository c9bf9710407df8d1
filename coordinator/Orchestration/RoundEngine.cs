using System.Text.Json;
using FederatedTwin.Analytics.Registry;
using Dapper;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The study and round state machines (docs/protocol.md), advanced from the store alone: each
/// transition reads the stored state, computes, and commits in one transaction, so a coordinator
/// killed at any point resumes where it was. Phases of an attempt (protocol version 2): key_commit →
/// key_open → update_commit → update_open → decrypt → done: key shares and ciphertexts are committed
/// (signed hashes) before any is revealed, so no participant can choose its own as a function of the
/// others'. A participant missing a phase deadline supersedes the attempt; the round restarts as a new
/// attempt with fresh keys among the survivors, unless the nodes would refuse it anyway (an exact study
/// whose set of hospitals would change after a decryption share was issued: docs/threat-model.md), or the
/// study fails when they are too few. Every transition is audited in its own transaction (study created,
/// started, cancelled, completed or failed; attempts, the collective key, the aggregate, the decryption),
/// and a study's end signs a checkpoint of the coordinator's audit trail.
/// </summary>
public sealed partial class RoundEngine(CoordinatorStore store, AlgorithmCatalog algorithms, IAdditiveThresholdScheme scheme, CoordinatorMetrics metrics, CoordinatorAuditTrail audit, CoordinatorSignals signals, ILogger<RoundEngine> logger)
{
    public static class Phases
    {
        public const string KeyCommit = "key_commit";
        public const string KeyOpen = "key_open";
        public const string UpdateCommit = "update_commit";
        public const string UpdateOpen = "update_open";
        public const string Decrypt = "decrypt";
        public const string Done = "done";
        public const string Superseded = "superseded";

        /// <summary>The contribution every participant owes in a phase.</summary>
        public static string? Kind(string phase) => phase switch
        {
            KeyCommit => ContributionKind.KeyShareCommitment,
            KeyOpen => ContributionKind.KeyShare,
            UpdateCommit => ContributionKind.UpdateCommitment,
            UpdateOpen => ContributionKind.Update,
            Decrypt => ContributionKind.DecryptionShare,
            _ => null,
        };

        /// <summary>The phase in which a contribution of this kind is taken.</summary>
        public static string Of(string kind) => kind switch
        {
            ContributionKind.KeyShareCommitment => KeyCommit,
            ContributionKind.KeyShare => KeyOpen,
            ContributionKind.UpdateCommitment => UpdateCommit,
            ContributionKind.Update => UpdateOpen,
            _ => Decrypt,
        };

        /// <summary>What a node is asked to do in a phase.</summary>
        public static WorkKind? Work(string phase) => phase switch
        {
            KeyCommit => WorkKind.CommitKeyShare,
            KeyOpen => WorkKind.OpenKeyShare,
            UpdateCommit => WorkKind.CommitUpdate,
            UpdateOpen => WorkKind.OpenUpdate,
            Decrypt => WorkKind.Decrypt,
            _ => null,
        };

        /// <summary>Whether the attempt is past a phase (its commitment set is complete and may be relayed).</summary>
        public static bool IsPast(string phase, string reference)
        {
            string[] order = [KeyCommit, KeyOpen, UpdateCommit, UpdateOpen, Decrypt, Done];
            var at = Array.IndexOf(order, phase);
            return at >= 0 && at > Array.IndexOf(order, reference);
        }
    }

    public static class States
    {
        public const string Offered = "offered";
        public const string Running = "running";
        public const string Completed = "completed";
        public const string Failed = "failed";
        public const string Cancelled = "cancelled";
    }

    internal sealed record StudyRow(string study_id, string spec_json, string state, string offered_until, long current_round, long current_attempt)
    {
        public StudySpec Spec => WireJson.Deserialize<StudySpec>(System.Text.Encoding.UTF8.GetBytes(spec_json));
    }

    internal sealed record AttemptRow(string study_id, long round, long attempt, string phase, string participants_json, byte[] crp_seed, string request_json,
        byte[]? collective_key, byte[]? aggregate, string? aggregate_digest, string phase_deadline, string started_at)
    {
        public List<string> Participants => JsonSerializer.Deserialize<List<string>>(participants_json) ?? [];

        public RoundRequest Request => WireJson.Deserialize<RoundRequest>(System.Text.Encoding.UTF8.GetBytes(request_json));

        public DateTimeOffset Deadline => DateTimeOffset.Parse(phase_deadline, System.Globalization.CultureInfo.InvariantCulture);
    }

    public void CreateStudy(StudySpec spec, DateTimeOffset now)
    {
        algorithms.Get(spec.Algorithm).Validate(spec);
        store.Write((c, t) =>
        {
            if (c.ExecuteScalar<long>("SELECT COUNT(*) FROM studies WHERE study_id=@id", new { id = spec.Id.Value }, t) > 0)
            {
                throw new InvalidOperationException($"A study with id '{spec.Id}' already exists.");
            }

            var specJson = JsonSerializer.Serialize(spec, WireJson.Options);
            c.Execute("INSERT INTO studies(study_id, spec_json, state, created_at, offered_until, updated_at) VALUES (@id, @spec, @state, @now, @until, @now)",
                new { id = spec.Id.Value, spec = specJson, state = States.Offered, now = now.ToString("O"), until = now.AddSeconds(spec.PhaseDeadlineSeconds).ToString("O") }, t);
            Event(c, t, now, "study_created", spec.Id.Value, null, $"{spec.Algorithm} for {spec.PurposeOfUse}");
            audit.Append(c, t, CoordinatorAuditRecords.StudyCreated(spec, SignedStatement.Digest(System.Text.Encoding.UTF8.GetBytes(specJson))), now);
        });
        signals.PhaseChanged.Pulse(); // an offer is work for every node
    }

    public bool Cancel(StudyId id, DateTimeOffset now) => store.Write((c, t) =>
    {
        var changed = c.Execute("UPDATE studies SET state=@s, failure_reason='cancelled by an analyst', updated_at=@now WHERE study_id=@id AND state IN ('offered','running')",
            new { s = States.Cancelled, now = now.ToString("O"), id = id.Value }, t);
        if (changed > 0)
        {
            c.Execute("UPDATE attempts SET phase=@p, outcome='study cancelled', finished_at=@now WHERE study_id=@id AND phase NOT IN ('done','superseded')",
                new { p = Phases.Superseded, now = now.ToString("O"), id = id.Value }, t);
            Event(c, t, now, "study_cancelled", id.Value, null, "cancelled");
            var spec = c.QuerySingle<StudyRow>("SELECT study_id, spec_json, state, offered_until, current_round, current_attempt FROM studies WHERE study_id=@id", new { id = id.Value }, t).Spec;
            audit.Append(c, t, CoordinatorAuditRecords.StudyCancelled(id.Value, spec.PurposeOfUse.Code), now);
            audit.Checkpoint(c, t, CheckpointReasons.StudyEnd, now);
        }

        return changed > 0;
    });

    /// <summary>One pass over every live study.</summary>
    public void Advance(DateTimeOffset now)
    {
        var live = store.Read(c => c.Query<string>("SELECT study_id FROM studies WHERE state IN ('offered','running') ORDER BY created_at").ToList());
        foreach (var id in live)
        {
            try
            {
                if (store.Write((c, t) => AdvanceStudy(c, t, id, now)))
                {
                    signals.PhaseChanged.Pulse(); // nodes long-polling for work see the new phase at once
                }
            }
            catch (Exception e) when (e is not (OperationCanceledException or SqliteException))
            {
                // A transition that throws rolls back, and the same stored state would throw again on every tick: the study
                // would stay running forever (and, before this, stop every later study in the pass from advancing). An
                // algorithm, codec or decryption error is deterministic, so the study fails with the reason recorded.
                // Storage errors (SqliteException: busy, locked) are transient and are retried on the next tick.
                FailAfterError(id, now, e);
            }
        }
    }

    private void FailAfterError(string id, DateTimeOffset now, Exception e)
    {
        var reason = $"the coordinator could not advance the study ({e.GetType().Name}): {e.Message}";
        LogAdvanceFailed(logger, id, e);
        store.Write((c, t) =>
        {
            var study = c.QuerySingle<StudyRow>("SELECT study_id, spec_json, state, offered_until, current_round, current_attempt FROM studies WHERE study_id=@id", new { id }, t);
            if (study.state is States.Offered or States.Running)
            {
                c.Execute("UPDATE attempts SET phase=@p, outcome=@o, finished_at=@now WHERE study_id=@id AND phase NOT IN ('done','superseded')",
                    new { p = Phases.Superseded, o = "study failed", now = now.ToString("O"), id }, t);
                Fail(c, t, study.Spec, now, reason);
            }
        });
        signals.PhaseChanged.Pulse();
    }

    /// <summary>One study's transition, if any is due; true when something changed.</summary>
    private bool AdvanceStudy(SqliteConnection c, SqliteTransaction t, string id, DateTimeOffset now)
    {
        var study = c.QuerySingle<StudyRow>("SELECT study_id, spec_json, state, offered_until, current_round, current_attempt FROM studies WHERE study_id=@id", new { id }, t);
        var spec = study.Spec;
        if (study.state == States.Offered)
        {
            var accepted = c.Query<string>("SELECT node_id FROM decisions WHERE study_id=@id AND accept=1 ORDER BY decided_at, node_id", new { id }, t).ToList();
            var decided = c.ExecuteScalar<long>("SELECT COUNT(*) FROM decisions WHERE study_id=@id", new { id }, t);
            var enrolled = c.ExecuteScalar<long>("SELECT COUNT(*) FROM nodes WHERE revoked=0", transaction: t);
            var offerClosed = now > DateTimeOffset.Parse(study.offered_until, System.Globalization.CultureInfo.InvariantCulture);
            if (accepted.Count >= spec.MaxNodes || (accepted.Count >= spec.MinNodes && (decided >= enrolled || offerClosed)))
            {
                c.Execute("UPDATE studies SET state=@s, updated_at=@now WHERE study_id=@id", new { s = States.Running, now = now.ToString("O"), id }, t);
                var joined = accepted.Take(spec.MaxNodes).ToList();
                audit.Append(c, t, CoordinatorAuditRecords.StudyStarted(spec, joined, decided), now);
                StartAttempt(c, t, spec, 1, 1, joined, now);
                return true;
            }

            if (offerClosed)
            {
                Fail(c, t, spec, now, $"only {accepted.Count} node(s) accepted the study by its deadline; it needs at least {spec.MinNodes}");
                return true;
            }

            return false;
        }

        var a = CurrentAttempt(c, t, id, study.current_round, study.current_attempt, ciphertexts: false);
        if (Phases.Kind(a.phase) is not { } kind)
        {
            return false;
        }

        var contributors = c.Query<string>("SELECT node_id FROM contributions WHERE study_id=@id AND round=@round AND attempt=@attempt AND kind=@kind",
            new { id, round = a.round, attempt = a.attempt, kind }, t).ToHashSet(StringComparer.Ordinal);
        var participants = a.Participants;
        if (participants.All(contributors.Contains))
        {
            CompletePhase(c, t, spec, CurrentAttempt(c, t, id, a.round, a.attempt), now);
            return true;
        }

        if (now > a.Deadline)
        {
            var survivors = participants.Where(contributors.Contains).ToList();
            var missing = participants.Where(p => !contributors.Contains(p)).ToList();
            c.Execute("UPDATE attempts SET phase=@p, outcome=@o, finished_at=@now WHERE study_id=@id AND round=@round AND attempt=@attempt",
                new { p = Phases.Superseded, o = $"{string.Join(", ", missing)} missed the {a.phase} deadline", now = now.ToString("O"), id, round = a.round, attempt = a.attempt }, t);
            metrics.AttemptsRestarted.Add(1);
            Event(c, t, now, "attempt_superseded", id, null, $"round {a.round} attempt {a.attempt}: dropped {string.Join(", ", missing)} in {a.phase}");
            audit.Append(c, t, CoordinatorAuditRecords.AttemptSuperseded(spec, a.round, a.attempt, a.phase, missing), now);
            LogRestart(logger, id, a.round, a.attempt, string.Join(", ", missing), a.phase);
            if (RerunRefusal(c, t, spec, a, survivors) is { } refusal)
            {
                Fail(c, t, spec, now, $"round {a.round}: {string.Join(", ", missing)} missed the {a.phase} deadline, and {refusal}");
            }
            else if (survivors.Count >= spec.MinNodes)
            {
                StartAttempt(c, t, spec, (int)a.round, (int)a.attempt + 1, survivors, now);
            }
            else
            {
                Fail(c, t, spec, now, $"round {a.round}: only {survivors.Count} participant(s) left after {string.Join(", ", missing)} missed the {a.phase} deadline; the study needs at least {spec.MinNodes}");
            }

            return true;
        }

        return false;
    }

    /// <summary>
    /// Why the survivors' re-run would be refused by the nodes themselves (RoundParticipant's participant-set rule), so the study
    /// fails with that reason instead of running an attempt that cannot end: an exact study (no dp_rho) is bound to one set of
    /// hospitals once any of them issued a decryption share, in this round or an earlier one (a DP study re-runs with fresh noise).
    /// </summary>
    private static string? RerunRefusal(SqliteConnection c, SqliteTransaction t, StudySpec spec, AttemptRow a, List<string> survivors)
    {
        if (Analytics.Privacy.StudyPrivacy.Rho(spec.Parameters) > 0)
        {
            return null;
        }

        var established = c.Query<string>("SELECT participants_json FROM round_results WHERE study_id=@id ORDER BY round LIMIT 1", new { id = spec.Id.Value }, t).FirstOrDefault();
        if (established is not null)
        {
            var set = JsonSerializer.Deserialize<List<string>>(established) ?? [];
            return set.Order(StringComparer.Ordinal).SequenceEqual(survivors.Order(StringComparer.Ordinal))
                ? null
                : "an exact study keeps the set of hospitals of its first decrypted round for all of its rounds: the nodes refuse a sum over another set (docs/threat-model.md)";
        }

        var sharesIssued = c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@id AND round=@round AND kind=@kind",
            new { id = spec.Id.Value, round = a.round, kind = ContributionKind.DecryptionShare }, t);
        return sharesIssued > 0
            ? "decryption shares were already issued in this exact round: the nodes refuse to decrypt the same values over another set of hospitals (docs/threat-model.md)"
            : null;
    }

    private void CompletePhase(SqliteConnection c, SqliteTransaction t, StudySpec spec, AttemptRow a, DateTimeOffset now)
    {
        var id = spec.Id.Value;
        var deadline = now.AddSeconds(spec.PhaseDeadlineSeconds).ToString("O");
        var args = new { id, round = a.round, attempt = a.attempt };
        switch (a.phase)
        {
            case Phases.KeyCommit:
            case Phases.UpdateCommit:
            {
                // Every participant committed: the set is complete and is relayed; only now may anyone open.
                var opened = a.phase == Phases.KeyCommit ? ContributionKind.KeyShare : ContributionKind.Update;
                var set = CommitmentSetOf(c, t, a, opened);
                c.Execute("UPDATE attempts SET phase=@p, phase_deadline=@deadline WHERE study_id=@id AND round=@round AND attempt=@attempt",
                    new { p = a.phase == Phases.KeyCommit ? Phases.KeyOpen : Phases.UpdateOpen, deadline, args.id, args.round, args.attempt }, t);
                audit.Append(c, t, CoordinatorAuditRecords.CommitmentsComplete(spec, a.round, a.attempt, opened, set.Commitments.Count, set.Digest()), now);
                break;
            }

            case Phases.KeyOpen:
            {
                var shares = Contributions(c, t, a, ContributionKind.KeyShare).Select(s => (ReadOnlyMemory<byte>)s.payload).ToList();
                var key = scheme.AggregatePublicKey(a.crp_seed, shares);
                c.Execute("UPDATE attempts SET phase=@p, collective_key=@key, phase_deadline=@deadline WHERE study_id=@id AND round=@round AND attempt=@attempt",
                    new { p = Phases.UpdateCommit, key, deadline, args.id, args.round, args.attempt }, t);
                audit.Append(c, t, CoordinatorAuditRecords.CollectiveKeyFormed(spec, a.round, a.attempt, shares.Count, SignedStatement.Digest(key)), now);
                break;
            }

            case Phases.UpdateOpen:
            {
                var sum = scheme.NewSum(a.Request.ValueCount);
                var submissions = Contributions(c, t, a, ContributionKind.Update);
                foreach (var s in submissions)
                {
                    sum.Add(s.payload);
                }

                var aggregate = sum.ToBytes();
                var aggregateDigest = SignedStatement.Digest(aggregate);
                c.Execute("UPDATE attempts SET phase=@p, aggregate=@aggregate, aggregate_digest=@digest, phase_deadline=@deadline WHERE study_id=@id AND round=@round AND attempt=@attempt",
                    new { p = Phases.Decrypt, aggregate, digest = aggregateDigest, deadline, args.id, args.round, args.attempt }, t);
                audit.Append(c, t, CoordinatorAuditRecords.RoundAggregated(spec, a.round, a.attempt, submissions.Select(s => SignedStatement.Digest(s.payload)).ToList(), aggregateDigest), now);
                break;
            }

            case Phases.Decrypt:
            {
                var shares = Contributions(c, t, a, ContributionKind.DecryptionShare).Select(s => (ReadOnlyMemory<byte>)s.payload).ToList();
                var sums = scheme.CombineDecryptionShares(a.aggregate!, shares);
                c.Execute("UPDATE attempts SET phase=@p, outcome='decrypted', finished_at=@now WHERE study_id=@id AND round=@round AND attempt=@attempt",
                    new { p = Phases.Done, now = now.ToString("O"), args.id, args.round, args.attempt }, t);
                c.Execute("INSERT INTO round_results(study_id, round, attempt, values_json, participants_json, started_at, finished_at) VALUES (@id, @round, @attempt, @values, @participants, @started, @now)",
                    new { args.id, args.round, args.attempt, values = JsonSerializer.Serialize(sums), participants = a.participants_json, started = a.started_at, now = now.ToString("O") }, t);
                audit.Append(c, t, CoordinatorAuditRecords.ResultDecrypted(spec, a.round, a.attempt, shares.Count, sums.Length), now);
                metrics.RoundsCompleted.Add(1);
                var allSums = c.Query<string>("SELECT values_json FROM round_results WHERE study_id=@id ORDER BY round", new { id }, t)
                    .Select(v => JsonSerializer.Deserialize<long[]>(v)!).ToList();
                StudyResult result;
                try
                {
                    if (algorithms.Get(spec.Algorithm).AggregateRound(spec, (int)a.round, allSums) is not RoundOutcome.Finished finished)
                    {
                        StartAttempt(c, t, spec, (int)a.round + 1, 1, a.Participants, now);
                        break;
                    }

                    result = finished.Result;
                }
                catch (StudyAlgorithmException e)
                {
                    Fail(c, t, spec, now, e.Message);
                    break;
                }

                c.Execute("UPDATE studies SET state=@s, result_json=@r, updated_at=@now WHERE study_id=@id",
                    new { s = States.Completed, r = result.ToJson(), now = now.ToString("O"), id }, t);
                if (result.Model is { } model)
                {
                    c.Execute("INSERT INTO models(model_id, study_id, kind, outcome, created_at, model_json) VALUES (@mid, @id, @kind, @outcome, @now, @json)",
                        new { mid = model.Id, id, kind = model.Kind, outcome = model.Outcome, now = now.ToString("O"), json = model.ToJson() }, t);
                    Event(c, t, now, "model_registered", id, null, model.Id);
                }

                Event(c, t, now, "study_completed", id, null, $"after {a.round} round(s)");
                audit.Append(c, t, CoordinatorAuditRecords.StudyCompleted(spec, a.round), now);
                audit.Checkpoint(c, t, CheckpointReasons.StudyEnd, now);
                break;
            }
        }
    }

    private void StartAttempt(SqliteConnection c, SqliteTransaction t, StudySpec spec, int round, int attempt, List<string> participants, DateTimeOffset now)
    {
        var previous = c.Query<string>("SELECT values_json FROM round_results WHERE study_id=@id ORDER BY round", new { id = spec.Id.Value }, t)
            .Select(v => JsonSerializer.Deserialize<long[]>(v)!).ToList();
        var request = algorithms.Get(spec.Algorithm).ConfigureRound(spec, round, previous);
        c.Execute("""
            INSERT INTO attempts(study_id, round, attempt, phase, participants_json, crp_seed, request_json, phase_deadline, started_at)
            VALUES (@id, @round, @attempt, @phase, @participants, @seed, @request, @deadline, @now)
            """,
            new
            {
                id = spec.Id.Value, round, attempt, phase = Phases.KeyCommit, participants = JsonSerializer.Serialize(participants.Order(StringComparer.Ordinal).ToList()),
                seed = scheme.NewCrpSeed(), request = JsonSerializer.Serialize(request, WireJson.Options),
                deadline = now.AddSeconds(spec.PhaseDeadlineSeconds).ToString("O"), now = now.ToString("O"),
            }, t);
        c.Execute("UPDATE studies SET current_round=@round, current_attempt=@attempt, updated_at=@now WHERE study_id=@id", new { round, attempt, now = now.ToString("O"), id = spec.Id.Value }, t);
        Event(c, t, now, "attempt_started", spec.Id.Value, null, $"round {round} attempt {attempt} with {participants.Count} participant(s)");
        audit.Append(c, t, CoordinatorAuditRecords.AttemptStarted(spec, round, attempt, participants), now);
    }

    private void Fail(SqliteConnection c, SqliteTransaction t, StudySpec spec, DateTimeOffset now, string reason)
    {
        var id = spec.Id.Value;
        c.Execute("UPDATE studies SET state=@s, failure_reason=@reason, updated_at=@now WHERE study_id=@id", new { s = States.Failed, reason, now = now.ToString("O"), id }, t);
        Event(c, t, now, "study_failed", id, null, reason);
        audit.Append(c, t, CoordinatorAuditRecords.StudyFailed(spec, reason), now);
        audit.Checkpoint(c, t, CheckpointReasons.StudyEnd, now);
    }

    /// <summary>
    /// The current attempt. Without <paramref name="ciphertexts"/> its two ciphertext columns are left out (collective_key
    /// and aggregate null): that is what the 200 ms tick and every node's 100 ms work poll read for each running study.
    /// Reading those blobs (about 0.25 and 0.37 MB) there, for nothing, grew with the number of studies running at once:
    /// with the demo's 17 it was most of the coordinator's CPU time, which the nodes' rounds then waited for.
    /// </summary>
    internal static AttemptRow CurrentAttempt(SqliteConnection c, SqliteTransaction? t, string id, long round, long attempt, bool ciphertexts = true) =>
        c.QuerySingle<AttemptRow>(ciphertexts ? AttemptWithCiphertexts : AttemptState, new { id, round, attempt }, t);

    // In AttemptRow's constructor order (Dapper matches a record's constructor column by column).
    private const string AttemptHead = "SELECT study_id, round, attempt, phase, participants_json, crp_seed, request_json, ";
    private const string AttemptTail = ", aggregate_digest, phase_deadline, started_at FROM attempts WHERE study_id=@id AND round=@round AND attempt=@attempt";
    private const string AttemptWithCiphertexts = AttemptHead + "collective_key, aggregate" + AttemptTail;
    private const string AttemptState = AttemptHead + "NULL AS collective_key, NULL AS aggregate" + AttemptTail;

    internal sealed record ContributionRow(string node_id, byte[] payload, byte[] signature, string public_key);

    /// <summary>Every participant's commitment to the opened kind (key-share or update), as the coordinator relays it.</summary>
    internal static CommitmentSet CommitmentSetOf(SqliteConnection c, SqliteTransaction? t, AttemptRow a, string opened) =>
        new(new StudyId(a.study_id), (int)a.round, (int)a.attempt, opened, a.crp_seed,
            [.. Contributions(c, t, a, ContributionKind.CommitmentTo(opened)).Select(k => new SignedCommitment(new NodeId(k.node_id), k.public_key, k.payload, k.signature))]);

    internal static List<ContributionRow> Contributions(SqliteConnection c, SqliteTransaction? t, AttemptRow a, string kind) =>
        c.Query<ContributionRow>("""
            SELECT k.node_id, k.payload, k.signature, n.public_key FROM contributions k JOIN nodes n ON n.node_id = k.node_id
            WHERE k.study_id=@id AND k.round=@round AND k.attempt=@attempt AND k.kind=@kind ORDER BY k.node_id
            """, new { id = a.study_id, round = a.round, attempt = a.attempt, kind }, t).ToList();

    internal static void Event(SqliteConnection c, SqliteTransaction t, DateTimeOffset now, string kind, string? study, string? node, string detail) =>
        c.Execute("INSERT INTO events(at, kind, study_id, node_id, detail) VALUES (@at, @kind, @study, @node, @detail)",
            new { at = now.ToString("O"), kind, study, node, detail }, t);

    [LoggerMessage(Level = LogLevel.Error, Message = "Study {Study} could not be advanced and is failed")]
    private static partial void LogAdvanceFailed(ILogger logger, string study, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Study {Study} round {Round} attempt {Attempt} superseded: {Missing} missed the {Phase} deadline")]
    private static partial void LogRestart(ILogger logger, string study, long round, long attempt, string missing, string phase);
}
