using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// Uniform random 64-bit words for the exact DP samplers. Production noise comes only from
/// <see cref="CryptographicRandomBits"/>; the seam exists so tests can replay a fixed stream.
/// Implementations need not be thread-safe: give each sampling thread its own source.
/// </summary>
public interface IRandomBitSource
{
    ulong NextUInt64();
}

/// <summary>
/// Words from a <see cref="RandomNumberGenerator"/> (the operating system's CSPRNG), read in
/// blocks because one call per word would dominate the sampler's cost. Each word is wiped from
/// the buffer as it is handed out, so a later memory dump cannot replay noise already added.
/// Never System.Random: a predictable generator lets an attacker subtract the noise (Mironov 2012's
/// point about floating point applies equally to weak randomness).
/// </summary>
public sealed class CryptographicRandomBits : IRandomBitSource
{
    private const int BufferWords = 64;
    private static readonly RandomNumberGenerator Shared = RandomNumberGenerator.Create();
    private readonly byte[] _buffer = new byte[BufferWords * sizeof(ulong)];
    private int _next = BufferWords;

    /// <summary>Reads from the platform CSPRNG.</summary>
    public CryptographicRandomBits()
        : this(Shared)
    {
    }

    /// <summary>Reads from <paramref name="generator"/>; the caller keeps ownership.</summary>
    public CryptographicRandomBits(RandomNumberGenerator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        Generator = generator;
    }

    /// <summary>The generator every word comes from.</summary>
    public RandomNumberGenerator Generator { get; }

    public ulong NextUInt64()
    {
        if (_next == BufferWords)
        {
            Generator.GetBytes(_buffer);
            _next = 0;
        }

        var word = _buffer.AsSpan(_next * sizeof(ulong), sizeof(ulong));
        var value = BinaryPrimitives.ReadUInt64LittleEndian(word);
        CryptographicOperations.ZeroMemory(word);
        _next++;
        return value;
    }
}
