namespace FederatedTwin.Crypto.Codec;

/// <summary>
/// A run of values in a vector that share one fixed-point scale, e.g. a GLM's gradient (order 10^3)
/// and Hessian (order 10^6) travelling together. Encoded value = round(value · Scale).
/// </summary>
public sealed record FixedPointBlock(string Name, int Length, double Scale)
{
    public double Resolution => 1.0 / Scale;
}

/// <summary>
/// Signed doubles ↔ signed 64-bit integers (two's complement mod t = 2^64), block by block. The
/// headroom for the encrypted sum is sized from the declared maximum number of parties P: each
/// party's encoded magnitude must stay at most ⌊(2^63 − 1)/P⌋, so a sum of P such values cannot wrap
/// modulo 2^64 and decodes to the true signed sum. A value that breaks this is refused, naming its
/// index and block but never the value itself (statistics are the node's data).
/// </summary>
public sealed class FixedPointCodec
{
    private readonly FixedPointBlock[] _blocks;
    private readonly double[] _scales;

    public FixedPointCodec(IReadOnlyList<FixedPointBlock> blocks, int maxParties)
    {
        if (blocks.Count == 0)
        {
            throw new ArgumentException("At least one block is required.", nameof(blocks));
        }

        if (maxParties < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxParties), "The maximum number of parties must be at least 1.");
        }

        foreach (var b in blocks)
        {
            if (b.Length < 0)
            {
                throw new ArgumentException($"Block '{b.Name}' has a negative length.", nameof(blocks));
            }

            if (!(b.Scale > 0) || double.IsInfinity(b.Scale))
            {
                throw new ArgumentException($"Block '{b.Name}' needs a positive, finite scale.", nameof(blocks));
            }
        }

        _blocks = [.. blocks];
        MaxParties = maxParties;
        MaxEncodedMagnitude = long.MaxValue / maxParties;
        Length = _blocks.Sum(b => b.Length);
        _scales = new double[Length];
        var at = 0;
        foreach (var b in _blocks)
        {
            Array.Fill(_scales, b.Scale, at, b.Length);
            at += b.Length;
        }
    }

    public static FixedPointCodec Uniform(int length, double scale, int maxParties) =>
        new([new FixedPointBlock("values", length, scale)], maxParties);

    public IReadOnlyList<FixedPointBlock> Blocks => _blocks;

    public int MaxParties { get; }

    public int Length { get; }

    /// <summary>⌊(2^63 − 1) / MaxParties⌋: the largest encoded magnitude one party may submit.</summary>
    public long MaxEncodedMagnitude { get; }

    /// <summary>The largest |value| block b accepts: MaxEncodedMagnitude/scale, stepped down past double rounding.</summary>
    public double MaxValue(FixedPointBlock block)
    {
        var v = MaxEncodedMagnitude / block.Scale;
        while ((long)Math.Round(v * block.Scale, MidpointRounding.ToEven) > MaxEncodedMagnitude)
        {
            v = Math.BitDecrement(v);
        }

        return v;
    }

    public long[] Encode(ReadOnlySpan<double> values)
    {
        var output = new long[values.Length];
        Encode(values, output);
        return output;
    }

    public void Encode(ReadOnlySpan<double> values, Span<long> output)
    {
        if (values.Length != Length)
        {
            throw new ArgumentException($"The codec encodes vectors of {Length} values, not {values.Length}.", nameof(values));
        }

        var limit = (double)MaxEncodedMagnitude;
        for (var i = 0; i < values.Length; i++)
        {
            var scaled = Math.Round(values[i] * _scales[i], MidpointRounding.ToEven);
            if (double.IsNaN(scaled) || !(Math.Abs(scaled) <= limit))
            {
                var block = BlockOf(i);
                throw new FixedPointOverflowException(i, block.Name, double.IsNaN(values[i])
                    ? $"Value at index {i} (block '{block.Name}') is not a number."
                    : $"Value at index {i} (block '{block.Name}', scale {block.Scale:G6}) exceeds the codec's limit of ±{MaxValue(block):G6}: a sum over {MaxParties} parties could wrap modulo 2^64.");
            }

            // (double)limit may round up by a few units; .NET's double→long cast saturates, so
            // the integer comparison below is the exact check.
            var encoded = (long)scaled;
            if (encoded > MaxEncodedMagnitude || encoded < -MaxEncodedMagnitude)
            {
                var block = BlockOf(i);
                throw new FixedPointOverflowException(i, block.Name, $"Value at index {i} (block '{block.Name}', scale {block.Scale:G6}) exceeds the codec's limit of ±{MaxValue(block):G6}: a sum over {MaxParties} parties could wrap modulo 2^64.");
            }

            output[i] = encoded;
        }
    }

    /// <summary>Decodes a sum of encoded vectors (as the threshold decryption returns it).</summary>
    public double[] Decode(ReadOnlySpan<long> sums)
    {
        if (sums.Length != Length)
        {
            throw new ArgumentException($"The codec decodes vectors of {Length} values, not {sums.Length}.", nameof(sums));
        }

        var output = new double[sums.Length];
        for (var i = 0; i < sums.Length; i++)
        {
            output[i] = sums[i] / _scales[i];
        }

        return output;
    }

    public FixedPointBlock BlockOf(int index)
    {
        var at = 0;
        foreach (var b in _blocks)
        {
            if (index < at + b.Length)
            {
                return b;
            }

            at += b.Length;
        }

        throw new ArgumentOutOfRangeException(nameof(index));
    }
}

/// <summary>A value too large for its block's scale and the declared number of parties.</summary>
public sealed class FixedPointOverflowException : ArgumentException
{
    public FixedPointOverflowException(int index, string block, string message)
        : base(message)
    {
        Index = index;
        Block = block;
    }

    public FixedPointOverflowException()
    {
        Block = string.Empty;
    }

    public FixedPointOverflowException(string message)
        : base(message)
    {
        Block = string.Empty;
    }

    public FixedPointOverflowException(string message, Exception innerException)
        : base(message, innerException)
    {
        Block = string.Empty;
    }

    public int Index { get; }

    public string Block { get; }
}
