using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Logging.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The checks a node makes before it encrypts and before it decrypts, against a coordinator that
/// lies. The other parties are real key holders with real signatures; only the coordinator's
/// announcements are forged, as a malicious coordinator would forge them.
/// </summary>
public sealed class ParticipantTests : IDisposable
{
    private static readonly IAdditiveThresholdScheme Scheme = RlweThresholdScheme.Default;
    private static readonly StudySpec Study = new(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30);
    private static readonly RoundRequest Request = new("federated-sum", 16, new Dictionary<string, string> { ["vector"] = LocalVectors.PatientsByAgeBandAndSex, ["purpose_of_use"] = "HOPERAT" });

    private readonly NodeDirectory _node;
    private readonly RoundParticipant _participant;
    private readonly List<Peer> _peers;
    private readonly byte[] _seed = Scheme.NewCrpSeed();

    public ParticipantTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("participant"));
        _node.WriteSiteInput(SiteInput.Synthetic(7));
        File.WriteAllText(_node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        _participant = new RoundParticipant(_node, Scheme, [new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance);
        Assert.True(new StudyDecisions(_node).Decide(Study).Accept); // rounds are checked against the accepted study
        _peers = [.. Enumerable.Range(0, 3).Select(i => new Peer($"node-peer{i}"))];
    }

    private sealed class Peer(string id) : IDisposable
    {
        public NodeId Id { get; } = new(id);

        public Ed25519Identity Identity { get; } = Ed25519Identity.Generate();

        public ThresholdSecret Secret { get; } = Scheme.GenerateSecret();

        public SignedContribution Signed(string kind, WorkItem work, byte[] payload) =>
            new(Id, Identity.PublicKey, payload, Identity.Sign(SignedStatement.For(kind, work.Study.Id, work.Round, work.Attempt, payload)));

        public void Dispose() => Identity.Dispose();
    }

    private WorkItem Work(WorkKind kind, int attempt = 1, DateTimeOffset? deadline = null) =>
        new(kind, Study, 1, attempt, deadline ?? DateTimeOffset.UtcNow.AddMinutes(1), _seed, Request);

    private List<NodeRecord> Roster() => [new(new NodeId("node-self"), "self", _node.Identity.PublicKey), .. _peers.Select(p => new NodeRecord(p.Id, p.Id.Value, p.Identity.PublicKey))];

    private SignedContribution Own(Contribution c) => new(new NodeId("node-self"), _node.Identity.PublicKey, c.Payload, c.Signature);

    /// <summary>An honest keygen: the node's share and every peer's, the key their sum.</summary>
    private (CollectiveKeyAnnouncement Key, SignedContribution OwnShare) HonestKey(int peers = 3)
    {
        var work = Work(WorkKind.KeyShare);
        var own = Own(_participant.KeyShare(work));
        var shares = new List<SignedContribution> { own };
        shares.AddRange(_peers.Take(peers).Select(p => p.Signed(SignedStatement.KeyShare, work, Scheme.GeneratePublicKeyShare(p.Secret, _seed))));
        var key = Scheme.AggregatePublicKey(_seed, shares.Select(s => (ReadOnlyMemory<byte>)s.Payload).ToList());
        return (new CollectiveKeyAnnouncement(Study.Id, 1, 1, _seed, key, shares), own);
    }

    private (AggregateAnnouncement Aggregate, byte[] Key) HonestAggregate(int peers = 3)
    {
        var (key, _) = HonestKey(peers);
        var own = Own(_participant.Update(Work(WorkKind.Encrypt), key, Roster()));
        var work = Work(WorkKind.Encrypt);
        var submissions = new List<SignedContribution> { own };
        submissions.AddRange(_peers.Take(peers).Select(p => p.Signed(SignedStatement.Update, work, Scheme.Encrypt(key.CollectiveKey, new long[16]))));
        var sum = Scheme.NewSum(16);
        submissions.ForEach(s => sum.Add(s.Payload));
        return (new AggregateAnnouncement(Study.Id, 1, 1, sum.ToBytes(), submissions, DateTimeOffset.UtcNow.AddMinutes(1)), key.CollectiveKey);
    }

    [Fact]
    public void An_honest_round_yields_an_update_and_a_decryption_share()
    {
        var (aggregate, _) = HonestAggregate();
        var share = _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate, Roster(), DateTimeOffset.UtcNow);
        Assert.Equal(SignedStatement.Digest(aggregate.Aggregate), share.AggregateDigest);
        Assert.True(Ed25519Identity.Verify(_node.Identity.PublicKey, SignedStatement.For(SignedStatement.DecryptionShare, Study.Id, 1, 1, share.Payload, share.AggregateDigest), share.Signature));
    }

    [Fact]
    public void A_collective_key_that_is_not_the_sum_of_the_signed_shares_is_refused()
    {
        var (key, _) = HonestKey();
        // The coordinator slips in a share of its own, and hands out the key that includes it.
        var coordinatorSecret = Scheme.GenerateSecret();
        var forged = Scheme.AggregatePublicKey(_seed, [.. key.Shares.Select(s => (ReadOnlyMemory<byte>)s.Payload), Scheme.GeneratePublicKeyShare(coordinatorSecret, _seed)]);
        var e = Assert.Throws<ParticipationRefusedException>(() => _participant.Update(Work(WorkKind.Encrypt), key with { CollectiveKey = forged }, Roster()));
        Assert.Contains("not the sum of the listed signed shares", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_collective_key_without_this_nodes_share_is_refused()
    {
        var (key, own) = HonestKey();
        var extra = new Peer("node-extra");
        var work = Work(WorkKind.KeyShare);
        var shares = key.Shares.Where(s => s != own).Append(extra.Signed(SignedStatement.KeyShare, work, Scheme.GeneratePublicKeyShare(extra.Secret, _seed))).ToList();
        var roster = Roster().Append(new NodeRecord(extra.Id, "extra", extra.Identity.PublicKey)).ToList();
        var rekeyed = key with { Shares = shares, CollectiveKey = Scheme.AggregatePublicKey(_seed, shares.Select(s => (ReadOnlyMemory<byte>)s.Payload).ToList()) };
        Assert.Contains("does not include this node's share", Assert.Throws<ParticipationRefusedException>(() => _participant.Update(Work(WorkKind.Encrypt), rekeyed, roster)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_collective_key_from_fewer_than_the_minimum_of_nodes_is_refused()
    {
        var (key, _) = HonestKey(peers: 1);
        Assert.Contains("requires at least 3", Assert.Throws<ParticipationRefusedException>(() => _participant.Update(Work(WorkKind.Encrypt), key, Roster())).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_share_signed_by_a_node_that_is_not_enrolled_is_refused()
    {
        var (key, _) = HonestKey();
        var roster = Roster().Where(n => n.NodeId.Value != "node-peer0").ToList();
        Assert.Contains("not an enrolled node", Assert.Throws<ParticipationRefusedException>(() => _participant.Update(Work(WorkKind.Encrypt), key, roster)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_decryption_share_for_an_aggregate_of_fewer_than_the_minimum_of_submissions_is_refused()
    {
        var (aggregate, _) = HonestAggregate();
        // The coordinator asks the node to decrypt its own ciphertext alone, listing only that submission.
        var own = aggregate.Submissions[0];
        var single = aggregate with { Aggregate = Single(own.Payload), Submissions = [own] };
        Assert.Contains("requires at least 3", Assert.Throws<ParticipationRefusedException>(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), single, Roster(), DateTimeOffset.UtcNow)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_decryption_share_for_an_aggregate_that_is_not_the_sum_of_the_listed_submissions_is_refused()
    {
        var (aggregate, _) = HonestAggregate();
        // The full list is shown, but the ciphertext to decrypt is the node's own submission.
        var forged = aggregate with { Aggregate = Single(aggregate.Submissions[0].Payload) };
        Assert.Contains("not the sum of the listed signed submissions", Assert.Throws<ParticipationRefusedException>(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), forged, Roster(), DateTimeOffset.UtcNow)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_late_share_for_a_superseded_attempt_is_refused()
    {
        var (aggregate, _) = HonestAggregate();
        // Attempt 2 of the same round has started (fresh keys); the coordinator now asks for attempt 1's share.
        _participant.KeyShare(Work(WorkKind.KeyShare, attempt: 2));
        var e = Assert.Throws<ParticipationRefusedException>(() => _participant.DecryptionShare(Work(WorkKind.Decrypt, attempt: 1), aggregate, Roster(), DateTimeOffset.UtcNow));
        Assert.Contains("superseded by attempt 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_share_is_issued_after_the_attempts_deadline()
    {
        var (aggregate, _) = HonestAggregate();
        var e = Assert.Throws<ParticipationRefusedException>(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate, Roster(), DateTimeOffset.UtcNow.AddMinutes(5)));
        Assert.Contains("deadline has passed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Asked_again_the_node_returns_the_stored_share_and_never_one_for_another_aggregate_of_the_attempt()
    {
        var (aggregate, _) = HonestAggregate();
        var first = _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate, Roster(), DateTimeOffset.UtcNow);
        var again = _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate, Roster(), DateTimeOffset.UtcNow);
        Assert.Equal(first.Payload, again.Payload);

        // Same attempt, a different (still valid-looking) aggregate: one peer's submission replaced.
        var work = Work(WorkKind.Encrypt);
        var replaced = aggregate.Submissions.Take(3).Append(_peers[2].Signed(SignedStatement.Update, work, Scheme.Encrypt(Scheme.AggregatePublicKey(_seed, [Scheme.GeneratePublicKeyShare(_peers[2].Secret, _seed)]), new long[16]))).ToList();
        var sum = Scheme.NewSum(16);
        replaced.ForEach(s => sum.Add(s.Payload));
        var other = aggregate with { Aggregate = sum.ToBytes(), Submissions = replaced };
        Assert.Contains("already issued a decryption share for another aggregate", Assert.Throws<ParticipationRefusedException>(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), other, Roster(), DateTimeOffset.UtcNow)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_retried_update_sends_the_same_ciphertext()
    {
        var (key, _) = HonestKey();
        var first = _participant.Update(Work(WorkKind.Encrypt), key, Roster());
        var second = _participant.Update(Work(WorkKind.Encrypt), key, Roster());
        Assert.Equal(first.Payload, second.Payload);
    }

    private static byte[] Single(byte[] ciphertext)
    {
        var sum = Scheme.NewSum(16);
        sum.Add(ciphertext);
        return sum.ToBytes();
    }

    public void Dispose()
    {
        _node.Dispose();
        _peers.ForEach(p => p.Dispose());
    }
}
