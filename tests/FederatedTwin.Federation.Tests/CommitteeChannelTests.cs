using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>The committee's private channel (X25519, HKDF-SHA256, AES-256-GCM bound to the attempt and both parties): protocol/Federation/CommitteeChannel.cs.</summary>
public sealed class CommitteeChannelTests
{
    private static readonly byte[] Seed = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];

    private static ChannelBinding Binding(CommitteeChannelKey sender, CommitteeChannelKey recipient, int attempt = 1) =>
        new(new StudyId("s-1"), 1, attempt, Seed, "SENDER-ROSTER-KEY", "RECIPIENT-ROSTER-KEY", sender.PublicKey, recipient.PublicKey);

    [Fact]
    public void A_share_sealed_to_a_member_opens_for_it_and_for_nobody_else()
    {
        using var alice = CommitteeChannelKey.Generate();
        using var bob = CommitteeChannelKey.Generate();
        using var carol = CommitteeChannelKey.Generate();
        var share = new byte[184_343];
        Random.Shared.NextBytes(share);
        var binding = Binding(alice, bob);
        var sealedShare = alice.Seal(binding, share);
        Assert.Equal(share.Length + CommitteeChannelKey.Overhead, sealedShare.Length);
        Assert.Equal(share, bob.Open(binding, sealedShare));

        // Carol holds another channel key: the share is not addressed to her, and with her key as recipient it does not open either.
        Assert.Throws<ChannelOpenException>(() => carol.Open(binding, sealedShare));
        Assert.Throws<ChannelOpenException>(() => carol.Open(binding with { RecipientChannelKey = carol.PublicKey }, sealedShare));
        // Nor does it open as another attempt's, another sender's, or another recipient roster key's share.
        Assert.Throws<ChannelOpenException>(() => bob.Open(Binding(alice, bob, attempt: 2), sealedShare));
        Assert.Throws<ChannelOpenException>(() => bob.Open(binding with { SenderRosterKey = "SOMEONE-ELSE" }, sealedShare));
        Assert.Throws<ChannelOpenException>(() => bob.Open(binding with { RecipientRosterKey = "SOMEONE-ELSE" }, sealedShare));
        Assert.Throws<ChannelOpenException>(() => bob.Open(binding with { SenderChannelKey = carol.PublicKey }, sealedShare));
        // Nor with a flipped bit.
        sealedShare[1000] ^= 1;
        Assert.Throws<ChannelOpenException>(() => bob.Open(binding, sealedShare));
    }

    [Fact]
    public void A_key_from_the_same_seed_seals_the_same_bytes_and_another_key_cannot_seal_in_its_name()
    {
        var seed = new byte[32];
        Random.Shared.NextBytes(seed);
        using var dealer = CommitteeChannelKey.FromSeed(seed);
        using var again = CommitteeChannelKey.FromSeed(seed);
        using var recipient = CommitteeChannelKey.Generate();
        Assert.Equal(dealer.PublicKey, again.PublicKey);
        var binding = Binding(dealer, recipient);
        Assert.Equal(dealer.Seal(binding, [1, 2, 3]), again.Seal(binding, [1, 2, 3]));
        using var other = CommitteeChannelKey.Generate();
        Assert.Throws<ArgumentException>(() => other.Seal(binding, [1, 2, 3]));
    }

    [Fact]
    public void A_low_order_or_malformed_peer_key_is_refused()
    {
        using var alice = CommitteeChannelKey.Generate();
        using var bob = CommitteeChannelKey.Generate();
        var zero = new byte[32]; // the identity point: X25519 with it is all zero (RFC 7748 §6.1)
        Assert.Throws<ChannelOpenException>(() => alice.Seal(Binding(alice, bob) with { RecipientChannelKey = zero }, [1]));
        Assert.Throws<ChannelOpenException>(() => alice.Seal(Binding(alice, bob) with { RecipientChannelKey = new byte[31] }, [1]));
        Assert.Throws<ChannelOpenException>(() => bob.Open(Binding(alice, bob), new byte[8]));
    }

    [Fact]
    public void Committee_points_are_one_plus_the_index_in_key_order()
    {
        var points = CommitteePoints.Of(["c", "a", "b"]);
        Assert.Equal(1, points["a"]);
        Assert.Equal(2, points["b"]);
        Assert.Equal(3, points["c"]);
    }
}
