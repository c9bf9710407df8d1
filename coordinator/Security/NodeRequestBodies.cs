using System.Security.Cryptography;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FederatedTwin.Coordinator.Security;

/// <summary>A /v1/node body read within its limit, and the SHA-256 computed while it streamed in.</summary>
public sealed record NodeRequestBody(byte[] Bytes, byte[] Sha256);

/// <summary>A body that could not be read within its limits: the status to answer (413, 408 or 400) and the rule.</summary>
public sealed class NodeRequestBodyException(int status, string rule, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Rule { get; } = rule;
}

/// <summary>
/// The largest body each kind of /v1/node request may carry, from the protocol's real maxima rather than one generous bound:
/// a contribution's payload is a serialized crypto object whose exact length the scheme gives
/// (<see cref="IAdditiveThresholdScheme.EncryptedVectorLength"/> for the ciphertext an update uploads, at the most values one
/// key may decrypt; a decryption share likewise; a public key share), base64 in the JSON envelope (RFC 4648 section 4: four
/// characters per three bytes) plus <see cref="EnvelopeBytes"/> for the rest of the envelope; every other node request
/// (enrollment, a decision, a key rotation, a commitment, any GET) is <see cref="SmallBodyBytes"/> at most. With the default
/// parameters (N = 8192, three 60-bit primes, 32 ciphertexts a key) an update is at most 15.7 MB on the wire, a decryption
/// share 7.9 MB and a key share 0.26 MB. <see cref="FederationProtocol.MaxRequestBodyBytes"/> stays the bound over all.
/// </summary>
public sealed class NodeRequestBodies(IAdditiveThresholdScheme scheme)
{
    /// <summary>Every node request that carries no crypto object: its JSON is a few hundred bytes; 64 KiB leaves room for long reasons.</summary>
    public const int SmallBodyBytes = 64 * 1024;

    /// <summary>The JSON around a contribution's base64 payload: study id, round, attempt, signature and digests (under 1 KiB in practice).</summary>
    public const int EnvelopeBytes = 16 * 1024;

    private readonly long _update = Contribution(scheme.EncryptedVectorLength(scheme.MaxValuesPerDecryption));
    private readonly long _decryptionShare = Contribution(scheme.DecryptionShareLength(scheme.MaxValuesPerDecryption));
    private readonly long _keyShare = Contribution(scheme.PublicKeyShareLength);

    // A t-of-n share bundle: a sealed Shamir share (one polynomial and the GCM tag) and its recipient's key for each other key holder,
    // up to the scheme's parties, within the bound over all requests (64 MiB: about 270 members at the default parameters).
    private readonly long _shareDeal = scheme is ICommitteeThresholdScheme committee
        ? Math.Min(FederationProtocol.MaxRequestBodyBytes, (4L * (((scheme.MaxParties - 1L) * (committee.ShamirShareLength + CommitteeChannelKey.Overhead + ShareBundle.EntryOverhead)) + 4L) / 3) + EnvelopeBytes)
        : SmallBodyBytes;

    /// <summary>The most bytes <paramref name="request"/>'s body may hold, by its endpoint kind.</summary>
    public long LimitFor(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!HttpMethods.IsPost(request.Method) || !request.Path.StartsWithSegments("/v1/node/attempts", StringComparison.Ordinal, out var rest))
        {
            return SmallBodyBytes;
        }

        // /v1/node/attempts/{study}/{round}/{attempt}/{kind}: the kind is the last of exactly four segments.
        var segments = (rest.Value ?? string.Empty).Split('/', StringSplitOptions.RemoveEmptyEntries);
        return segments.Length != 4 ? SmallBodyBytes : segments[3] switch
        {
            ContributionKind.Update => _update,
            ContributionKind.DecryptionShare => _decryptionShare,
            ContributionKind.KeyShare => _keyShare,
            ContributionKind.ShareDeal => _shareDeal,
            _ => SmallBodyBytes,
        };
    }

    /// <summary>
    /// Reads the body into one buffer of at most <paramref name="limit"/> bytes (its declared length when it has one, so nothing is
    /// copied twice), hashing it as it streams. Kestrel is told the same limit, so it too stops a body that outgrows it, and it ends
    /// a body that arrives slower than its minimum data rate (KestrelServerLimits.MinRequestBodyDataRate): both surface here as a
    /// <see cref="NodeRequestBodyException"/> with 413 or 408, never as a 500.
    /// </summary>
    public static async Task<NodeRequestBody> Read(HttpContext context, long limit)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        var declared = context.Request.ContentLength;
        if (declared > limit)
        {
            throw TooLarge(limit);
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[declared ?? Math.Min(limit, 64 * 1024)];
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (declared is not null || length >= limit)
                    {
                        // A declared body that goes on past its length is Kestrel's to refuse; an undeclared one past the limit is ours.
                        if (declared is null && await context.Request.Body.ReadAsync(new byte[1], context.RequestAborted) > 0)
                        {
                            throw TooLarge(limit);
                        }

                        break;
                    }

                    Array.Resize(ref buffer, (int)Math.Min(limit, (long)buffer.Length * 2));
                }

                var read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, length, read);
                length += read;
            }
        }
        catch (BadHttpRequestException e)
        {
            throw e.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => TooLarge(limit),
                StatusCodes.Status408RequestTimeout => new NodeRequestBodyException(StatusCodes.Status408RequestTimeout, RefusalRules.BodyTooSlow, "The body arrived more slowly than the coordinator's minimum data rate; send it again on a better connection."),
                _ => new NodeRequestBodyException(StatusCodes.Status400BadRequest, RefusalRules.BodyUnreadable, "The body could not be read: " + e.Message),
            };
        }
        catch (IOException e)
        {
            throw new NodeRequestBodyException(StatusCodes.Status400BadRequest, RefusalRules.BodyUnreadable, "The body could not be read: " + e.Message);
        }

        if (length != buffer.Length)
        {
            Array.Resize(ref buffer, length);
        }

        return new NodeRequestBody(buffer, hash.GetHashAndReset());
    }

    private static NodeRequestBodyException TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, RefusalRules.BodyTooLarge, $"The body of this kind of request is limited to {limit} bytes (the protocol's largest message of its kind).");

    private static long Contribution(int payloadBytes) =>
        Math.Min(FederationProtocol.MaxRequestBodyBytes, (4L * ((payloadBytes + 2L) / 3)) + EnvelopeBytes);
}
