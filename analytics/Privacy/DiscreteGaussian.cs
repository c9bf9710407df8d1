using System.Numerics;
using FederatedTwin.Crypto.Codec;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// Exact sampler for the discrete Gaussian N_Z(0, σ²): P(Y = y) ∝ exp(−y²/(2σ²)) on the integers
/// (Canonne, Kamath and Steinke 2020, Algorithm 3). σ² is an exact rational; a discrete Laplace with
/// scale t = ⌊σ⌋ + 1 is accepted with probability exp(−(|Y| − σ²/t)²/(2σ²)), every probability decided
/// by integer comparisons on random words, never by floating point (Mironov 2012). Its variance is
/// slightly below σ² and, for integer-valued statistics of L2 sensitivity Δ, it gives Δ²/(2σ²)-zCDP
/// (ibid., Theorem 4), the same ρ the continuous Gaussian would.
/// Not thread-safe (the random source is not).
/// </summary>
public sealed class DiscreteGaussian
{
    /// <summary>σ below 2^48 keeps every Laplace intermediate inside 64 bits with overwhelming margin.</summary>
    private static readonly BigInteger MaxScale = BigInteger.One << 48;
    private static readonly BigInteger UInt128Limit = BigInteger.One << 127;

    private readonly BigInteger _p;
    private readonly BigInteger _q;
    private readonly ulong _t;
    private readonly BigInteger _denominator;
    private readonly bool _fast;
    private readonly ulong _pFast;
    private readonly ulong _qFast;
    private readonly UInt128 _denominatorFast;

    /// <summary>Samples with σ² exactly <paramref name="variance"/>, drawing only from <paramref name="random"/>.</summary>
    public DiscreteGaussian(ExactRational variance, IRandomBitSource random)
        : this(variance, random, forceBigInteger: false)
    {
    }

    internal DiscreteGaussian(ExactRational variance, IRandomBitSource random, bool forceBigInteger)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (variance.Sign <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(variance), "sigma squared must be positive");
        }

        Variance = variance;
        Random = random;
        _p = variance.Numerator;
        _q = variance.Denominator;
        var t = IntegerSquareRoot(_p / _q) + 1;
        if (t > MaxScale)
        {
            throw new ArgumentOutOfRangeException(nameof(variance), "sigma must be below 2^48");
        }

        _t = (ulong)t;

        // γ = (|Y| − σ²/t)² / (2σ²) = (|Y|·q·t − p)² / (2·p·q·t²) with σ² = p/q: one integer fraction.
        _denominator = 2 * _p * _q * t * t;
        _fast = !forceBigInteger && _p <= ulong.MaxValue && _q <= ulong.MaxValue && _denominator < UInt128Limit;
        if (_fast)
        {
            _pFast = (ulong)_p;
            _qFast = (ulong)_q;
            _denominatorFast = (UInt128)_denominator;
        }
    }

    /// <summary>The exact σ² being sampled.</summary>
    public ExactRational Variance { get; }

    /// <summary>Where every random bit comes from.</summary>
    public IRandomBitSource Random { get; }

    /// <summary>A sampler over the platform CSPRNG (<see cref="CryptographicRandomBits"/>): the production path.</summary>
    public static DiscreteGaussian Create(ExactRational variance) => new(variance, new CryptographicRandomBits());

    /// <summary>
    /// σ² given as a double, converted exactly by <see cref="ExactRational.FromDouble"/> (the sampler uses
    /// the binary value the double holds, so accounting with the same double is exact).
    /// </summary>
    public static DiscreteGaussian FromVariance(double sigmaSquared, IRandomBitSource random) =>
        new(PositiveRational(sigmaSquared, nameof(sigmaSquared)), random);

    /// <summary><see cref="FromVariance(double, IRandomBitSource)"/> over the platform CSPRNG.</summary>
    public static DiscreteGaussian FromVariance(double sigmaSquared) => FromVariance(sigmaSquared, new CryptographicRandomBits());

    public long Sample()
    {
        while (true)
        {
            long y = ExactSampling.DiscreteLaplace(_t, 1, Random);
            ulong magnitude = (ulong)Math.Abs(y);
            if (Accept(magnitude))
            {
                return y;
            }
        }
    }

    public void Sample(Span<long> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = Sample();
        }
    }

    /// <summary>
    /// Adds discrete Gaussian noise to a fixed-point encoded vector, block by block. A block with scale s
    /// encodes round(x·s), so real-valued noise of variance σ² is integer noise of variance σ²·s² (σ_int = σ·s);
    /// that product is formed exactly from the two doubles. The addition wraps modulo 2^64 like the codec's
    /// two's-complement encoding and the encrypted sum, so a single party's noised value may wrap and the
    /// decoded total is still exact as long as the true total of values plus noise stays within ±2^63.
    /// The caller sizes the codec's headroom for the noise (about 10·σ_int per party is never exceeded in practice).
    /// </summary>
    /// <param name="fixedPointVector">The encoded vector, noised in place.</param>
    /// <param name="blocks">The codec's blocks, in order; their lengths must cover the vector.</param>
    /// <param name="varianceByBlock">σ² per block in the real (decoded) domain, e.g. <see cref="NoiseShare.PerNodeVariance"/>.</param>
    /// <param name="random">The randomness; production code passes <see cref="CryptographicRandomBits"/>.</param>
    public static void AddNoise(long[] fixedPointVector, IReadOnlyList<FixedPointBlock> blocks, IReadOnlyList<double> varianceByBlock, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(fixedPointVector);
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(varianceByBlock);
        ArgumentNullException.ThrowIfNull(random);
        if (varianceByBlock.Count != blocks.Count)
        {
            throw new ArgumentException($"{blocks.Count} blocks need {blocks.Count} variances, not {varianceByBlock.Count}.", nameof(varianceByBlock));
        }

        if (blocks.Sum(b => (long)b.Length) != fixedPointVector.Length)
        {
            throw new ArgumentException($"The blocks cover {blocks.Sum(b => (long)b.Length)} values, the vector has {fixedPointVector.Length}.", nameof(fixedPointVector));
        }

        int at = 0;
        for (int b = 0; b < blocks.Count; b++)
        {
            var block = blocks[b];
            var scale = ExactRational.FromDouble(block.Scale);
            var sampler = new DiscreteGaussian(PositiveRational(varianceByBlock[b], nameof(varianceByBlock)) * scale * scale, random);
            for (int i = at; i < at + block.Length; i++)
            {
                fixedPointVector[i] = unchecked(fixedPointVector[i] + sampler.Sample());
            }

            at += block.Length;
        }
    }

    /// <summary><see cref="AddNoise(long[], IReadOnlyList{FixedPointBlock}, IReadOnlyList{double}, IRandomBitSource)"/> with the codec's blocks.</summary>
    public static void AddNoise(long[] fixedPointVector, FixedPointCodec codec, IReadOnlyList<double> varianceByBlock, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(codec);
        AddNoise(fixedPointVector, codec.Blocks, varianceByBlock, random);
    }

    private static ExactRational PositiveRational(double value, string name)
    {
        if (!(value > 0) || !double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, "a noise variance must be positive and finite");
        }

        return ExactRational.FromDouble(value);
    }

    private static BigInteger IntegerSquareRoot(BigInteger n)
    {
        if (n < 2)
        {
            return n;
        }

        // Newton's iteration from above converges to ⌊√n⌋; ⌊σ⌋ = ⌊√⌊σ²⌋⌋ for σ² ≥ 0.
        var x = BigInteger.One << (int)((n.GetBitLength() / 2) + 1);
        while (true)
        {
            var y = (x + (n / x)) >> 1;
            if (y >= x)
            {
                return x;
            }

            x = y;
        }
    }

    private bool Accept(ulong magnitude)
    {
        if (_fast)
        {
            UInt128 yq = (UInt128)magnitude * _qFast;
            if (BitLength(yq) + BitLength(_t) <= 128)
            {
                UInt128 yqt = yq * _t;
                UInt128 a = yqt >= _pFast ? yqt - _pFast : _pFast - yqt;
                if (a <= ulong.MaxValue)
                {
                    return ExactSampling.BernoulliExpMinus(a * a, _denominatorFast, Random);
                }
            }
        }

        var diff = (new BigInteger(magnitude) * _q * _t) - _p;
        return ExactSampling.BernoulliExpMinus(diff * diff, _denominator, Random);
    }

    private static int BitLength(UInt128 value) => 128 - (int)UInt128.LeadingZeroCount(value);
}
