using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests.Adversarial;

/// <summary>
/// A coordinator that deviates from the protocol, alone or with a colluding participant, against three real nodes (docs/threat-model.md).
/// One test per attack: each drives the attack for real (signed messages over HTTP), asserts the node's refusal by the rule its audit
/// trail names, and that the coordinator ends with nothing it should not have (no second sum, no share under a key it chose).
/// </summary>
[Trait("Category", "Adversarial")]
public sealed class HostileCoordinatorTests(AdversarialFederation federation) : IClassFixture<AdversarialFederation>
{
    private HostileCoordinator Coordinator => federation.Coordinator;

    private string A => federation.A;

    private string B => federation.B;

    private string C => federation.C;

    private Colluder D => federation.Member;

    private static RoundRequest Request(StudySpec study) => AdversarialFederation.Request(study);

    /// <summary>A, B and C's census vectors summed: what an honest round over the three decrypts to.</summary>
    private long[] SumOf(params string[] nodes) => TestFederation.Sum(nodes.Select(federation.SiteVector));

    [Fact]
    public async Task Attempt_differencing_the_coordinator_decrypts_an_attempt_declares_a_hospital_late_and_reruns_without_it_but_the_others_refuse()
    {
        var study = await federation.Offer(AdversarialFederation.Study("attack-attempt-differencing"));
        var first = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await first.RunThrough(AttemptPhase.Decrypt);
        Assert.Equal(SumOf(A, B, C), first.Decrypted());

        // "A missed the deadline": attempt 2 over B, C and hospital-d, which contributes zeros. Its sum would be B + C, so
        // subtracting it from attempt 1's would give A's vector exactly.
        first.Phase = null;
        var second = Coordinator.StartAttempt(study, 1, 2, [B, C, D.NodeId], Request(study));
        D.Commit(second, ContributionKind.KeyShare, D.KeyShare(second));
        await second.Run(AttemptPhase.KeyCommit, from: [B, C]);
        D.Open(second, ContributionKind.KeyShare, D.KeyShare(second));
        second.Phase = AttemptPhase.KeyOpen;

        foreach (var node in new[] { B, C })
        {
            var (action, detail) = await federation.Refusal(node, ProtocolRules.ParticipantSetChanged, study.Id.Value);
            Assert.Equal(AuditActions.KeyShareRefused, action);
            Assert.Equal(2, detail["attempt"]!.GetValue<int>());
        }

        // B and C never revealed a key share for attempt 2: no key, no update, no decryption of B + C, no difference.
        Assert.DoesNotContain(second.Received.Keys, k => k.Kind != ContributionKind.KeyShareCommitment && k.Node != D.NodeId);
        Assert.Null(second.Decrypted());
    }

    [Fact]
    public async Task Cross_round_differencing_a_later_round_over_a_different_set_of_hospitals_is_refused()
    {
        // A federated sum of two rounds sends the same vector in each; round 2 over B, C and hospital-d would give B + C.
        var study = await federation.Offer(AdversarialFederation.Study("attack-cross-round", rounds: 2));
        var round1 = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await round1.RunThrough(AttemptPhase.Decrypt);
        Assert.Equal(SumOf(A, B, C), round1.Decrypted());
        round1.Phase = null;

        var round2 = Coordinator.StartAttempt(study, 2, 1, [B, C, D.NodeId], Request(study));
        D.Commit(round2, ContributionKind.KeyShare, D.KeyShare(round2));
        await round2.Run(AttemptPhase.KeyCommit, from: [B, C]);
        round2.Phase = AttemptPhase.KeyOpen;
        foreach (var node in new[] { B, C })
        {
            var (_, detail) = await federation.Refusal(node, ProtocolRules.ParticipantSetChanged, study.Id.Value);
            Assert.Equal(2, detail["round"]!.GetValue<int>());
        }

        Assert.Null(round2.Decrypted());
        Assert.False(round2.Received.ContainsKey((ContributionKind.KeyShare, B)));
    }

    [Fact]
    public async Task Cross_study_differencing_the_same_exact_census_again_with_one_hospital_more_is_refused_by_the_hospitals_that_released_it()
    {
        var first = await federation.Offer(AdversarialFederation.Study("attack-cross-study-first"));
        var census = Coordinator.StartAttempt(first, 1, 1, [A, B, C], Request(first));
        await census.RunThrough(AttemptPhase.Decrypt);
        Assert.Equal(SumOf(A, B, C), census.Decrypted());
        census.Phase = null;

        // A new study of the same vector, year and purpose over A, B, C and hospital-d: its sum minus the first would be D's census
        // (here the colluder's own, but as well an honest newcomer's). The study is new, so no per-study binding applies.
        var again = await federation.Offer(AdversarialFederation.Study("attack-cross-study-again") with { Parameters = first.Parameters });
        var second = Coordinator.StartAttempt(again, 1, 1, [A, B, C, D.NodeId], Request(again));
        D.Commit(second, ContributionKind.KeyShare, D.KeyShare(second));
        await second.Run(AttemptPhase.KeyCommit, from: [A, B, C]);
        D.Open(second, ContributionKind.KeyShare, D.KeyShare(second));
        second.Phase = AttemptPhase.KeyOpen;
        foreach (var node in new[] { A, B, C })
        {
            var (action, detail) = await federation.Refusal(node, ProtocolRules.ReleaseDifferencing, again.Id.Value);
            Assert.Equal(AuditActions.KeyShareRefused, action);
            Assert.Contains($"with {D.Name}", detail["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(second.Received.Keys, k => k.Kind != ContributionKind.KeyShareCommitment && k.Node != D.NodeId);
        Assert.Null(second.Decrypted());
    }

    [Fact]
    public async Task Sybil_enrollment_a_key_the_coordinator_enrolled_for_itself_does_not_count_as_a_hospital()
    {
        // The coordinator issues tokens, so it enrolled a node of its own and makes "three hospitals" out of A, B and it.
        var study = await federation.Offer(AdversarialFederation.Study("attack-sybil"));
        var sybil = federation.Sybil;
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, sybil.NodeId], Request(study));
        sybil.Commit(attempt, ContributionKind.KeyShare, sybil.KeyShare(attempt));
        await attempt.Run(AttemptPhase.KeyCommit, from: [A, B]);
        attempt.Phase = AttemptPhase.KeyOpen;
        foreach (var node in new[] { A, B })
        {
            var (action, detail) = await federation.Refusal(node, ProtocolRules.RosterUnknownKey, study.Id.Value);
            Assert.Equal(AuditActions.KeyShareRefused, action);
            Assert.Contains(sybil.Key, detail["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        Assert.False(attempt.Received.ContainsKey((ContributionKind.KeyShare, A)));
        Assert.False(attempt.Received.ContainsKey((ContributionKind.KeyShare, B)));
    }

    [Fact]
    public async Task Cancellation_a_colluding_hospital_that_opens_minus_the_others_updates_is_refused_because_it_committed_first()
    {
        // Hospital-d must commit to its ciphertext before anyone reveals. It then "opens" −(c_B + c_C) + Enc(0): the aggregate would be
        // c_A + Enc(0), and the honest decryption shares would reveal A's update. Its opening does not match its commitment.
        var study = await federation.Offer(AdversarialFederation.Study("attack-cancellation"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, C, D.NodeId], Request(study));
        await RunWithMember(attempt, AttemptPhase.UpdateOpen, memberUpdate: new long[16], honest: [A, B, C]);

        var cancel = LatticeAttacks.Add(
            LatticeAttacks.NegatedSum([attempt.Received[(ContributionKind.Update, B)].Payload, attempt.Received[(ContributionKind.Update, C)].Payload], 16),
            HostileCoordinator.Scheme.Encrypt(attempt.Key().CollectiveKey, new long[16]), 16);
        D.Open(attempt, ContributionKind.Update, cancel);
        attempt.Phase = AttemptPhase.Decrypt;
        foreach (var node in new[] { A, B, C })
        {
            var (action, _) = await federation.Refusal(node, ProtocolRules.OpeningMismatch, study.Id.Value);
            Assert.Equal(AuditActions.DecryptionShareRefused, action);
        }

        Assert.Null(attempt.Decrypted());
    }

    [Fact]
    public async Task Rogue_key_a_colluding_hospital_that_opens_a_key_share_cancelling_the_others_is_refused_before_anything_is_encrypted()
    {
        // Hospital-d committed to an honest-looking share, then opens p* − p_A − p_B: the collective key would be p*, whose secret
        // the coordinator knows, and every update encrypted under it would be readable.
        var study = await federation.Offer(AdversarialFederation.Study("attack-rogue-key"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, D.NodeId], Request(study));
        D.Commit(attempt, ContributionKind.KeyShare, D.KeyShare(attempt));
        await attempt.Run(AttemptPhase.KeyCommit, from: [A, B]);
        await attempt.Run(AttemptPhase.KeyOpen, from: [A, B]);
        using var coordinatorKey = new Colluder("coordinator-secret");
        var wanted = coordinatorKey.KeyShare(attempt);
        var rogue = LatticeAttacks.RogueKeyShare(wanted, [attempt.Received[(ContributionKind.KeyShare, A)].Payload, attempt.Received[(ContributionKind.KeyShare, B)].Payload]);
        D.Open(attempt, ContributionKind.KeyShare, rogue);
        var scheme = Crypto.RlweThresholdScheme.Default;
        Assert.True(scheme.ReadPublicKey(scheme.AggregatePublicKey(attempt.Seed, [wanted])).P0.ContentEquals(scheme.ReadPublicKey(attempt.Key().CollectiveKey).P0)); // the attack is real: the key is p*

        attempt.Phase = AttemptPhase.UpdateCommit;
        foreach (var node in new[] { A, B })
        {
            var (action, _) = await federation.Refusal(node, ProtocolRules.OpeningMismatch, study.Id.Value);
            Assert.Equal(AuditActions.SubmissionRefused, action);
        }

        Assert.False(attempt.Received.ContainsKey((ContributionKind.UpdateCommitment, A)));
        Assert.False(attempt.Received.ContainsKey((ContributionKind.UpdateCommitment, B)));
    }

    [Fact]
    public async Task Equivocated_commitment_sets_a_node_shown_two_different_sets_for_one_attempt_refuses_the_second()
    {
        // Hospital-d signs commitments to two different key shares; the coordinator shows A one set and B the other, and then
        // shows each the set it showed the other, so that whatever it does next is consistent with B's view.
        var study = await federation.Offer(AdversarialFederation.Study("attack-equivocation"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, D.NodeId], Request(study));
        D.Commit(attempt, ContributionKind.KeyShare, D.KeyShare(attempt));
        await attempt.Run(AttemptPhase.KeyCommit, from: [A, B]);
        var shownToA = attempt.Commitments(ContributionKind.KeyShare);
        using var other = new Colluder("other-share");
        var otherShare = other.KeyShare(attempt);
        var digest = HostileAttempt.Hash(otherShare);
        var shownToB = shownToA with
        {
            Commitments = [.. shownToA.Commitments.Select(c => c.NodePublicKey != D.Key ? c
                : c with { Digest = digest, Signature = D.Identity.Sign(SignedStatement.Commitment(ContributionKind.KeyShare, study.Id, 1, 1, attempt.Seed, digest)) })],
        };
        attempt.ShowCommitments = (node, _) => node == A ? shownToA : shownToB;
        await attempt.Run(AttemptPhase.KeyOpen, from: [A, B]);

        // Asked again, each node is shown the other's set.
        attempt.ShowCommitments = (node, _) => node == A ? shownToB : shownToA;
        attempt.AskAgain.UnionWith([A, B]);
        foreach (var node in new[] { A, B })
        {
            var (action, _) = await federation.Refusal(node, ProtocolRules.CommitmentSetEquivocation, study.Id.Value);
            Assert.Equal(AuditActions.KeyShareRefused, action);
        }

        // And each opening is bound to the set its node saw: a key announcement mixing them is refused too.
        attempt.ShowCommitments = null;
        attempt.Phase = AttemptPhase.UpdateCommit;
        await federation.Refusal(A, ProtocolRules.OpeningMismatch, study.Id.Value);
        Assert.False(attempt.Received.ContainsKey((ContributionKind.UpdateCommitment, A)));
    }

    [Fact]
    public async Task An_opening_that_does_not_match_its_commitment_is_refused_and_nothing_is_decrypted()
    {
        // The coordinator swaps B's ciphertext for one of its choosing in the aggregate it shows A (keeping B's commitment).
        var study = await federation.Offer(AdversarialFederation.Study("attack-opening-mismatch"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await attempt.RunThrough(AttemptPhase.UpdateOpen);
        var key = attempt.Key().CollectiveKey;
        attempt.ShowAggregate = node =>
        {
            var honest = attempt.Aggregate();
            var swapped = honest.Submissions.Select(s => s.NodePublicKey == Coordinator.KeyOf(B) ? s with { Payload = HostileCoordinator.Scheme.Encrypt(key, new long[16]) } : s).ToList();
            return honest with { Submissions = swapped, Aggregate = attempt.Sum(swapped.Select(s => s.Payload)) };
        };
        attempt.Phase = AttemptPhase.Decrypt;
        foreach (var node in new[] { A, B, C })
        {
            Assert.Equal(AuditActions.DecryptionShareRefused, (await federation.Refusal(node, ProtocolRules.OpeningMismatch, study.Id.Value)).Action);
        }

        Assert.Null(attempt.Decrypted());
    }

    [Fact]
    public async Task A_substituted_crp_seed_is_refused()
    {
        // After A keyed the attempt with one CRP seed, the coordinator hands it another (a common reference polynomial it chose).
        var study = await federation.Offer(AdversarialFederation.Study("attack-crp-seed"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await attempt.Run(AttemptPhase.KeyCommit);
        var substituted = HostileCoordinator.Scheme.NewCrpSeed();
        attempt.TamperWork = (node, item) => node == A ? item with { CrpSeed = substituted } : item;
        attempt.ShowCommitments = (node, kind) => node == A ? attempt.Commitments(kind) with { CrpSeed = substituted } : null;
        attempt.Phase = AttemptPhase.KeyOpen;
        Assert.Equal(AuditActions.KeyShareRefused, (await federation.Refusal(A, ProtocolRules.CrpSeed, study.Id.Value)).Action);
        Assert.False(attempt.Received.ContainsKey((ContributionKind.KeyShare, A)));
    }

    [Fact]
    public async Task An_unsigned_roster_change_relayed_by_the_coordinator_is_refused_and_the_pinned_roster_stays()
    {
        // Version 2 adds the coordinator's own key as a "hospital"; no officer of the nodes approved it (the coordinator signed it itself).
        var added = new SignedRoster(new FederationRoster("adversarial-aco", 2, [
            .. federation.Nodes.Select(n => new RosterMember(n.Name, Node.NodeDirectory.ReadPublicKey(n.Dir))),
            new RosterMember(D.Name, D.Key),
            new RosterMember("new-member", federation.Sybil.Key)]), []).Approve(Coordinator.Identity);
        Coordinator.RelayedRoster = added.ToJson();
        Coordinator.RelayedRosterVersion = 2;
        try
        {
            foreach (var node in new[] { A, B, C })
            {
                var (action, detail) = await federation.Refusal(node, PinnedRoster.Unsigned);
                Assert.Equal(AuditActions.RosterRefused, action);
                Assert.Equal(1, PinnedVersion(node));
            }

            // The sybil is still no hospital to any node.
            var study = await federation.Offer(AdversarialFederation.Study("attack-unsigned-roster"));
            var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, federation.Sybil.NodeId], Request(study));
            federation.Sybil.Commit(attempt, ContributionKind.KeyShare, federation.Sybil.KeyShare(attempt));
            await attempt.Run(AttemptPhase.KeyCommit, from: [A, B]);
            attempt.Phase = AttemptPhase.KeyOpen;
            await federation.Refusal(A, ProtocolRules.RosterUnknownKey, study.Id.Value);
        }
        finally
        {
            Coordinator.RelayedRoster = null;
            Coordinator.RelayedRosterVersion = null;
        }
    }

    [Fact]
    public async Task A_forged_deadline_does_not_keep_an_attempt_open_past_the_nodes_own_deadline()
    {
        // phase_deadline_seconds 2: each node gives an attempt 5 × 2 s from its first step in it, by its own clock.
        var study = await federation.Offer(AdversarialFederation.Study("attack-deadline", deadline: 2));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await attempt.RunThrough(AttemptPhase.UpdateOpen);

        // The nodes under attack are real `ftwin node run` processes: their deadline is on the wall clock, which a test cannot move,
        // so the test waits it out (5 × 2 s from their first step, and a second's margin). The same rule in process, with a clock
        // the test moves and its boundary to the tick, is ParticipantTests' (At_the_attempts_deadline_itself..., One_tick_after...).
        await Task.Delay(TimeSpan.FromSeconds((5 * 2) + 1));
        var forged = TimeProvider.System.GetUtcNow().AddDays(1);
        attempt.TamperWork = (_, item) => item with { Deadline = forged };
        attempt.ShowAggregate = _ => attempt.Aggregate() with { Deadline = forged };
        attempt.Phase = AttemptPhase.Decrypt;
        foreach (var node in new[] { A, B, C })
        {
            Assert.Equal(AuditActions.DecryptionShareRefused, (await federation.Refusal(node, ProtocolRules.AttemptDeadline, study.Id.Value)).Action);
        }

        Assert.Null(attempt.Decrypted());
    }

    [Fact]
    public async Task An_oversized_value_count_is_refused_before_anything_is_allocated_and_the_node_keeps_running()
    {
        // 2^30 values: a node that sized its sum by the request would try to allocate ~50 GB at decryption.
        var study = await federation.Offer(AdversarialFederation.Study("attack-value-count"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await attempt.RunThrough(AttemptPhase.UpdateOpen);
        attempt.Request = Request(study) with { ValueCount = 1 << 30 };
        attempt.Phase = AttemptPhase.Decrypt;
        foreach (var node in new[] { A, B, C })
        {
            Assert.Equal(AuditActions.DecryptionShareRefused, (await federation.Refusal(node, ProtocolRules.RoundLayout, study.Id.Value)).Action);
        }

        Assert.True(federation.Running);
    }

    [Fact]
    public async Task Noise_amplification_needs_a_participant_on_the_roster_a_ciphertext_from_a_key_that_is_not_is_refused()
    {
        // After an honest key generation among A, B and C, the coordinator adds its own key's commitment to the update set: a
        // malformed ciphertext 2^95·(p0, p1) + Enc(0), whose decrypted noise would expose the collective key's error.
        var study = await federation.Offer(AdversarialFederation.Study("attack-noise-amplification"));
        var attempt = Coordinator.StartAttempt(study, 1, 1, [A, B, C], Request(study));
        await attempt.RunThrough(AttemptPhase.UpdateCommit);
        var sybil = federation.Sybil;
        var amplified = LatticeAttacks.AmplifiedCiphertext(attempt.Key().CollectiveKey, new long[16]);
        attempt.ShowCommitments = (_, kind) =>
        {
            var honest = attempt.Commitments(kind);
            var digest = HostileAttempt.Hash(amplified);
            return kind != ContributionKind.Update ? null : honest with
            {
                Commitments = [.. honest.Commitments, new SignedCommitment(new NodeId(sybil.NodeId), sybil.Key, digest,
                    sybil.Identity.Sign(SignedStatement.Commitment(ContributionKind.Update, study.Id, 1, 1, attempt.Seed, digest, attempt.Commitments(ContributionKind.KeyShare).Digest())))],
            };
        };
        attempt.Phase = AttemptPhase.UpdateOpen;
        foreach (var node in new[] { A, B, C })
        {
            Assert.Equal(AuditActions.SubmissionRefused, (await federation.Refusal(node, ProtocolRules.RosterUnknownKey, study.Id.Value)).Action);
        }

        Assert.False(attempt.Received.ContainsKey((ContributionKind.Update, A)));
    }

    [Fact]
    public async Task Forged_models_a_model_signed_by_another_key_or_changed_after_signing_is_refused_and_the_signed_one_is_kept()
    {
        // The coordinator relays, in its signed answer, a model it signed, one signed by a key it made up (a model "from elsewhere"), and
        // its own model with the heart-failure coefficient raised after signing. Each node keeps only the first (issue 21).
        using var other = Ed25519Identity.Generate();
        var good = ModelDistributionTests.Signed(Coordinator.Identity, "hostile-good");
        var forged = ModelDistributionTests.Signed(other, "hostile-forged");
        var altered = ModelDistributionTests.Signed(Coordinator.Identity, "hostile-altered") with { Document = ModelDistributionTests.Document("hostile-altered", heartFailure: 4.0) };
        Coordinator.RelayedModels = new ModelCatalog([good, forged, altered]);
        foreach (var node in new[] { A, B, C })
        {
            await Eventually.Until(() => federation.Audit(node).Count(e => e.Action == AuditActions.ModelRefused) >= 2, TimeSpan.FromSeconds(60), $"{node} to refuse the two forged models");
            var refused = federation.Audit(node).Where(e => e.Action == AuditActions.ModelRefused).ToList();
            Assert.All(refused, e => Assert.Equal(Node.Twins.NodeModelRegistry.SignatureRule, e.Detail["rule"]!.GetValue<string>()));
            Assert.Equal(["glm/admission_next_year/hostile-altered", "glm/admission_next_year/hostile-forged"], refused.Select(e => e.Detail["model_id"]!.GetValue<string>()).Order(StringComparer.Ordinal));
            var received = Assert.Single(federation.Audit(node), e => e.Action == AuditActions.ModelReceived);
            Assert.Equal(good.Id, received.Detail["model_id"]!.GetValue<string>());
            Assert.Equal(good.Version, received.Detail["version"]!.GetValue<string>());
        }

        Assert.True(federation.Running);
    }

    /// <summary>Runs an attempt with hospital-d colluding honestly-looking up to <paramref name="last"/>: it commits before it opens, like the nodes.</summary>
    private async Task RunWithMember(HostileAttempt attempt, AttemptPhase last, long[] memberUpdate, string[] honest)
    {
        byte[]? ciphertext = null;
        await attempt.RunThrough(last, honest, phase =>
        {
            switch (phase)
            {
                case AttemptPhase.KeyCommit:
                    D.Commit(attempt, ContributionKind.KeyShare, D.KeyShare(attempt));
                    break;
                case AttemptPhase.KeyOpen:
                    D.Open(attempt, ContributionKind.KeyShare, D.KeyShare(attempt));
                    break;
                case AttemptPhase.UpdateCommit:
                    ciphertext = HostileCoordinator.Scheme.Encrypt(attempt.Key().CollectiveKey, memberUpdate);
                    D.Commit(attempt, ContributionKind.Update, ciphertext);
                    break;
                case AttemptPhase.UpdateOpen when last != AttemptPhase.UpdateOpen:
                    D.Open(attempt, ContributionKind.Update, ciphertext!);
                    break;
                case AttemptPhase.Decrypt:
                    D.Decrypt(attempt);
                    break;
            }
        });
    }

    private int PinnedVersion(string node) => federation.Audit(node).Where(e => e.Action == AuditActions.RosterPinned).Max(e => e.Detail["version"]!.GetValue<int>());
}
