using FederatedTwin.Analytics.Census;
using FederatedTwin.Crypto;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// A t-of-n attempt against a real <see cref="RoundParticipant"/> (real store, keys, Shamir shares and channels), with every other
/// message built as honest committee members would build it; a test forges what a malicious coordinator would relay: dealt shares
/// (a dealer missing or twice, a manifest not signed by its dealer, a share addressed to someone else) and decrypting sets (a key
/// outside the commitment set, too few members, without the node). Each refusal names its rule.
/// </summary>
[Trait("Category", "Committee")]
public sealed class CommitteeParticipantTests : IDisposable
{
    private const int Threshold = 3;
    private static readonly RlweThresholdScheme Scheme = RlweThresholdScheme.Default;
    private static readonly StudySpec Study = new(new StudyId("committee"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30, CommitteeThreshold: Threshold);
    private static readonly RoundRequest Request = new("federated-sum", 16, new Dictionary<string, string> { ["vector"] = LocalVectors.PatientsByAgeBandAndSex, ["purpose_of_use"] = "HOPERAT" });

    private readonly NodeDirectory _node;
    private readonly FakeTimeProvider _clock = TestClock.Start();
    private readonly RoundParticipant _participant;
    private readonly SimulatedFederation _federation;
    private readonly Dictionary<string, CommitteeChannelKey> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _keyShares = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<ReadOnlyMemory<byte>>> _received = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ShareBundle> _bundles = new(StringComparer.Ordinal);
    private readonly byte[] _seed = Scheme.NewCrpSeed();

    public CommitteeParticipantTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("committee-participant"), time: _clock);
        _node.WriteSiteInput(SiteInput.Synthetic(7));
        File.WriteAllText(_node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT") + "\nmin_committee_threshold: 3\n");
        _participant = new RoundParticipant(_node, Scheme, [new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance, _clock);
        _federation = SimulatedFederation.Around(_node, peers: 3);
        Assert.True(new StudyDecisions(_node, clock: _clock).Decide(Study).Accept);
    }

    private IReadOnlyList<Peer> Peers => _federation.Peers;

    private string Self => _federation.Self;

    private WorkItem Work(WorkKind kind) => new(kind, Study, 1, 1, _clock.GetUtcNow().AddSeconds(30), _seed, Request);

    private static string Rule(Action phase) => Assert.Throws<ParticipationRefusedException>(phase).Rule!;

    /// <summary>key_commit and key_open: every member's channel key in its signed commitment; the collective key announcement.</summary>
    private CollectiveKeyAnnouncement Keys(Func<CommitmentSet, CommitmentSet>? forge = null)
    {
        var own = _participant.CommitKeyShare(Work(WorkKind.CommitKeyShare));
        Assert.NotNull(own.ChannelKey);
        var commitments = new List<SignedCommitment> { new(new NodeId("node-self"), Self, own.Payload, own.Signature, own.ChannelKey) };
        foreach (var p in Peers)
        {
            _channels[p.Key] = CommitteeChannelKey.Generate();
            var share = Scheme.GeneratePublicKeyShare(p.Secret(1, 1, Scheme), _seed);
            _keyShares[p.Key] = share;
            var digest = System.Security.Cryptography.SHA256.HashData(share);
            commitments.Add(new SignedCommitment(p.Id, p.Key, digest,
                p.Identity.Sign(SignedStatement.Commitment(ContributionKind.KeyShare, Study.Id, 1, 1, _seed, digest, channelKey: _channels[p.Key].PublicKey)), _channels[p.Key].PublicKey));
        }

        var set = new CommitmentSet(Study.Id, 1, 1, ContributionKind.KeyShare, _seed, commitments);
        set = forge?.Invoke(set) ?? set;
        var opened = _participant.OpenKeyShare(Work(WorkKind.OpenKeyShare), set);
        var openings = new List<SignedContribution> { new(new NodeId("node-self"), Self, opened.Payload, opened.Signature) };
        openings.AddRange(Peers.Select(p => new SignedContribution(p.Id, p.Key, _keyShares[p.Key], p.Identity.Sign(SignedStatement.Opening(ContributionKind.KeyShare, Study.Id, 1, 1, _seed, _keyShares[p.Key], set.Digest())))));
        var key = Scheme.AggregatePublicKey(_seed, [.. openings.Select(o => (ReadOnlyMemory<byte>)o.Payload)]);
        return new CollectiveKeyAnnouncement(Study.Id, 1, 1, _seed, key, set, openings);
    }

    /// <summary>share_deal: the node's bundle (opened by each peer) and each peer's signed bundle; returns what the coordinator relays to the node.</summary>
    private DealtShares Deal(CollectiveKeyAnnouncement key)
    {
        var set = key.Commitments;
        var points = CommitteePoints.Of(set.Keys());
        var members = set.Keys();
        var channelOf = set.Commitments.ToDictionary(c => c.NodePublicKey, c => c.ChannelKey!, StringComparer.Ordinal);
        var ownBundle = ShareBundle.Parse(_participant.DealShares(Work(WorkKind.DealShares), key).Payload);
        Assert.Equal(Peers.Select(p => p.Key).Order(StringComparer.Ordinal), ownBundle.Shares.Select(s => s.RecipientKey).Order(StringComparer.Ordinal));
        foreach (var p in Peers)
        {
            // Each peer opens the node's share on the channel from the node's committed channel key.
            var sealedShare = ownBundle.Shares.Single(s => s.RecipientKey == p.Key).Sealed;
            _received[p.Key] = [_channels[p.Key].Open(new ChannelBinding(Study.Id, 1, 1, _seed, Self, p.Key, channelOf[Self], _channels[p.Key].PublicKey), sealedShare)];
        }

        var relayed = new List<RelayedShare>();
        foreach (var dealer in Peers)
        {
            var shares = Scheme.DealShares(dealer.Secret(1, 1, Scheme), Threshold, [.. members.Select(k => points[k])], [1]);
            var bundle = new ShareBundle([.. members.Select((k, i) => (k, i)).Where(m => m.k != dealer.Key).Select(m =>
                new SealedShare(m.k, _channels[dealer.Key].Seal(new ChannelBinding(Study.Id, 1, 1, _seed, dealer.Key, m.k, _channels[dealer.Key].PublicKey, channelOf[m.k]), shares[m.i])))]);
            for (var i = 0; i < members.Count; i++)
            {
                if (members[i] == dealer.Key)
                {
                    _received[dealer.Key].Add(shares[i]); // its own share of itself
                }
                else if (members[i] != Self)
                {
                    var peer = members[i];
                    _received[peer].Add(_channels[peer].Open(new ChannelBinding(Study.Id, 1, 1, _seed, dealer.Key, peer, channelOf[dealer.Key], _channels[peer].PublicKey), bundle.Shares.Single(s => s.RecipientKey == peer).Sealed));
                }
            }

            _bundles[dealer.Key] = bundle;
            var manifest = bundle.Manifest();
            relayed.Add(new RelayedShare(dealer.Id, dealer.Key, manifest, bundle.Shares.Single(s => s.RecipientKey == Self).Sealed,
                dealer.Identity.Sign(SignedStatement.ShareDeal(Study.Id, 1, 1, _seed, set.Digest(), Threshold, manifest))));
        }

        return new DealtShares(Study.Id, 1, 1, relayed);
    }

    /// <summary>update_commit and update_open, the peers sending zeros: the aggregate announcement, without a decrypting set yet.</summary>
    private AggregateAnnouncement Updates(CollectiveKeyAnnouncement key, DealtShares dealt)
    {
        var own = _participant.CommitUpdate(Work(WorkKind.CommitUpdate), key, dealt);
        var updates = Peers.ToDictionary(p => p.Key, _ => Scheme.Encrypt(key.CollectiveKey, new long[Request.ValueCount]), StringComparer.Ordinal);
        var commitments = new List<SignedCommitment> { new(new NodeId("node-self"), Self, own.Payload, own.Signature) };
        foreach (var p in Peers)
        {
            var digest = System.Security.Cryptography.SHA256.HashData(updates[p.Key]);
            commitments.Add(new SignedCommitment(p.Id, p.Key, digest, p.Identity.Sign(SignedStatement.Commitment(ContributionKind.Update, Study.Id, 1, 1, _seed, digest, key.Commitments.Digest()))));
        }

        var set = new CommitmentSet(Study.Id, 1, 1, ContributionKind.Update, _seed, commitments);
        var opened = _participant.OpenUpdate(Work(WorkKind.OpenUpdate), set);
        var openings = new List<SignedContribution> { new(new NodeId("node-self"), Self, opened.Payload, opened.Signature) };
        openings.AddRange(Peers.Select(p => new SignedContribution(p.Id, p.Key, updates[p.Key], p.Identity.Sign(SignedStatement.Opening(ContributionKind.Update, Study.Id, 1, 1, _seed, updates[p.Key], set.Digest())))));
        var sum = Scheme.NewSum(Request.ValueCount);
        openings.ForEach(o => sum.Add(o.Payload));
        return new AggregateAnnouncement(Study.Id, 1, 1, sum.ToBytes(), set, openings);
    }

    private AggregateAnnouncement ReadyToDecrypt()
    {
        var key = Keys();
        var aggregate = Updates(key, Deal(key));
        var ready = _participant.DecryptReady(Work(WorkKind.DecryptReady), aggregate);
        Assert.True(Ed25519Identity.Verify(Self, SignedStatement.DecryptReady(Study.Id, 1, 1, _seed, ready.AggregateDigest!, ready.CommitmentSetDigest!), ready.Signature));
        return aggregate;
    }

    [Fact]
    public void An_honest_committee_attempt_decrypts_with_the_node_and_two_peers_and_the_share_is_bound_to_the_decrypting_set()
    {
        var aggregate = ReadyToDecrypt();
        var points = CommitteePoints.Of(aggregate.Commitments.Keys());
        string[] decryptSet = [Self, Peers[0].Key, Peers[2].Key];
        var share = _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = decryptSet });
        var setDigest = ParticipantSet.Digest(decryptSet);
        Assert.True(Ed25519Identity.Verify(Self, SignedStatement.DecryptionShare(Study.Id, 1, 1, _seed, share.Payload, share.AggregateDigest!, share.CommitmentSetDigest!, setDigest), share.Signature));

        int[] tPoints = [.. decryptSet.Select(k => points[k])];
        var shares = new List<ReadOnlyMemory<byte>> { share.Payload };
        foreach (var p in new[] { Peers[0], Peers[2] })
        {
            var secret = Scheme.CombineShamirShares(points[p.Key], _received[p.Key]);
            shares.Add(Scheme.GenerateCommitteeDecryptionShare(secret, tPoints, aggregate.Aggregate));
        }

        Assert.Equal(TestFederation.SiteVector(_node.Path), Scheme.CombineDecryptionShares(aggregate.Aggregate, shares)); // the peers sent zeros

        // Asked again for another decrypting set, the node refuses: its one share was weighted for the first.
        Assert.Equal(ProtocolRules.ShareReissue, Rule(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = [Self, Peers[0].Key, Peers[1].Key] })));
        // The committee secret was deleted with the share, audited.
        Assert.Equal(1, _node.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM audit_log WHERE action='committee_secret_deleted'")));
    }

    [Fact]
    public void Dealt_shares_with_a_dealer_missing_or_twice_or_a_share_addressed_to_another_member_are_refused_before_anything_is_encrypted()
    {
        var key = Keys();
        var dealt = Deal(key);
        Assert.Equal(ProtocolRules.CommitteeShareBundle, Rule(() => _participant.CommitUpdate(Work(WorkKind.CommitUpdate), key, dealt with { Shares = dealt.Shares.Take(2).ToList() })));
        Assert.Equal(ProtocolRules.CommitteeShareBundle, Rule(() => _participant.CommitUpdate(Work(WorkKind.CommitUpdate), key, dealt with { Shares = [.. dealt.Shares, dealt.Shares[0]] })));

        // The coordinator relays to this node the share peer0 dealt to peer1 (sealed to peer1's channel): it does not match the digest
        // peer0 signed for this node; with the manifest "fixed" to match, peer0's signature fails; either way refused.
        var forged = dealt.Shares[0] with { Sealed = _bundles[Peers[0].Key].Shares.Single(s => s.RecipientKey == Peers[1].Key).Sealed };
        Assert.Equal(ProtocolRules.CommitteeShareBundle, Rule(() => _participant.CommitUpdate(Work(WorkKind.CommitUpdate), key, dealt with { Shares = [forged, .. dealt.Shares.Skip(1)] })));
        var remanifested = forged with { Manifest = [.. forged.Manifest.Select(m => m.RecipientKey == Self ? m with { Sha256 = SignedStatement.Digest(forged.Sealed) } : m)] };
        Assert.Equal(ProtocolRules.CommitteeShareBundle, Rule(() => _participant.CommitUpdate(Work(WorkKind.CommitUpdate), key, dealt with { Shares = [remanifested, .. dealt.Shares.Skip(1)] })));

        // Nothing was encrypted or formed by the refusals; the honest relay still goes through.
        Assert.Null(_node.Store.Read(c => FederatedTwin.Node.Storage.FederationQueries.Submission(c, new("committee", 1, 1))));
        Assert.Equal(4, _node.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM audit_log WHERE action='submission_refused' AND detail LIKE '%committee_share_bundle%'")));
        Assert.Equal(32, _participant.CommitUpdate(Work(WorkKind.CommitUpdate), key, dealt).Payload.Length); // the commitment to its update
        Assert.Equal(1, _node.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM audit_log WHERE action='committee_secret_formed'")));
    }

    [Fact]
    public void A_decrypting_set_outside_the_commitment_set_too_small_or_without_the_node_is_refused()
    {
        var aggregate = ReadyToDecrypt();
        using var stranger = Ed25519Identity.Generate();
        Assert.Equal(ProtocolRules.CommitteeDecryptSet, Rule(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = [Self, Peers[0].Key, stranger.PublicKey] })));
        Assert.Equal(ProtocolRules.CommitteeThreshold, Rule(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = [Self, Peers[0].Key] })));
        Assert.Equal(ProtocolRules.CommitteeDecryptSet, Rule(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = [.. Peers.Select(p => p.Key)] })));
        Assert.Equal(ProtocolRules.CommitteeDecryptSet, Rule(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = [Self, Peers[0].Key, Peers[0].Key] })));
        Assert.Equal(ProtocolRules.CommitteeDecryptSet, Rule(() => _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate)));
        // None issued a share: the ledger is empty and the committee secret still held for an honest set.
        Assert.Null(_node.Store.Read(c => FederatedTwin.Node.Storage.FederationQueries.Share(c, new("committee", 1, 1))));
        _participant.DecryptionShare(Work(WorkKind.Decrypt), aggregate with { DecryptSet = [Self, Peers[0].Key, Peers[1].Key] });
    }

    [Fact]
    public void A_key_share_commitment_without_a_channel_key_is_refused_and_a_site_wanting_a_larger_t_refuses_the_offer()
    {
        Assert.Equal(ProtocolRules.CommitteeChannelKey, Rule(() => Keys(set => set with { Commitments = [.. set.Commitments.Select(c => c.NodePublicKey == Peers[1].Key ? c with { ChannelKey = null } : c)] })));

        var policy = SitePolicy.Parse(File.ReadAllText(_node.PolicyPath).Replace("min_committee_threshold: 3", "min_committee_threshold: 4", StringComparison.Ordinal), "policy.yaml", _node.Path);
        var decision = policy.Decide(Study);
        Assert.Equal((false, SitePolicy.CommitteeThresholdRule), (decision.Accept, decision.Rule));
        Assert.Equal(SitePolicy.CommitteeThresholdRule, SitePolicy.Parse(File.ReadAllText(_node.PolicyPath).Replace("min_committee_threshold: 3", string.Empty, StringComparison.Ordinal), "policy.yaml", _node.Path).Decide(Study).Rule);
        Assert.True(policy.Decide(Study with { CommitteeThreshold = null }).Accept); // n-of-n studies as before
    }

    public void Dispose()
    {
        foreach (var c in _channels.Values)
        {
            c.Dispose();
        }

        _federation.Dispose();
        _node.Dispose();
    }
}
