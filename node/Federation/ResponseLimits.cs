using FederatedTwin.Crypto;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// The most bytes the node reads of each kind of coordinator answer before it checks the answer's signature. Most answers (work,
/// commitments, the roster, enrollment, a key rotation, the coordinator's identity) are JSON of a few kilobytes up to a few
/// hundred (a commitment set of a thousand parties is ~0.3 MB): <see cref="Default"/>. The two announcements that carry crypto
/// objects for every party are sized from the scheme's serialized lengths (<see cref="IAdditiveThresholdScheme"/>), base64 in
/// JSON, for the parties of the study this node accepted: <see cref="KeyAnnouncement"/> and <see cref="AggregateAnnouncement"/>.
/// An answer over its limit is refused unread (a <see cref="CoordinatorRefusedException"/> titled
/// <see cref="CoordinatorClient.UntrustedResponse"/>), so a coordinator or anyone on the path cannot make a node buffer more.
/// </summary>
public static class ResponseLimits
{
    /// <summary>Any answer that carries no crypto object per party.</summary>
    public const long Default = 4L * 1024 * 1024;

    /// <summary>What each party adds around its crypto object (node id, public key, signature, commitment), generously.</summary>
    public const int PerPartyBytes = 4 * 1024;

    /// <summary>The collective key announcement: the collective key and every party's opened public key share, with their commitments.</summary>
    public static long KeyAnnouncement(IAdditiveThresholdScheme scheme, int parties)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        return Sized(Base64(scheme.PublicKeyShareLength), parties);
    }

    /// <summary>The aggregate announcement: the aggregate and every party's opened ciphertext of <paramref name="valueCount"/> values, with their commitments.</summary>
    public static long AggregateAnnouncement(IAdditiveThresholdScheme scheme, int parties, int valueCount)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        return Sized(Base64(scheme.EncryptedVectorLength(Math.Clamp(valueCount, 1, scheme.MaxValuesPerDecryption))), parties);
    }

    /// <summary>
    /// The response body, read only up to <paramref name="limit"/> bytes: a declared length over it, or a body that goes on past it,
    /// is refused before (or instead of) being buffered.
    /// </summary>
    /// <summary>
    /// The shares dealt to this node in a t-of-n attempt: per other party, a sealed Shamir share (base64) and the dealer's manifest (a
    /// recipient key and a digest for every party, about 112 bytes each).
    /// </summary>
    public static long DealtShares(IAdditiveThresholdScheme scheme, int parties)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        var share = scheme is ICommitteeThresholdScheme committee ? committee.ShamirShareLength + Protocol.Federation.CommitteeChannelKey.Overhead : 0;
        return Sized(Base64(share) + (128L * Math.Max(parties, 1)), parties);
    }

    public static async Task<byte[]> Read(HttpResponseMessage response, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.Content.Headers.ContentLength > limit)
        {
            throw TooLarge(response, limit);
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream((int)Math.Min(response.Content.Headers.ContentLength ?? 64 * 1024, limit));
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw TooLarge(response, limit);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static CoordinatorRefusedException TooLarge(HttpResponseMessage response, long limit) =>
        new((int)response.StatusCode, CoordinatorClient.UntrustedResponse, $"The coordinator's response was refused unread (larger than the {limit} bytes an answer of its kind may be).");

    private static long Sized(long perParty, int parties) => ((Math.Max(parties, 1) + 1L) * (perParty + PerPartyBytes)) + Default;

    private static long Base64(int bytes) => 4L * ((bytes + 2L) / 3);
}
