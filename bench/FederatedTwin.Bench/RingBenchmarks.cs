using BenchmarkDotNet.Attributes;
using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;

namespace FederatedTwin.Bench;

/// <summary>The ring operations at N = 8192 over the three production primes (one RNS polynomial = 3 × 8192 residues).</summary>
[MemoryDiagnoser]
public class RingBenchmarks
{
    private readonly RnsRing _ring = RlweParameters.Default.Ring;
    private RnsPoly _a = null!;
    private RnsPoly _b = null!;
    private RnsPoly _bShoup = null!;
    private RnsPoly _out = null!;
    private GaussianSampler _gaussian = null!;
    private TernarySampler _ternary = null!;
    private UniformSampler _uniform = null!;

    [GlobalSetup]
    public void Setup()
    {
        _uniform = new UniformSampler(_ring, SystemRandomSource.Instance);
        _gaussian = new GaussianSampler(_ring, SystemRandomSource.Instance, 3.2, 6);
        _ternary = new TernarySampler(_ring, SystemRandomSource.Instance);
        _a = _ring.NewPoly();
        _b = _ring.NewPoly();
        _out = _ring.NewPoly();
        _uniform.Sample(_a);
        _uniform.Sample(_b);
        _bShoup = _ring.ShoupCompanions(_b);
    }

    [Benchmark]
    public void NttForward() => _ring.Ntt(_a);

    [Benchmark]
    public void NttInverse() => _ring.InverseNtt(_a);

    [Benchmark]
    public void MulCoeffs() => _ring.MulCoeffs(_a, _b, _out);

    [Benchmark]
    public void MulCoeffsShoup() => _ring.MulCoeffsShoup(_a, _b, _bShoup, _out);

    [Benchmark]
    public void Add() => _ring.Add(_a, _b, _out);

    [Benchmark]
    public void SampleGaussian() => _gaussian.Sample(_out);

    [Benchmark]
    public void SampleTernary() => _ternary.Sample(_out);

    [Benchmark]
    public void SampleUniform() => _uniform.Sample(_out);
}

/// <summary>Whole-scheme operations on one ciphertext.</summary>
[MemoryDiagnoser]
public class SchemeBenchmarks
{
    private readonly RlweParameters _parameters = RlweParameters.Default;
    private Encryptor _encryptor = null!;
    private Ciphertext _ct = null!;
    private Ciphertext _other = null!;
    private readonly ulong[] _plaintext = new ulong[8192];

    [GlobalSetup]
    public void Setup()
    {
        var secret = SecretKey.Generate(_parameters);
        _encryptor = new Encryptor(PublicKey.Generate(secret));
        _ct = _encryptor.Encrypt(_plaintext);
        _other = _encryptor.Encrypt(_plaintext);
    }

    [Benchmark]
    public void Encrypt() => _encryptor.Encrypt(_plaintext, _ct);

    [Benchmark]
    public void AddCiphertext() => Evaluator.AddInPlace(_ct, _other);
}
