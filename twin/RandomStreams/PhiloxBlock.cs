namespace FederatedTwin.Twin.RandomStreams;

/// <summary>The 128 bits one Philox call produces.</summary>
public readonly record struct PhiloxBlock(uint X0, uint X1, uint X2, uint X3)
{
    /// <summary>A uniform double in the open interval (0, 1) from the first 53 bits (X0:X1), never exactly 0 or 1.</summary>
    public double Uniform01()
    {
        var bits = (((ulong)X0 << 32) | X1) >> 11;
        return (bits + 0.5) * (1.0 / (1UL << 53));
    }

    /// <summary>Word i (0..3) as a uniform in the open interval (0, 1): (x + 0.5) / 2^32.</summary>
    public double Word01(int i) => (i switch { 0 => X0, 1 => X1, 2 => X2, _ => X3 } + 0.5) * (1.0 / 4294967296.0);
}
