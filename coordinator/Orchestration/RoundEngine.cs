using System.Text.Json;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using System.Data.Common;
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
/// and a study's end signs a checkpoint of the coordinator's audit trail. With replicas on PostgreSQL, every transition of
/// <see cref="Advance"/> begins with the lease's fence (<see cref="LeaderLease.Fence"/>): it commits only while this replica holds the
/// round engine's lease under its token.
/// </summary>
public sealed partial class RoundEngine(CoordinatorStore store, AlgorithmCatalog algorithms, IAdditiveThresholdScheme scheme, CoordinatorMetrics metrics, CoordinatorAuditTrail audit, CoordinatorSignals signals, ILogger<RoundEngine> logger, LeaderLease lease)
{
    public void CreateStudy(StudySpec spec, DateTimeOffset now)
    {
        Validate(spec);
        store.Write((c, t) => CreateStudy(c, t, spec, now));
        signals.PhaseChanged.Pulse(); // an offer is work for every node
    }

    /// <summary>Offers a validated study in the caller's transaction (a template's run is created with its template_runs row); the caller pulses <see cref="CoordinatorSignals.PhaseChanged"/> after the commit.</summary>
    internal void CreateStudy(DbConnection c, DbTransaction t, StudySpec spec, DateTimeOffset now)
    {
        if (StudyQueries.Exists(c, t, spec.Id.Value))
        {
            throw new InvalidOperationException($"A study with id '{spec.Id}' already exists.");
        }

        var specJson = JsonSerializer.Serialize(spec, WireJson.Options);
        StudyQueries.Insert(c, t, spec.Id.Value, specJson, StudyState.Offered, now, now.AddSeconds(spec.PhaseDeadlineSeconds));
        Event(c, t, now, "study_created", spec.Id.Value, null, $"{spec.Algorithm} for {spec.PurposeOfUse}");
        audit.Append(c, t, CoordinatorAuditRecords.StudyCreated(spec, SignedStatement.Digest(System.Text.Encoding.UTF8.GetBytes(specJson))), now);
    }

    /// <summary>Checks a study against its algorithm (the checks <see cref="CreateStudy(StudySpec, DateTimeOffset)"/> makes first).</summary>
    internal void Validate(StudySpec spec)
    {
        algorithms.Get(spec.Algorithm).Validate(spec);
        if (spec.CommitteeThreshold is { } t)
        {
            // 2 ≤ t ≤ min_nodes, as the study file requires (a spec posted as JSON is held to the same), and a scheme that can share keys.
            if (t < 2 || t > spec.MinNodes)
            {
                throw new StudyAlgorithmException($"committee_threshold must be between 2 and min_nodes ({spec.MinNodes}), got {t}.");
            }

            if (scheme is not ICommitteeThresholdScheme)
            {
                throw new StudyAlgorithmException($"The encryption scheme {scheme.Name} has no t-of-n decryption: committee_threshold cannot be used.");
            }
        }
    }

    public bool Cancel(StudyId id, DateTimeOffset now) => store.Write((c, t) =>
    {
        var changed = StudyQueries.CancelIfLive(c, t, id.Value, "cancelled by an analyst", now);
        if (changed)
        {
            RoundQueries.SupersedeLive(c, t, id.Value, "study cancelled", now);
            Event(c, t, now, "study_cancelled", id.Value, null, "cancelled");
            var spec = StudyQueries.Get(c, t, id.Value).Spec;
            audit.Append(c, t, CoordinatorAuditRecords.StudyCancelled(id.Value, spec.PurposeOfUse.Code), now);
            audit.Checkpoint(c, t, CheckpointReasons.StudyEnd, now);
        }

        return changed;
    });

    /// <summary>One pass over every live study.</summary>
    public void Advance(DateTimeOffset now)
    {
        var live = store.Read(StudyQueries.LiveIds);
        foreach (var id in live)
        {
            try
            {
                if (store.Write((c, t) => AdvanceStudy(c, t, id, now)))
                {
                    signals.PhaseChanged.Pulse(); // nodes long-polling for work see the new phase at once
                }
            }
            catch (Exception e) when (e is not (OperationCanceledException or LeaseLostException) && !store.Dialect.IsStorageError(e))
            {
                // A transition that throws rolls back, and the same stored state would throw again on every tick: the study
                // would stay running forever (and, before this, stop every later study in the pass from advancing). An
                // algorithm, codec or decryption error is deterministic, so the study fails with the reason recorded.
                // Storage errors (the engine's own: SQLite busy or locked, PostgreSQL unreachable or conflicts past Write's retries)
                // are transient and are retried on the next tick. A fenced write (LeaseLostException) is no error of the study's:
                // the replica that holds the lease advances it.
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
            lease.Fence(c, t);
            var study = StudyQueries.Get(c, t, id);
            if (study.State is StudyState.Offered or StudyState.Running)
            {
                RoundQueries.SupersedeLive(c, t, id, "study failed", now);
                Fail(c, t, study.Spec, now, reason);
            }
        });
        signals.PhaseChanged.Pulse();
    }

    /// <summary>One study's transition, if any is due; true when something changed.</summary>
    private bool AdvanceStudy(DbConnection c, DbTransaction t, string id, DateTimeOffset now)
    {
        lease.Fence(c, t); // first: the transaction's snapshot begins with the lease row locked
        var study = StudyQueries.Get(c, t, id);
        var spec = study.Spec;
        if (study.State == StudyState.Offered)
        {
            var accepted = StudyQueries.AcceptedNodes(c, t, id);
            var decided = StudyQueries.DecisionCount(c, t, id);
            var enrolled = NodeQueries.ActiveCount(c, t);
            var offerClosed = now > study.OfferedUntil;
            if (accepted.Count >= spec.MaxNodes || (accepted.Count >= spec.MinNodes && (decided >= enrolled || offerClosed)))
            {
                StudyQueries.SetState(c, t, id, StudyState.Running, now);
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

        var a = RoundQueries.Attempt(c, t, id, study.current_round, study.current_attempt, ciphertexts: false);
        if (a.Phase.Kind() is not { } kind)
        {
            return false;
        }

        var contributors = RoundQueries.Contributors(c, t, id, a.round, a.attempt, kind);
        var participants = a.Participants;
        var complete = participants.All(contributors.Contains);
        if (spec.CommitteeThreshold is { } threshold)
        {
            // t-of-n: decrypt_ready completes with the first t ready participants (the rest may have gone: that is the point), and
            // decrypt with the shares of that decrypting set; a member of it that does not answer supersedes the attempt, as before.
            if (a.Phase == AttemptPhase.DecryptReady)
            {
                complete = contributors.Count >= threshold;
            }
            else if (a.Phase == AttemptPhase.Decrypt)
            {
                var decryptSet = DecryptSet(c, t, a, threshold);
                complete = decryptSet.All(contributors.Contains);
                if (!complete && now > a.Deadline)
                {
                    var gone = decryptSet.Where(p => !contributors.Contains(p)).ToList();
                    var ready = RoundQueries.Contributors(c, t, id, a.round, a.attempt, ContributionKind.DecryptReady);
                    return Supersede(c, t, spec, a, gone, [.. participants.Where(p => ready.Contains(p) && !gone.Contains(p))], now);
                }
            }
        }

        if (complete)
        {
            CompletePhase(c, t, spec, RoundQueries.Attempt(c, t, id, a.round, a.attempt), now);
            return true;
        }

        if (now > a.Deadline)
        {
            return Supersede(c, t, spec, a, [.. participants.Where(p => !contributors.Contains(p))], [.. participants.Where(contributors.Contains)], now);
        }

        return false;
    }

    /// <summary>
    /// Ends an attempt whose phase deadline passed with <paramref name="missing"/> silent, and starts the next among the survivors (those
    /// who contributed to the phase that failed) when they are enough and the nodes would take part, else fails the study.
    /// </summary>
    private bool Supersede(DbConnection c, DbTransaction t, StudySpec spec, AttemptRow a, List<string> missing, List<string> survivors, DateTimeOffset now)
    {
        var id = spec.Id.Value;
        RoundQueries.Finish(c, t, id, a.round, a.attempt, AttemptPhase.Superseded, $"{string.Join(", ", missing)} missed the {a.phase} deadline", now);
        store.AfterCommit(t, () => metrics.AttemptsRestarted.Add(1));
        Event(c, t, now, "attempt_superseded", id, null, $"round {a.round} attempt {a.attempt}: dropped {string.Join(", ", missing)} in {a.phase}");
        audit.Append(c, t, CoordinatorAuditRecords.AttemptSuperseded(spec, a.round, a.attempt, a.phase, missing), now);
        store.AfterCommit(t, () => LogRestart(logger, id, a.round, a.attempt, string.Join(", ", missing), a.phase));
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

    /// <summary>
    /// Why the survivors' re-run would be refused by the nodes themselves (RoundParticipant's participant-set rule), so the study
    /// fails with that reason instead of running an attempt that cannot end: an exact study (no dp_rho) is bound to one set of
    /// hospitals once any of them issued a decryption share, in this round or an earlier one (a DP study re-runs with fresh noise).
    /// </summary>
    private static string? RerunRefusal(DbConnection c, DbTransaction t, StudySpec spec, AttemptRow a, List<string> survivors)
    {
        if (Analytics.Privacy.StudyPrivacy.Rho(spec.Parameters) > 0)
        {
            return null;
        }

        if (RoundQueries.FirstRoundParticipants(c, t, spec.Id.Value) is { } set)
        {
            return set.Order(StringComparer.Ordinal).SequenceEqual(survivors.Order(StringComparer.Ordinal))
                ? null
                : "an exact study keeps the set of hospitals of its first decrypted round for all of its rounds: the nodes refuse a sum over another set (docs/threat-model.md)";
        }

        var sharesIssued = RoundQueries.ContributionsInRound(c, t, spec.Id.Value, a.round, ContributionKind.DecryptionShare);
        return sharesIssued > 0
            ? "decryption shares were already issued in this exact round: the nodes refuse to decrypt the same values over another set of hospitals (docs/threat-model.md)"
            : null;
    }

    private void CompletePhase(DbConnection c, DbTransaction t, StudySpec spec, AttemptRow a, DateTimeOffset now)
    {
        var id = spec.Id.Value;
        var deadline = now.AddSeconds(spec.PhaseDeadlineSeconds);
        switch (a.Phase)
        {
            case AttemptPhase.KeyCommit:
            case AttemptPhase.UpdateCommit:
            {
                // Every participant committed: the set is complete and is relayed; only now may anyone open.
                var opened = a.Phase == AttemptPhase.KeyCommit ? ContributionKind.KeyShare : ContributionKind.Update;
                var set = CommitmentSetOf(c, t, a, opened);
                RoundQueries.SetPhase(c, t, id, a.round, a.attempt, a.Phase == AttemptPhase.KeyCommit ? AttemptPhase.KeyOpen : AttemptPhase.UpdateOpen, deadline);
                audit.Append(c, t, CoordinatorAuditRecords.CommitmentsComplete(spec, a.round, a.attempt, opened, set.Commitments.Count, set.Digest()), now);
                break;
            }

            case AttemptPhase.KeyOpen:
            {
                var shares = Contributions(c, t, a, ContributionKind.KeyShare).Select(s => (ReadOnlyMemory<byte>)s.payload).ToList();
                var key = scheme.AggregatePublicKey(a.crp_seed, shares);
                RoundQueries.SetCollectiveKey(c, t, id, a.round, a.attempt, spec.CommitteeThreshold is null ? AttemptPhase.UpdateCommit : AttemptPhase.ShareDeal, key, deadline);
                audit.Append(c, t, CoordinatorAuditRecords.CollectiveKeyFormed(spec, a.round, a.attempt, shares.Count, SignedStatement.Digest(key)), now);
                break;
            }

            case AttemptPhase.UpdateOpen:
            {
                var sum = scheme.NewSum(a.Request.ValueCount);
                var submissions = Contributions(c, t, a, ContributionKind.Update);
                foreach (var s in submissions)
                {
                    sum.Add(s.payload);
                }

                var aggregate = sum.ToBytes();
                var aggregateDigest = SignedStatement.Digest(aggregate);
                RoundQueries.SetAggregate(c, t, id, a.round, a.attempt, spec.CommitteeThreshold is null ? AttemptPhase.Decrypt : AttemptPhase.DecryptReady, aggregate, aggregateDigest, deadline);
                audit.Append(c, t, CoordinatorAuditRecords.RoundAggregated(spec, a.round, a.attempt, submissions.Select(s => SignedStatement.Digest(s.payload)).ToList(), aggregateDigest), now);
                break;
            }

            case AttemptPhase.ShareDeal:
            {
                // Every key holder dealt: each node now fetches the shares addressed to it and forms its committee secret before it encrypts.
                RoundQueries.SetPhase(c, t, id, a.round, a.attempt, AttemptPhase.UpdateCommit, deadline);
                Event(c, t, now, "shares_dealt", id, null, $"round {a.round} attempt {a.attempt}: {a.Participants.Count} dealer(s), threshold {spec.CommitteeThreshold}");
                break;
            }

            case AttemptPhase.DecryptReady:
            {
                var threshold = spec.CommitteeThreshold!.Value;
                var decryptSet = DecryptSet(c, t, a, threshold);
                RoundQueries.SetPhase(c, t, id, a.round, a.attempt, AttemptPhase.Decrypt, deadline);
                var ready = RoundQueries.Contributors(c, t, id, a.round, a.attempt, ContributionKind.DecryptReady).Count;
                Event(c, t, now, "decrypt_set_chosen", id, null, $"round {a.round} attempt {a.attempt}: {string.Join(", ", decryptSet)} of {ready} ready");
                audit.Append(c, t, CoordinatorAuditRecords.DecryptSetChosen(spec, a.round, a.attempt, threshold, decryptSet, ready), now);
                break;
            }

            case AttemptPhase.Decrypt:
            {
                var shares = Contributions(c, t, a, ContributionKind.DecryptionShare).Select(s => (ReadOnlyMemory<byte>)s.payload).ToList();
                var sums = scheme.CombineDecryptionShares(a.aggregate!, shares);
                RoundQueries.Finish(c, t, id, a.round, a.attempt, AttemptPhase.Done, "decrypted", now);
                RoundQueries.InsertResult(c, t, id, a.round, a.attempt, sums, a.participants_json, a.started_at, now);
                audit.Append(c, t, CoordinatorAuditRecords.ResultDecrypted(spec, a.round, a.attempt, shares.Count, sums.Length), now);
                store.AfterCommit(t, () => metrics.RoundsCompleted.Add(1));
                var allSums = RoundQueries.Sums(c, t, id);
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

                StudyQueries.SetCompleted(c, t, id, result.ToJson(), now);
                if (result.Model is { } model)
                {
                    // A template's run adds a version to its model lineage, with the data it was trained on (ModelLineage).
                    var (json, lineage, version) = Registry.ModelLineage.Register(c, t, spec, model);
                    RegistryQueries.Insert(c, t, model.Id, id, model.Kind, model.Outcome, now, json, lineage, version);
                    Event(c, t, now, "model_registered", id, null, version is { } v ? $"{model.Id} (version {v} of {lineage})" : model.Id);
                }

                Event(c, t, now, "study_completed", id, null, $"after {a.round} round(s)");
                audit.Append(c, t, CoordinatorAuditRecords.StudyCompleted(spec, a.round), now);
                audit.Checkpoint(c, t, CheckpointReasons.StudyEnd, now);
                break;
            }
        }
    }

    private void StartAttempt(DbConnection c, DbTransaction t, StudySpec spec, int round, int attempt, List<string> participants, DateTimeOffset now)
    {
        var previous = RoundQueries.Sums(c, t, spec.Id.Value);
        var request = algorithms.Get(spec.Algorithm).ConfigureRound(spec, round, previous);
        RoundQueries.InsertAttempt(c, t, spec.Id.Value, round, attempt, AttemptPhase.KeyCommit, [.. participants.Order(StringComparer.Ordinal)],
            scheme.NewCrpSeed(), JsonSerializer.Serialize(request, WireJson.Options), now.AddSeconds(spec.PhaseDeadlineSeconds), now);
        StudyQueries.SetCurrentAttempt(c, t, spec.Id.Value, round, attempt, now);
        Event(c, t, now, "attempt_started", spec.Id.Value, null, $"round {round} attempt {attempt} with {participants.Count} participant(s)");
        audit.Append(c, t, CoordinatorAuditRecords.AttemptStarted(spec, round, attempt, participants), now);
    }

    private void Fail(DbConnection c, DbTransaction t, StudySpec spec, DateTimeOffset now, string reason)
    {
        var id = spec.Id.Value;
        StudyQueries.SetFailed(c, t, id, reason, now);
        Event(c, t, now, "study_failed", id, null, reason);
        audit.Append(c, t, CoordinatorAuditRecords.StudyFailed(spec, reason), now);
        audit.Checkpoint(c, t, CheckpointReasons.StudyEnd, now);
    }

    /// <summary>
    /// Every participant's commitment to the opened kind (key-share or update), as the coordinator relays it; in a t-of-n study each
    /// key-share commitment with the channel key its signature covers.
    /// </summary>
    internal static CommitmentSet CommitmentSetOf(DbConnection c, DbTransaction? t, AttemptRow a, string opened)
    {
        var channels = opened == ContributionKind.KeyShare
            ? Contributions(c, t, a, ContributionKind.ChannelKey).ToDictionary(k => k.node_id, k => k.payload, StringComparer.Ordinal)
            : [];
        return new(new StudyId(a.study_id), (int)a.round, (int)a.attempt, opened, a.crp_seed,
            [.. Contributions(c, t, a, ContributionKind.CommitmentTo(opened)).Select(k => new SignedCommitment(new NodeId(k.node_id), k.public_key, k.payload, k.signature, channels.GetValueOrDefault(k.node_id)))]);
    }

    /// <summary>
    /// A t-of-n attempt's decrypting set: the first <paramref name="threshold"/> participants whose signed decrypt-ready arrived (ties by
    /// node id). Fixed once the attempt leaves decrypt_ready, since no decrypt-ready is taken after: the choice is its stored rows.
    /// </summary>
    internal static List<string> DecryptSet(DbConnection c, DbTransaction? t, AttemptRow a, int threshold) =>
        [.. RoundQueries.ContributorsInOrder(c, t, a.study_id, a.round, a.attempt, ContributionKind.DecryptReady).Take(threshold)];

    internal static List<ContributionRow> Contributions(DbConnection c, DbTransaction? t, AttemptRow a, string kind) =>
        RoundQueries.Contributions(c, t, a.study_id, a.round, a.attempt, kind);

    internal static void Event(DbConnection c, DbTransaction t, DateTimeOffset now, string kind, string? study, string? node, string detail) =>
        EventQueries.Append(c, t, now, kind, study, node, detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "Study {Study} could not be advanced and is failed")]
    private static partial void LogAdvanceFailed(ILogger logger, string study, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Study {Study} round {Round} attempt {Attempt} superseded: {Missing} missed the {Phase} deadline")]
    private static partial void LogRestart(ILogger logger, string study, long round, long attempt, string missing, string phase);
}
