using Dapper;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Audit;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// A contribution the node will not make, with the reason it gives (and logs and records) and, for the checks against the
/// accepted study (<see cref="AcceptedStudy"/>), the rule that refused it, so an auditor can count refusals by rule.
/// </summary>
public sealed class ParticipationRefusedException(string reason, string? rule = null) : Exception(reason)
{
    public string? Rule { get; } = rule;
}

/// <summary>
/// The node's side of a round (docs/protocol.md). Before encrypting it checks that the collective
/// key is the sum of the listed signed shares, its own included, from at least the study's minimum
/// of distinct enrolled nodes; before decrypting it checks that the aggregate is the sum of at least
/// that many signed submissions, its own included, and that the attempt is neither superseded nor
/// past its deadline. Every contribution is stored before it is sent, so a retry sends the same bytes,
/// and audited in the same transaction (by SHA-256); every refusal is audited with its reason. Before any
/// of that, every phase checks the work against the study as this node accepted it (<see cref="AcceptedStudy"/>):
/// never a study it did not accept, never changed parameters, never a DP round beyond the plan it was charged for.
/// </summary>
public sealed partial class RoundParticipant(NodeDirectory node, IAdditiveThresholdScheme scheme, IEnumerable<ILocalAlgorithm> algorithms, ILogger<RoundParticipant> logger)
{
    private readonly Dictionary<string, ILocalAlgorithm> _algorithms = algorithms.ToDictionary(a => a.Name, StringComparer.Ordinal);

    /// <summary>Phase keygen: a fresh secret for this attempt, sealed at rest; returns the signed public share.</summary>
    public Contribution KeyShare(WorkItem work) => AuditRefusal(AuditActions.KeyShareRefused, work, () =>
    {
        // Refused before any key exists: no collective key can be formed for a round this node would not contribute to.
        _ = CheckAccepted(work);
        RaiseWatermark(work);
        var stored = node.Store.Read(c => c.QuerySingleOrDefault<byte[]?>("SELECT key_share FROM attempt_keys WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        if (stored is null)
        {
            var secret = scheme.GenerateSecret();
            var share = scheme.GeneratePublicKeyShare(secret, work.CrpSeed ?? throw new ParticipationRefusedException("The key-share request carries no CRP seed."));
            node.Store.Write((c, t) =>
            {
                var inserted = c.Execute("INSERT OR IGNORE INTO attempt_keys(study_id, round, attempt, sealed_secret, key_share, created_at) VALUES (@s, @r, @a, @secret, @share, @now)",
                    new { s = work.Study.Id.Value, r = work.Round, a = work.Attempt, secret = node.Protector.Protect(secret.Export()), share, now = DateTimeOffset.UtcNow.ToString("O") }, t);
                if (inserted == 1)
                {
                    node.Audit.Append(c, t, NodeAuditRecords.KeyShareGenerated(work, SignedStatement.Digest(share)));
                }

                return inserted;
            });
            stored = node.Store.Read(c => c.QuerySingle<byte[]>("SELECT key_share FROM attempt_keys WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        }

        return Sign(SignedStatement.KeyShare, work, stored);
    });

    /// <summary>Phase encrypt: verify the collective key, compute, encrypt and sign this site's update.</summary>
    public Contribution Update(WorkItem work, CollectiveKeyAnnouncement key, IReadOnlyList<NodeRecord> roster) => AuditRefusal(AuditActions.SubmissionRefused, work, () =>
    {
        var accepted = CheckAccepted(work);
        CheckNotSuperseded(work);
        var ownShare = node.Store.Read(c => c.QuerySingleOrDefault<byte[]?>("SELECT key_share FROM attempt_keys WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)))
            ?? throw new ParticipationRefusedException("This node holds no key share for the attempt: it cannot have contributed to the collective key.");
        var shares = CheckSignedList(key.Shares, SignedStatement.KeyShare, work, accepted, roster, "key share");
        if (!shares.Any(s => s.Payload.AsSpan().SequenceEqual(ownShare)))
        {
            throw new ParticipationRefusedException("The collective key's list of shares does not include this node's share.");
        }

        var recomputed = scheme.AggregatePublicKey(key.CrpSeed, shares.Select(s => (ReadOnlyMemory<byte>)s.Payload).ToList());
        if (!recomputed.AsSpan().SequenceEqual(key.CollectiveKey) || !key.CrpSeed.AsSpan().SequenceEqual(work.CrpSeed))
        {
            throw new ParticipationRefusedException("The collective key is not the sum of the listed signed shares over the attempt's CRP: refusing to encrypt under it.");
        }

        var stored = node.Store.Read(c => c.QuerySingleOrDefault<byte[]?>("SELECT ciphertext FROM submissions WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        if (stored is null)
        {
            var request = work.Request ?? throw new ParticipationRefusedException("The round request is missing.");
            var algorithm = _algorithms.GetValueOrDefault(request.Algorithm) ?? throw new ParticipationRefusedException($"This node has no local algorithm {request.Algorithm}.");
            var statistics = Statistics(work, accepted, request, algorithm);
            var values = statistics.Values;
            var ciphertext = scheme.Encrypt(key.CollectiveKey, values);
            var digest = SignedStatement.Digest(ciphertext);
            node.Store.Write((c, t) =>
            {
                var inserted = c.Execute("INSERT OR IGNORE INTO submissions(study_id, round, attempt, ciphertext, digest, value_count, submitted_at) VALUES (@s, @r, @a, @ct, @d, @n, @now)",
                    new { s = work.Study.Id.Value, r = work.Round, a = work.Attempt, ct = ciphertext, d = digest, n = values.Length, now = DateTimeOffset.UtcNow.ToString("O") }, t);
                if (inserted == 1)
                {
                    // What leaves the node: recorded once, when sealed; a retry sends these same bytes.
                    node.Audit.Append(c, t, NodeAuditRecords.Submission(work, digest, values.Length, ciphertext.Length, statistics.Blocks));
                }

                return inserted;
            });
            stored = node.Store.Read(c => c.QuerySingle<byte[]>("SELECT ciphertext FROM submissions WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        }

        return Sign(SignedStatement.Update, work, stored);
    });

    /// <summary>Phase decrypt: verify the aggregate and return this node's one decryption share for it.</summary>
    public Contribution DecryptionShare(WorkItem work, AggregateAnnouncement aggregate, IReadOnlyList<NodeRecord> roster, DateTimeOffset now) => AuditRefusal(AuditActions.DecryptionShareRefused, work, () =>
    {
        var accepted = CheckAccepted(work);
        CheckNotSuperseded(work);
        if (now > aggregate.Deadline || (work.Deadline is { } d && now > d))
        {
            throw new ParticipationRefusedException($"The attempt's decryption deadline has passed: no share is issued late (a late share could be combined with a later attempt to reveal this node's update).");
        }

        var digest = SignedStatement.Digest(aggregate.Aggregate);
        var issued = node.Store.Read(c => c.QuerySingleOrDefault<(string aggregate_digest, byte[] share)?>(
            "SELECT aggregate_digest, share FROM decryption_shares WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        if (issued is { } previous)
        {
            return previous.aggregate_digest == digest
                ? Sign(SignedStatement.DecryptionShare, work, previous.share, digest)
                : throw new ParticipationRefusedException("This node already issued a decryption share for another aggregate of the same attempt.");
        }

        var own = node.Store.Read(c => c.QuerySingleOrDefault<byte[]?>("SELECT ciphertext FROM submissions WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)))
            ?? throw new ParticipationRefusedException("This node submitted nothing to the attempt.");
        var submissions = CheckSignedList(aggregate.Submissions, SignedStatement.Update, work, accepted, roster, "submission");
        if (!submissions.Any(s => s.Payload.AsSpan().SequenceEqual(own)))
        {
            throw new ParticipationRefusedException("The aggregate's list of submissions does not include this node's submission.");
        }

        var sum = scheme.NewSum(work.Request?.ValueCount ?? throw new ParticipationRefusedException("The round request is missing."));
        foreach (var s in submissions)
        {
            sum.Add(s.Payload);
        }

        if (!sum.ToBytes().AsSpan().SequenceEqual(aggregate.Aggregate))
        {
            throw new ParticipationRefusedException("The aggregate is not the sum of the listed signed submissions: refusing to help decrypt it.");
        }

        var sealedSecret = node.Store.Read(c => c.QuerySingle<byte[]>("SELECT sealed_secret FROM attempt_keys WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        var share = scheme.GenerateDecryptionShare(scheme.ImportSecret(node.Protector.Unprotect(sealedSecret)), aggregate.Aggregate);
        node.Store.Write((c, t) =>
        {
            var inserted = c.Execute("INSERT OR IGNORE INTO decryption_shares(study_id, round, attempt, aggregate_digest, share, issued_at) VALUES (@s, @r, @a, @d, @share, @now)",
                new { s = work.Study.Id.Value, r = work.Round, a = work.Attempt, d = digest, share, now = now.ToString("O") }, t);
            if (inserted == 1)
            {
                // The node's part in the round ends here: record the share and sign the trail's head.
                node.Audit.Append(c, t, NodeAuditRecords.DecryptionShareIssued(work, digest, submissions.Count, SignedStatement.Digest(share)));
                node.Audit.Checkpoint(c, t, CheckpointReasons.Round);
            }

            return inserted;
        });
        var stored = node.Store.Read(c => c.QuerySingle<(string aggregate_digest, byte[] share)>("SELECT aggregate_digest, share FROM decryption_shares WHERE study_id=@s AND round=@r AND attempt=@a", Args(work)));
        return Sign(SignedStatement.DecryptionShare, work, stored.share, stored.aggregate_digest);
    });

    /// <summary>Runs a phase; a refusal is audited (with its reason) before it propagates.</summary>
    private Contribution AuditRefusal(string action, WorkItem work, Func<Contribution> phase)
    {
        try
        {
            return phase();
        }
        catch (ParticipationRefusedException e)
        {
            node.Audit.Append(NodeAuditRecords.Refused(action, work, e.Message, e.Rule));
            throw;
        }
    }

    /// <summary>
    /// The work against the study this node accepted: that study, unchanged; its algorithm; the round within a DP study's
    /// plan; the request's parameters exactly the study's (a KeyShare or Decrypt item carries the request too: checked
    /// there as well, so a round the node would refuse to compute gets no key share either).
    /// </summary>
    private AcceptedStudy CheckAccepted(WorkItem work)
    {
        var accepted = AcceptedStudy.Load(node.Store, work.Study.Id);
        accepted.CheckSameStudy(work.Study);
        var algorithm = _algorithms.GetValueOrDefault(accepted.Spec.Algorithm) ?? throw new ParticipationRefusedException($"This node has no local algorithm {accepted.Spec.Algorithm}.");
        accepted.CheckRound(work.Round, algorithm, scheme.MaxParties);
        if (work.Request is { } request)
        {
            accepted.CheckRequest(request, algorithm);
        }

        return accepted;
    }

    /// <summary>At least the accepted study's minimum of distinct enrolled nodes, each item signed by the node it names, for this attempt.</summary>
    private List<SignedContribution> CheckSignedList(IReadOnlyList<SignedContribution> items, string kind, WorkItem work, AcceptedStudy accepted, IReadOnlyList<NodeRecord> roster, string what)
    {
        var enrolled = roster.ToDictionary(n => n.NodeId.Value, n => n.PublicKey, StringComparer.Ordinal);
        var distinct = items.Select(i => i.Node.Value).Distinct(StringComparer.Ordinal).Count();
        if (distinct != items.Count)
        {
            throw new ParticipationRefusedException($"A node appears twice in the list of {what}s.");
        }

        if (distinct < accepted.Spec.MinNodes || distinct < node.LoadPolicy().MinimumNodes)
        {
            throw new ParticipationRefusedException($"Only {distinct} {what}(s) are listed; the study requires at least {accepted.Spec.MinNodes} nodes and this site {node.LoadPolicy().MinimumNodes}.");
        }

        foreach (var item in items)
        {
            if (!enrolled.TryGetValue(item.Node.Value, out var key) || key != item.NodePublicKey)
            {
                throw new ParticipationRefusedException($"A {what} comes from {item.Node}, which is not an enrolled node with that key.");
            }

            if (!Ed25519Identity.Verify(key, SignedStatement.For(kind, work.Study.Id, work.Round, work.Attempt, item.Payload), item.Signature))
            {
                throw new ParticipationRefusedException($"The {what} of {item.Node} is not signed by that node for this attempt.");
            }
        }

        return [.. items];
    }

    /// <summary>Records the highest attempt seen per round: shares are never issued for an attempt below it.</summary>
    private void RaiseWatermark(WorkItem work) => node.Store.Write((c, t) => c.Execute("""
        INSERT INTO attempt_watermarks(study_id, round, highest_attempt) VALUES (@s, @r, @a)
        ON CONFLICT(study_id, round) DO UPDATE SET highest_attempt = MAX(highest_attempt, excluded.highest_attempt)
        """, Args(work), t));

    private void CheckNotSuperseded(WorkItem work)
    {
        var highest = node.Store.Read(c => c.QuerySingleOrDefault<long?>("SELECT highest_attempt FROM attempt_watermarks WHERE study_id=@s AND round=@r", Args(work)));
        if (highest is { } h && work.Attempt < h)
        {
            throw new ParticipationRefusedException($"Attempt {work.Attempt} of round {work.Round} was superseded by attempt {h}: this node contributes nothing more to it.");
        }
    }

    private Contribution Sign(string kind, WorkItem work, byte[] payload, string? aggregateDigest = null) =>
        new(work.Study.Id, work.Round, work.Attempt, payload, node.Identity.Sign(SignedStatement.For(kind, work.Study.Id, work.Round, work.Attempt, payload, aggregateDigest)), aggregateDigest);

    /// <summary>
    /// The round's values. A round that adds DP noise is charged to the privacy ledger once, with the noised vector kept:
    /// a later attempt of the same round and request gets the same noisy values (no fresh draw, no second spend); a
    /// different request for a round already spent is refused. The round's ρ must be the accepted study's charge over
    /// its planned rounds, and the study's rounds together may not spend more than was charged.
    /// </summary>
    private LocalStatistics Statistics(WorkItem work, AcceptedStudy accepted, RoundRequest request, ILocalAlgorithm algorithm)
    {
        var rho = algorithm.RoundRho(request, scheme.MaxParties);
        var spentByOtherRounds = node.Store.Read(c => c.ExecuteScalar<double?>("SELECT SUM(rho) FROM privacy_rounds WHERE study_id=@s AND round<>@r", Args(work))) ?? 0;
        accepted.CheckSpend(rho, spentByOtherRounds, algorithm, scheme.MaxParties);
        if (rho <= 0)
        {
            return algorithm.Compute(request, node, scheme.MaxParties);
        }

        var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(WireJson.Serialize(request)));
        var kept = node.Store.Read(c => c.QuerySingleOrDefault<(string request_sha256, byte[] noised_values)?>(
            "SELECT request_sha256, noised_values FROM privacy_rounds WHERE study_id=@s AND round=@r", Args(work)));
        if (kept is { } previous)
        {
            // A retried attempt re-sends the kept noisy values; the layout (the audit's statistic kinds) is the request's.
            // The freshly computed values are discarded unreleased, so they spend nothing.
            return previous.request_sha256 == digest
                ? algorithm.Compute(request, node, scheme.MaxParties) with { Values = FromBytes(previous.noised_values) }
                : throw new ParticipationRefusedException("This round already released noisy statistics for another request: a second release would spend its privacy budget again.");
        }

        var statistics = algorithm.Compute(request, node, scheme.MaxParties);
        node.Store.Write((c, t) => c.Execute(
            "INSERT OR IGNORE INTO privacy_rounds(study_id, round, purpose, year, rho, algorithm, request_sha256, noised_values, recorded_at) VALUES (@s, @r, @p, @year, @rho, @alg, @d, @v, @now)",
            new { s = work.Study.Id.Value, r = work.Round, p = work.Study.PurposeOfUse.Code, year = DateTimeOffset.UtcNow.Year, rho, alg = request.Algorithm, d = digest, v = ToBytes(statistics.Values), now = DateTimeOffset.UtcNow.ToString("O") }, t));
        return statistics with { Values = FromBytes(node.Store.Read(c => c.QuerySingle<byte[]>("SELECT noised_values FROM privacy_rounds WHERE study_id=@s AND round=@r", Args(work)))) };
    }

    private static byte[] ToBytes(long[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static long[] FromBytes(byte[] bytes) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(bytes).ToArray();

    private static object Args(WorkItem work) => new { s = work.Study.Id.Value, r = work.Round, a = work.Attempt };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused to contribute to {Study} round {Round} attempt {Attempt}: {Reason}")]
    internal static partial void LogRefusal(ILogger logger, string study, int round, int attempt, string reason);

    internal ILogger Logger => logger;
}
