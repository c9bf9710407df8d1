using FederatedTwin.Analytics.Census;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The checks a node makes at each phase of an attempt, against a coordinator that lies. The other parties are real key holders
/// with real signatures on the node's pinned roster; only the coordinator's relayed sets and announcements are forged, as a
/// malicious coordinator would forge them. Each refusal names its rule.
/// </summary>
public sealed class ParticipantTests : IDisposable
{
    private static readonly IAdditiveThresholdScheme Scheme = RlweThresholdScheme.Default;
    private static readonly StudySpec Study = new(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 2, 30);
    private static readonly RoundRequest Request = new("federated-sum", 16, new Dictionary<string, string> { ["vector"] = LocalVectors.PatientsByAgeBandAndSex, ["purpose_of_use"] = "HOPERAT" });

    private readonly NodeDirectory _node;
    private readonly FakeTimeProvider _clock = TestClock.Start();
    private readonly RoundParticipant _participant;
    private readonly SimulatedFederation _federation;

    public ParticipantTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("participant"), time: _clock);
        _node.WriteSiteInput(SiteInput.Synthetic(7));
        File.WriteAllText(_node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        _participant = new RoundParticipant(_node, Scheme, [new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance, _clock);
        _federation = SimulatedFederation.Around(_node, peers: 3);
        Assert.True(new StudyDecisions(_node, clock: _clock).Decide(Study).Accept); // rounds are checked against the accepted study
    }

    private SimulatedAttempt Attempt(int round = 1, int attempt = 1, IReadOnlyList<Peer>? peers = null, RoundRequest? request = null) =>
        new(_participant, _federation, Study, request ?? Request, round, attempt, peers, clock: _clock);

    private static string Rule(Action phase) => Assert.Throws<ParticipationRefusedException>(phase).Rule!;

    [Fact]
    public void An_honest_attempt_commits_then_opens_and_yields_a_decryption_share_bound_to_the_aggregate_and_the_commitment_set()
    {
        var a = Attempt();
        var share = a.Run();
        Assert.Equal(SignedStatement.Digest(a.Aggregate!.Aggregate), share.AggregateDigest);
        Assert.Equal(a.UpdateSet!.Digest(), share.CommitmentSetDigest);
        Assert.True(Ed25519Identity.Verify(_federation.Self, SignedStatement.DecryptionShare(Study.Id, 1, 1, a.Seed, share.Payload, share.AggregateDigest!, share.CommitmentSetDigest!), share.Signature));
        Assert.Equal(TestFederation.SiteVector(_node.Path), a.DecryptedSum(share)); // the peers sent zeros
    }

    [Fact]
    public void Without_a_pinned_roster_the_node_commits_to_nothing()
    {
        using var bare = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("participant-no-roster"));
        File.WriteAllText(bare.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        var decision = new StudyDecisions(bare).Decide(Study);
        Assert.False(decision.Accept);
        Assert.Equal(PinnedRoster.Missing, decision.Rule);
    }

    [Fact]
    public void A_commitment_from_a_key_that_is_not_on_the_pinned_roster_is_refused_before_anything_is_revealed()
    {
        // The coordinator enrolled a node of its own (it issues the tokens) and lists it among the committers.
        using var sybil = new Peer("sybil");
        var a = Attempt();
        var set = a.CommitKeys();
        var forged = set with { Commitments = [.. set.Commitments.Take(set.Commitments.Count - 1), a.Commit(sybil, ContributionKind.KeyShare, Scheme.GeneratePublicKeyShare(Scheme.GenerateSecret(), a.Seed), null)] };
        Assert.Equal(ProtocolRules.RosterUnknownKey, Rule(() => a.OpenKeys(forged)));
        Assert.Empty(_node.Store.Read(c => Dapper.SqlMapper.Query<string>(c, "SELECT digest FROM commitment_sets")));
    }

    [Fact]
    public void A_commitment_set_of_fewer_than_the_minimum_of_rostered_hospitals_is_refused()
    {
        var a = Attempt(peers: _federation.Peers.Take(1).ToList());
        Assert.Equal(ProtocolRules.RosterMinimum, Rule(() => a.OpenKeys(a.CommitKeys())));
    }

    [Fact]
    public void A_commitment_set_without_this_nodes_commitment_is_refused()
    {
        var a = Attempt();
        var set = a.CommitKeys();
        Assert.Equal(ProtocolRules.OpeningMismatch, Rule(() => a.OpenKeys(set with { Commitments = [.. set.Commitments.Where(c => c.NodePublicKey != _federation.Self)] })));
    }

    [Fact]
    public void A_commitment_with_a_bad_signature_is_refused()
    {
        var a = Attempt();
        var set = a.CommitKeys();
        var peer = set.Commitments[1];
        var forged = set with { Commitments = [set.Commitments[0], peer with { Signature = new byte[64] }, .. set.Commitments.Skip(2)] };
        Assert.Equal(ProtocolRules.ContributionSignature, Rule(() => a.OpenKeys(forged)));
    }

    [Fact]
    public void A_second_different_commitment_set_for_the_same_attempt_is_refused_as_equivocation()
    {
        var a = Attempt();
        var set = a.CommitKeys();
        a.OpenKeys(set);

        // The same attempt, shown again with one peer's commitment replaced (as another node may have been shown).
        var other = set with { Commitments = [.. set.Commitments.Take(set.Commitments.Count - 1), a.Commit(_federation.Peers[^1], ContributionKind.KeyShare, Scheme.GeneratePublicKeyShare(Scheme.GenerateSecret(), a.Seed), null)] };
        Assert.Equal(ProtocolRules.CommitmentSetEquivocation, Rule(() => _participant.OpenKeyShare(a.Work(WorkKind.OpenKeyShare), other)));
    }

    [Fact]
    public void An_opening_that_does_not_match_its_commitment_is_refused()
    {
        var a = Attempt();
        var key = a.OpenKeys(a.CommitKeys());

        // A peer (colluding with the coordinator) opens another key share than it committed to, e.g. one chosen after seeing the rest.
        var rogue = Scheme.GeneratePublicKeyShare(Scheme.GenerateSecret(), a.Seed);
        var shares = key.Shares.Select(s => s.NodePublicKey == _federation.Peers[0].Key ? a.Open(_federation.Peers[0], ContributionKind.KeyShare, rogue, key.Commitments.Digest()) : s).ToList();
        var forged = key with { Shares = shares, CollectiveKey = Scheme.AggregatePublicKey(a.Seed, [.. shares.Select(s => (ReadOnlyMemory<byte>)s.Payload)]) };
        Assert.Equal(ProtocolRules.OpeningMismatch, Rule(() => a.CommitUpdates(forged)));
    }

    [Fact]
    public void An_opening_signed_over_another_commitment_set_is_refused()
    {
        var a = Attempt();
        var key = a.OpenKeys(a.CommitKeys());

        // A peer that was shown another set signs its opening over that set's digest: the two nodes did not see the same set.
        var peer = _federation.Peers[1];
        var shares = key.Shares.Select(s => s.NodePublicKey == peer.Key ? a.Open(peer, ContributionKind.KeyShare, a.KeyShareOf(peer), new string('0', 64)) : s).ToList();
        Assert.Equal(ProtocolRules.OpeningMismatch, Rule(() => a.CommitUpdates(key with { Shares = shares })));
    }

    [Fact]
    public void A_collective_key_that_is_not_the_sum_of_the_opened_shares_is_refused()
    {
        var a = Attempt();
        var key = a.OpenKeys(a.CommitKeys());
        var coordinatorSecret = Scheme.GenerateSecret();
        var forged = Scheme.AggregatePublicKey(a.Seed, [.. key.Shares.Select(s => (ReadOnlyMemory<byte>)s.Payload), Scheme.GeneratePublicKeyShare(coordinatorSecret, a.Seed)]);
        Assert.Equal(ProtocolRules.CollectiveKey, Rule(() => a.CommitUpdates(key with { CollectiveKey = forged })));
    }

    [Fact]
    public void A_crp_seed_other_than_the_one_the_node_keyed_with_is_refused()
    {
        var a = Attempt();
        a.CommitKeys();
        var other = a.Work(WorkKind.OpenKeyShare) with { CrpSeed = Scheme.NewCrpSeed() };
        Assert.Equal(ProtocolRules.CrpSeed, Rule(() => _participant.OpenKeyShare(other, a.KeySet!)));
        Assert.Equal(ProtocolRules.CrpSeed, Rule(() => _participant.OpenKeyShare(a.Work(WorkKind.OpenKeyShare), a.KeySet! with { CrpSeed = Scheme.NewCrpSeed() })));
    }

    [Fact]
    public void A_request_for_another_value_count_than_the_accepted_layout_is_refused_before_anything_is_allocated()
    {
        var a = Attempt(request: Request with { ValueCount = 1 << 30 });
        Assert.Equal(ProtocolRules.RoundLayout, Rule(() => a.CommitKeys()));
        Assert.Equal(0L, _node.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM attempt_keys")));
    }

    [Fact]
    public void An_aggregate_that_is_not_the_sum_of_the_opened_submissions_is_refused()
    {
        var a = Attempt();
        var aggregate = a.OpenUpdates(a.CommitUpdates(a.OpenKeys(a.CommitKeys())));
        // The full set is shown, but the ciphertext to decrypt is the node's own submission alone.
        var sum = Scheme.NewSum(16);
        sum.Add(a.OwnUpdate);
        Assert.Equal(ProtocolRules.Aggregate, Rule(() => a.Decrypt(aggregate with { Aggregate = sum.ToBytes() })));
    }

    [Fact]
    public void A_decryption_of_this_nodes_submission_alone_is_refused_as_another_commitment_set()
    {
        var a = Attempt();
        var aggregate = a.OpenUpdates(a.CommitUpdates(a.OpenKeys(a.CommitKeys())));
        var own = aggregate.Submissions.Single(s => s.NodePublicKey == _federation.Self);
        var sum = Scheme.NewSum(16);
        sum.Add(own.Payload);
        var single = aggregate with
        {
            Aggregate = sum.ToBytes(),
            Commitments = aggregate.Commitments with { Commitments = [.. aggregate.Commitments.Commitments.Where(c => c.NodePublicKey == _federation.Self)] },
            Submissions = [own],
        };
        Assert.Equal(ProtocolRules.CommitmentSetEquivocation, Rule(() => a.Decrypt(single)));
    }

    [Fact]
    public void Asked_again_the_node_returns_the_stored_share_and_never_one_for_another_aggregate_of_the_attempt()
    {
        var a = Attempt();
        var first = a.Run();
        Assert.Equal(first.Payload, a.Decrypt().Payload);
        var sum = Scheme.NewSum(16);
        sum.Add(a.OwnUpdate);
        Assert.Equal(ProtocolRules.ShareReissue, Rule(() => a.Decrypt(a.Aggregate! with { Aggregate = sum.ToBytes() })));
    }

    [Fact]
    public void A_retried_commitment_commits_to_the_same_stored_ciphertext()
    {
        var a = Attempt();
        var key = a.OpenKeys(a.CommitKeys());
        var first = _participant.CommitUpdate(a.Work(WorkKind.CommitUpdate), key);
        var second = _participant.CommitUpdate(a.Work(WorkKind.CommitUpdate), key);
        Assert.Equal(first.Payload, second.Payload);
    }

    [Fact]
    public void Nothing_more_is_issued_for_a_superseded_attempt()
    {
        var a = Attempt();
        var aggregate = a.OpenUpdates(a.CommitUpdates(a.OpenKeys(a.CommitKeys())));
        _participant.CommitKeyShare(Attempt(attempt: 2).Work(WorkKind.CommitKeyShare)); // attempt 2 of the round has started
        Assert.Equal(ProtocolRules.AttemptSuperseded, Rule(() => a.Decrypt(aggregate)));
    }

    /// <summary>The node's own deadline for an attempt: the accepted study's phase deadline times the phases of an attempt, from its key share.</summary>
    private static TimeSpan AttemptDeadline => TimeSpan.FromSeconds(RoundParticipant.PhasesPerAttempt * Study.PhaseDeadlineSeconds);

    [Fact]
    public void The_attempts_deadline_is_the_nodes_own_from_the_accepted_study_whatever_deadline_the_coordinator_sends()
    {
        var a = Attempt();
        var aggregate = a.OpenUpdates(a.CommitUpdates(a.OpenKeys(a.CommitKeys())));
        _clock.Advance(AttemptDeadline + TimeSpan.FromSeconds(1));
        var forged = a.Work(WorkKind.Decrypt) with { Deadline = _clock.GetUtcNow().AddDays(1) };
        Assert.Equal(ProtocolRules.AttemptDeadline, Rule(() => _participant.DecryptionShare(forged, aggregate with { Deadline = _clock.GetUtcNow().AddDays(1) })));
    }

    [Fact]
    public void At_the_attempts_deadline_itself_the_node_still_contributes()
    {
        var a = Attempt();
        var keys = a.CommitKeys();
        _clock.Advance(AttemptDeadline); // the rule is "after the deadline": its last instant still counts
        var share = a.Decrypt(a.OpenUpdates(a.CommitUpdates(a.OpenKeys(keys))));
        Assert.Equal(TestFederation.SiteVector(_node.Path), a.DecryptedSum(share));
    }

    [Fact]
    public void One_tick_after_the_attempts_deadline_the_node_contributes_nothing_more_to_it()
    {
        var a = Attempt();
        var keys = a.CommitKeys();
        _clock.Advance(AttemptDeadline + TimeSpan.FromTicks(1));
        Assert.Equal(ProtocolRules.AttemptDeadline, Rule(() => a.OpenKeys(keys)));
    }

    [Fact]
    public void The_attempts_deadline_runs_from_the_nodes_key_share_not_from_the_round()
    {
        // Attempt 1 ran out; attempt 2 of the same round starts later, and its deadline is counted from its own key share.
        var first = Attempt();
        first.CommitKeys();
        _clock.Advance(AttemptDeadline + TimeSpan.FromSeconds(1));
        var second = Attempt(attempt: 2);
        var keys = second.CommitKeys();
        _clock.Advance(AttemptDeadline);
        var share = second.Decrypt(second.OpenUpdates(second.CommitUpdates(second.OpenKeys(keys))));
        Assert.Equal(TestFederation.SiteVector(_node.Path), second.DecryptedSum(share));
    }

    [Fact]
    public void An_exact_study_is_decrypted_over_one_set_of_hospitals_only()
    {
        // Attempt 1 is decrypted over {self, peer0, peer1, peer2}; the coordinator declares peer2 late and re-runs the round without it.
        Attempt(attempt: 1).Run();
        var rerun = Attempt(attempt: 2, peers: _federation.Peers.Take(2).ToList());
        Assert.Equal(ProtocolRules.ParticipantSetChanged, Rule(() => rerun.OpenKeys(rerun.CommitKeys())));

        // Nor in a later round of the study: round 2's statistic is round 1's again (a federated sum), and the set differs.
        var round2 = Attempt(round: 2, peers: _federation.Peers.Take(2).ToList());
        Assert.Equal(ProtocolRules.ParticipantSetChanged, Rule(() => round2.OpenKeys(round2.CommitKeys())));

        // The same set is fine.
        Attempt(round: 2, attempt: 2).Run();
    }

    public void Dispose()
    {
        _node.Dispose();
        _federation.Dispose();
    }
}
