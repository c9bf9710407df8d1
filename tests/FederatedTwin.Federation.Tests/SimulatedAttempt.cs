using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>Another hospital of the federation: a real Ed25519 identity on the roster and a real key holder in each attempt.</summary>
internal sealed class Peer(string name) : IDisposable
{
    private readonly Dictionary<(int Round, int Attempt), ThresholdSecret> _secrets = [];

    public string Name { get; } = name;

    public NodeId Id { get; } = new("node-" + name);

    public Ed25519Identity Identity { get; } = Ed25519Identity.Generate();

    public string Key => Identity.PublicKey;

    /// <summary>This peer's fresh secret for an attempt (one per attempt, as an honest node makes).</summary>
    public ThresholdSecret Secret(int round, int attempt, IAdditiveThresholdScheme scheme) =>
        _secrets.TryGetValue((round, attempt), out var s) ? s : _secrets[(round, attempt)] = scheme.GenerateSecret();

    public void Dispose() => Identity.Dispose();
}

/// <summary>
/// A node under test and the federation around it, in process: the peers of its pinned roster (approved by the node's own compliance
/// officer, as `ftwin roster sign` and `ftwin node roster pin` do), ready to run attempts against it with <see cref="SimulatedAttempt"/>.
/// </summary>
internal sealed class SimulatedFederation : IDisposable
{
    private SimulatedFederation(NodeDirectory node, List<Peer> peers, Ed25519Identity officer)
    {
        Node = node;
        Peers = peers;
        Officer = officer;
    }

    public static IAdditiveThresholdScheme Scheme { get; } = RlweThresholdScheme.Default;

    public NodeDirectory Node { get; }

    public List<Peer> Peers { get; }

    /// <summary>The node's compliance officer (listed in its policy-signers.txt).</summary>
    public Ed25519Identity Officer { get; }

    public string Self => Node.Identity.PublicKey;

    /// <summary>Lists an officer for the node, and pins roster version 1 of the node and <paramref name="peers"/> new peers, approved by that officer.</summary>
    public static SimulatedFederation Around(NodeDirectory node, int peers)
    {
        var officer = Ed25519Identity.Generate();
        File.WriteAllText(Path.Combine(node.Path, PolicySignature.SignersFile), $"officer {officer.PublicKey}\n");
        var federation = new SimulatedFederation(node, [.. Enumerable.Range(0, peers).Select(i => new Peer($"peer{i}"))], officer);
        federation.Pin(1, federation.Peers);
        return federation;
    }

    /// <summary>A roster document of this node and <paramref name="members"/>, approved by the node's officer (or unapproved).</summary>
    public SignedRoster Roster(int version, IEnumerable<Peer> members, bool approved = true)
    {
        var roster = new SignedRoster(new FederationRoster("test-aco", version, [new RosterMember("self", Self), .. members.Select(p => new RosterMember(p.Name, p.Key))]), []);
        return approved ? roster.Approve(Officer) : roster;
    }

    public PinnedRoster Pin(int version, IEnumerable<Peer> members) => PinnedRoster.Pin(Node, Roster(version, members).ToJson(), "test");

    public void Dispose()
    {
        Peers.ForEach(p => p.Dispose());
        Officer.Dispose();
    }
}

/// <summary>
/// One attempt of a round against a real <see cref="RoundParticipant"/>, with every other message built as honest peers and an honest
/// coordinator would build it: commitments and openings really signed, the collective key and the aggregate really the sums. A test
/// runs the phases in order and may tamper with any message in between, as a malicious coordinator would. <paramref name="clock"/> is
/// the coordinator's clock, which dates the deadline each work item announces (the node keeps its own: RoundParticipant).
/// </summary>
internal sealed class SimulatedAttempt(RoundParticipant participant, SimulatedFederation federation, StudySpec study, RoundRequest request, int round = 1, int attempt = 1, IReadOnlyList<Peer>? peers = null, byte[]? seed = null, TimeProvider? clock = null)
{
    private static IAdditiveThresholdScheme Scheme => SimulatedFederation.Scheme;

    private readonly Dictionary<string, byte[]> _keyShares = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _updates = new(StringComparer.Ordinal);

    public byte[] Seed { get; } = seed ?? Scheme.NewCrpSeed();

    public IReadOnlyList<Peer> Peers { get; } = peers ?? federation.Peers;

    public int Round => round;

    public int Attempt => attempt;

    public CommitmentSet? KeySet { get; private set; }

    public CollectiveKeyAnnouncement? Key { get; private set; }

    public CommitmentSet? UpdateSet { get; private set; }

    public AggregateAnnouncement? Aggregate { get; private set; }

    public byte[]? OwnUpdate { get; private set; }

    public WorkItem Work(WorkKind kind) => new(kind, study, round, attempt, (clock ?? TimeProvider.System).GetUtcNow().AddSeconds(study.PhaseDeadlineSeconds), Seed, request);

    /// <summary>Phase 1 at the node, and every peer's commitment: the complete key-share commitment set.</summary>
    public CommitmentSet CommitKeys()
    {
        var own = participant.CommitKeyShare(Work(WorkKind.CommitKeyShare));
        var commitments = new List<SignedCommitment> { new(new NodeId("node-self"), federation.Self, own.Payload, own.Signature) };
        foreach (var p in Peers)
        {
            var share = Scheme.GeneratePublicKeyShare(p.Secret(round, attempt, Scheme), Seed);
            _keyShares[p.Key] = share;
            commitments.Add(Commit(p, ContributionKind.KeyShare, share, null));
        }

        return KeySet = new CommitmentSet(study.Id, round, attempt, ContributionKind.KeyShare, Seed, commitments);
    }

    /// <summary>Phase 2 at the node, and every peer's opening: the collective key announcement.</summary>
    public CollectiveKeyAnnouncement OpenKeys(CommitmentSet? set = null)
    {
        set ??= KeySet ?? CommitKeys();
        var own = participant.OpenKeyShare(Work(WorkKind.OpenKeyShare), set);
        var openings = new List<SignedContribution> { new(new NodeId("node-self"), federation.Self, own.Payload, own.Signature) };
        openings.AddRange(Peers.Select(p => Open(p, ContributionKind.KeyShare, _keyShares[p.Key], set.Digest())));
        var key = Scheme.AggregatePublicKey(Seed, [.. openings.Select(o => (ReadOnlyMemory<byte>)o.Payload)]);
        return Key = new CollectiveKeyAnnouncement(study.Id, round, attempt, Seed, key, set, openings);
    }

    /// <summary>Phase 3 at the node, and every peer's encrypted update (zeros unless given) and commitment: the update commitment set.</summary>
    public CommitmentSet CommitUpdates(CollectiveKeyAnnouncement? key = null, Func<Peer, long[]>? values = null)
    {
        key ??= Key ?? OpenKeys();
        var own = participant.CommitUpdate(Work(WorkKind.CommitUpdate), key);
        var commitments = new List<SignedCommitment> { new(new NodeId("node-self"), federation.Self, own.Payload, own.Signature) };
        foreach (var p in Peers)
        {
            var ciphertext = Scheme.Encrypt(key.CollectiveKey, values?.Invoke(p) ?? new long[request.ValueCount]);
            _updates[p.Key] = ciphertext;
            commitments.Add(Commit(p, ContributionKind.Update, ciphertext, key.Commitments.Digest()));
        }

        return UpdateSet = new CommitmentSet(study.Id, round, attempt, ContributionKind.Update, Seed, commitments);
    }

    /// <summary>Phase 4 at the node, and every peer's opening: the aggregate announcement.</summary>
    public AggregateAnnouncement OpenUpdates(CommitmentSet? set = null)
    {
        set ??= UpdateSet ?? CommitUpdates();
        var own = participant.OpenUpdate(Work(WorkKind.OpenUpdate), set);
        OwnUpdate = own.Payload;
        var openings = new List<SignedContribution> { new(new NodeId("node-self"), federation.Self, own.Payload, own.Signature) };
        openings.AddRange(Peers.Select(p => Open(p, ContributionKind.Update, _updates[p.Key], set.Digest())));
        var sum = Scheme.NewSum(request.ValueCount);
        openings.ForEach(o => sum.Add(o.Payload));
        return Aggregate = new AggregateAnnouncement(study.Id, round, attempt, sum.ToBytes(), set, openings);
    }

    /// <summary>Phase 5 at the node: its decryption share of the aggregate (as announced, or as given).</summary>
    public Contribution Decrypt(AggregateAnnouncement? aggregate = null) => participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate ?? Aggregate ?? OpenUpdates());

    /// <summary>Every phase, honestly; returns the node's decryption share.</summary>
    public Contribution Run(Func<Peer, long[]>? values = null)
    {
        CommitUpdates(OpenKeys(CommitKeys()), values);
        return Decrypt(OpenUpdates());
    }

    /// <summary>The decrypted sum, from the node's share and every peer's.</summary>
    public long[] DecryptedSum(Contribution ownShare)
    {
        var shares = new List<ReadOnlyMemory<byte>> { ownShare.Payload };
        shares.AddRange(Peers.Select(p => (ReadOnlyMemory<byte>)Scheme.GenerateDecryptionShare(p.Secret(round, attempt, Scheme), Aggregate!.Aggregate)));
        return Scheme.CombineDecryptionShares(Aggregate!.Aggregate, shares);
    }

    /// <summary>What the node's ciphertext holds, decrypted alone with every key holder's secret (a test's view, never the protocol's).</summary>
    public long[] DecryptOwn(NodeDirectory node)
    {
        var sum = Scheme.NewSum(request.ValueCount);
        sum.Add(OwnUpdate ?? node.Store.Read(c => Dapper.SqlMapper.QuerySingle<byte[]>(c, "SELECT ciphertext FROM submissions WHERE study_id=@s AND round=@r AND attempt=@a", new { s = study.Id.Value, r = round, a = attempt })));
        var aggregate = sum.ToBytes();
        var sealedSecret = node.Store.Read(c => Dapper.SqlMapper.QuerySingle<byte[]>(c, "SELECT sealed_secret FROM attempt_keys WHERE study_id=@s AND round=@r AND attempt=@a", new { s = study.Id.Value, r = round, a = attempt }));
        var shares = new List<ReadOnlyMemory<byte>> { Scheme.GenerateDecryptionShare(Scheme.ImportSecret(node.Protector.Unprotect(sealedSecret)), aggregate) };
        shares.AddRange(Peers.Select(p => (ReadOnlyMemory<byte>)Scheme.GenerateDecryptionShare(p.Secret(round, attempt, Scheme), aggregate)));
        return Scheme.CombineDecryptionShares(aggregate, shares);
    }

    /// <summary>A peer's signed commitment to a payload.</summary>
    public SignedCommitment Commit(Peer peer, string kind, byte[] payload, string? keySetDigest)
    {
        var digest = System.Security.Cryptography.SHA256.HashData(payload);
        return new SignedCommitment(peer.Id, peer.Key, digest, peer.Identity.Sign(SignedStatement.Commitment(kind, study.Id, round, attempt, Seed, digest, keySetDigest)));
    }

    /// <summary>A peer's signed opening of a payload, over a commitment set's digest.</summary>
    public SignedContribution Open(Peer peer, string kind, byte[] payload, string setDigest) =>
        new(peer.Id, peer.Key, payload, peer.Identity.Sign(SignedStatement.Opening(kind, study.Id, round, attempt, Seed, payload, setDigest)));

    /// <summary>The peer's key share in this attempt (after <see cref="CommitKeys"/>).</summary>
    public byte[] KeyShareOf(Peer peer) => _keyShares[peer.Key];

    /// <summary>The peer's ciphertext in this attempt (after <see cref="CommitUpdates"/>).</summary>
    public byte[] UpdateOf(Peer peer) => _updates[peer.Key];
}
