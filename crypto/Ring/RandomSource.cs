using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FederatedTwin.Crypto.Ring;

/// <summary>A source of random bytes for the samplers. Secrets and noise always come from <see cref="SystemRandomSource"/>.</summary>
public abstract class RandomSource
{
    public abstract void Fill(Span<byte> destination);

    public ulong NextUInt64()
    {
        Span<byte> b = stackalloc byte[8];
        Fill(b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }
}

/// <summary>The operating system's CSPRNG (RandomNumberGenerator), never System.Random.</summary>
public sealed class SystemRandomSource : RandomSource
{
    public static SystemRandomSource Instance { get; } = new();

    public override void Fill(Span<byte> destination) => RandomNumberGenerator.Fill(destination);
}

/// <summary>
/// The SHAKE-256 output stream of (domain ‖ seed) (FIPS 202), read sequentially. The platform's
/// OpenSSL may not support incremental squeezing, so the stream is produced in one-shot calls of
/// growing length; an XOF's shorter outputs are prefixes of its longer ones, so the bytes read are
/// exactly the XOF stream whatever the chunking. Used only for public values (the common reference
/// polynomial), whose every party must expand the same seed to the same polynomial.
/// </summary>
public sealed class XofStream : RandomSource
{
    private readonly byte[] _input;
    private byte[] _buffer;
    private int _position;

    public XofStream(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> domain, int expectedBytes = 4096)
    {
        if (!Shake256.IsSupported)
        {
            throw new PlatformNotSupportedException("SHAKE-256 is not supported by this platform's cryptography library (OpenSSL 1.1.1 or later is required).");
        }

        _input = new byte[domain.Length + 1 + seed.Length];
        domain.CopyTo(_input);
        _input[domain.Length] = 0; // separator: domains are ASCII and never contain NUL
        seed.CopyTo(_input.AsSpan(domain.Length + 1));
        _buffer = Shake256.HashData(_input, Math.Max(64, expectedBytes));
    }

    public override void Fill(Span<byte> destination)
    {
        if (_position + destination.Length > _buffer.Length)
        {
            var length = Math.Max(_buffer.Length * 2, _position + destination.Length);
            _buffer = Shake256.HashData(_input, length);
        }

        _buffer.AsSpan(_position, destination.Length).CopyTo(destination);
        _position += destination.Length;
    }
}
