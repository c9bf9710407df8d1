using System.Collections.Concurrent;
using System.Security.Cryptography;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests.Adversarial;

/// <summary>
/// One attempt as the hostile coordinator runs it: its phase (which work it hands out), every contribution it received, and what it
/// shows each node. By default it shows what an honest coordinator would (the complete commitment sets, the key and the aggregate as
/// the sums of the openings); a test replaces any view, per node, to mount its attack.
/// </summary>
internal sealed class HostileAttempt(HostileCoordinator coordinator, StudySpec study, int round, int attempt, List<string> participants, RoundRequest request, byte[] seed)
{
    private static readonly AttemptPhase[] Order = [AttemptPhase.KeyCommit, AttemptPhase.KeyOpen, AttemptPhase.UpdateCommit, AttemptPhase.UpdateOpen, AttemptPhase.Decrypt];

    private static IAdditiveThresholdScheme Scheme => HostileCoordinator.Scheme;

    public StudySpec Study { get; } = study;

    public int Round { get; } = round;

    public int Attempt { get; } = attempt;

    public List<string> Participants { get; } = participants;

    public RoundRequest Request { get; set; } = request;

    /// <summary>The layout's true value count (a test may send the nodes another in <see cref="Request"/>).</summary>
    public int ValueCount { get; } = request.ValueCount;

    public byte[] Seed { get; set; } = seed;

    /// <summary>The phase whose work nodes are handed (null: none).</summary>
    public AttemptPhase? Phase { get; set; } = AttemptPhase.KeyCommit;

    /// <summary>Every contribution received (or injected by a colluder), by kind and node id.</summary>
    public ConcurrentDictionary<(string Kind, string Node), Contribution> Received { get; } = new();

    /// <summary>Per-node views a test substitutes (node id → what that node is shown).</summary>
    public Func<string, string, CommitmentSet?>? ShowCommitments { get; set; }

    public Func<string, CollectiveKeyAnnouncement?>? ShowKey { get; set; }

    public Func<string, AggregateAnnouncement?>? ShowAggregate { get; set; }

    /// <summary>Rewrites the work item a node is handed (a forged deadline, seed or value count).</summary>
    public Func<string, WorkItem, WorkItem>? TamperWork { get; set; }

    /// <summary>Nodes that keep being handed the phase's work although they contributed (to ask them again).</summary>
    public HashSet<string> AskAgain { get; } = new(StringComparer.Ordinal);

    public WorkItem? WorkFor(string node)
    {
        if (Phase is not { } phase || !Participants.Contains(node) || phase.Work() is not { } kind)
        {
            return null;
        }

        if (Received.ContainsKey((phase.Kind()!, node)) && !AskAgain.Remove(node))
        {
            return null;
        }

        var item = new WorkItem(kind, Study, Round, Attempt, DateTimeOffset.UtcNow.AddSeconds(Study.PhaseDeadlineSeconds), Seed, Request);
        return TamperWork?.Invoke(node, item) ?? item;
    }

    public (int Status, byte[]? Body) Receive(string node, string kind, Contribution contribution)
    {
        Received[(kind, node)] = contribution;
        return (204, null);
    }

    /// <summary>The complete commitment set of the opened kind (key-share or update), from what was received.</summary>
    public CommitmentSet Commitments(string opened) =>
        new(Study.Id, Round, Attempt, opened, Seed, [.. Participants
            .Where(n => Received.ContainsKey((ContributionKind.CommitmentTo(opened), n)))
            .Select(n => { var c = Received[(ContributionKind.CommitmentTo(opened), n)]; return new SignedCommitment(new NodeId(n), coordinator.KeyOf(n), c.Payload, c.Signature); })]);

    public List<SignedContribution> Openings(string kind) =>
        [.. Participants.Where(n => Received.ContainsKey((kind, n))).Select(n => { var c = Received[(kind, n)]; return new SignedContribution(new NodeId(n), coordinator.KeyOf(n), c.Payload, c.Signature); })];

    public CollectiveKeyAnnouncement Key()
    {
        var openings = Openings(ContributionKind.KeyShare);
        return new CollectiveKeyAnnouncement(Study.Id, Round, Attempt, Seed, Scheme.AggregatePublicKey(Seed, [.. openings.Select(o => (ReadOnlyMemory<byte>)o.Payload)]), Commitments(ContributionKind.KeyShare), openings);
    }

    public AggregateAnnouncement Aggregate()
    {
        var openings = Openings(ContributionKind.Update);
        return new AggregateAnnouncement(Study.Id, Round, Attempt, Sum(openings.Select(o => o.Payload)), Commitments(ContributionKind.Update), openings);
    }

    public byte[] Sum(IEnumerable<byte[]> ciphertexts)
    {
        var sum = Scheme.NewSum(ValueCount);
        foreach (var c in ciphertexts)
        {
            sum.Add(c);
        }

        return sum.ToBytes();
    }

    public CommitmentSet CommitmentsShownTo(string node, string kind) => ShowCommitments?.Invoke(node, kind) ?? Commitments(kind);

    public CollectiveKeyAnnouncement KeyShownTo(string node) => ShowKey?.Invoke(node) ?? Key();

    public AggregateAnnouncement AggregateShownTo(string node) => ShowAggregate?.Invoke(node) ?? Aggregate();

    /// <summary>Hands out a phase's work and waits until the listed nodes (default: every participant) contributed to it.</summary>
    public async Task Run(AttemptPhase phase, IEnumerable<string>? from = null, TimeSpan? timeout = null)
    {
        Phase = phase;
        var kind = phase.Kind()!;
        var nodes = (from ?? Participants).ToList();
        await Eventually.Until(() => nodes.All(n => Received.ContainsKey((kind, n))), timeout ?? TimeSpan.FromSeconds(60), $"{kind} to {Study.Id} round {Round} attempt {Attempt} from {string.Join(", ", nodes)}",
            () => "missing " + string.Join(", ", nodes.Where(n => !Received.ContainsKey((kind, n)))), TimeSpan.FromMilliseconds(50));
    }

    /// <summary>Every phase up to and including <paramref name="last"/>, honestly, from the nodes in <paramref name="from"/> (colluders' contributions are injected by the test).</summary>
    public async Task RunThrough(AttemptPhase last, IEnumerable<string>? from = null, Action<AttemptPhase>? beforePhase = null)
    {
        foreach (var phase in Order)
        {
            beforePhase?.Invoke(phase);
            await Run(phase, from);
            if (phase == last)
            {
                return;
            }
        }
    }

    /// <summary>What the decryption shares received let the coordinator decrypt: the sum, or null when a key holder's share is missing.</summary>
    public long[]? Decrypted()
    {
        var shares = Participants.Select(n => Received.TryGetValue((ContributionKind.DecryptionShare, n), out var s) ? s.Payload : null).ToList();
        return shares.Any(s => s is null) ? null : Scheme.CombineDecryptionShares(Aggregate().Aggregate, [.. shares.Select(s => (ReadOnlyMemory<byte>)s!)]);
    }

    public static byte[] Hash(byte[] payload) => SHA256.HashData(payload);
}

/// <summary>
/// A party that colludes with the coordinator: a rostered hospital gone bad, or a key the coordinator enrolled for itself. Its
/// contributions are really signed with its key and go straight into the coordinator's state (the two act together).
/// </summary>
internal sealed class Colluder(string name) : IDisposable
{
    private readonly Dictionary<(int Round, int Attempt), ThresholdSecret> _secrets = [];
    private readonly Dictionary<(int Round, int Attempt), byte[]> _shares = [];

    public string Name { get; } = name;

    public Ed25519Identity Identity { get; } = Ed25519Identity.Generate();

    public string Key => Identity.PublicKey;

    public string NodeId { get; set; } = string.Empty;

    public ThresholdSecret Secret(HostileAttempt a) =>
        _secrets.TryGetValue((a.Round, a.Attempt), out var s) ? s : _secrets[(a.Round, a.Attempt)] = HostileCoordinator.Scheme.GenerateSecret();

    /// <summary>Its public key share in the attempt (one per attempt: a share is drawn with fresh error each time it is made).</summary>
    public byte[] KeyShare(HostileAttempt a) =>
        _shares.TryGetValue((a.Round, a.Attempt), out var s) ? s : _shares[(a.Round, a.Attempt)] = HostileCoordinator.Scheme.GeneratePublicKeyShare(Secret(a), a.Seed);

    /// <summary>Commits to a payload (a key share or a ciphertext) in the attempt.</summary>
    public void Commit(HostileAttempt a, string opened, byte[] payload)
    {
        var digest = HostileAttempt.Hash(payload);
        var keySet = opened == ContributionKind.Update ? a.Commitments(ContributionKind.KeyShare).Digest() : null;
        a.Received[(ContributionKind.CommitmentTo(opened), NodeId)] = new Contribution(a.Study.Id, a.Round, a.Attempt, digest,
            Identity.Sign(SignedStatement.Commitment(opened, a.Study.Id, a.Round, a.Attempt, a.Seed, digest, keySet)), CommitmentSetDigest: keySet);
    }

    /// <summary>Opens a payload (whatever it committed to, or not) over the attempt's current commitment set.</summary>
    public void Open(HostileAttempt a, string kind, byte[] payload)
    {
        var set = a.Commitments(kind).Digest();
        a.Received[(kind, NodeId)] = new Contribution(a.Study.Id, a.Round, a.Attempt, payload,
            Identity.Sign(SignedStatement.Opening(kind, a.Study.Id, a.Round, a.Attempt, a.Seed, payload, set)), CommitmentSetDigest: set);
    }

    public void Decrypt(HostileAttempt a)
    {
        var aggregate = a.Aggregate();
        var share = HostileCoordinator.Scheme.GenerateDecryptionShare(Secret(a), aggregate.Aggregate);
        a.Received[(ContributionKind.DecryptionShare, NodeId)] = new Contribution(a.Study.Id, a.Round, a.Attempt, share, [], SignedStatement.Digest(aggregate.Aggregate), aggregate.Commitments.Digest());
    }

    public void Dispose() => Identity.Dispose();
}
