using BenchmarkDotNet.Attributes;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Bench;

/// <summary>
/// Noising a 10,000-value vector with the exact discrete Gaussian over the CSPRNG (the production path).
/// Target: well under a second for σ up to 10^6. Sample10k has integer σ² and runs the 128-bit acceptance path;
/// AddNoise10k noises a block at scale 10^6 with real-domain σ² = 1.1·(σ/10^6)², i.e. integer σ ≈ 1.05·σ whose
/// exact σ² is not an integer, and runs the BigInteger path.
/// </summary>
[MemoryDiagnoser]
public class DiscreteGaussianBenchmarks
{
    private readonly long[] _vector = new long[10_000];
    private DiscreteGaussian _sampler = null!;
    private FixedPointBlock[] _blocks = null!;
    private CryptographicRandomBits _random = null!;
    private double _realVariance;

    [Params(1.5, 1e3, 1e6)]
    public double Sigma { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _sampler = DiscreteGaussian.FromVariance(Sigma * Sigma);
        _blocks = [new FixedPointBlock("values", _vector.Length, 1e6)];
        _random = new CryptographicRandomBits();
        _realVariance = 1.1 * Sigma * Sigma / 1e12;
    }

    [Benchmark]
    public void Sample10k() => _sampler.Sample(_vector);

    [Benchmark]
    public void AddNoise10k() => DiscreteGaussian.AddNoise(_vector, _blocks, [_realVariance], _random);
}
