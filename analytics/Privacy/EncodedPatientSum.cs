using FederatedTwin.Crypto.Codec;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// A node's sum over its patients, formed the way the sensitivity proof assumes: each patient's (already clipped) vector is
/// rounded to the fixed-point grid of its block, round(v·s) half to even, and the rounded vectors are added exactly, in
/// 128-bit integers. Adding one patient then moves the sum by exactly that patient's rounded vector, whose L2 norm is at most
/// C·s + √d/2 (each coordinate moves by at most ½ when rounded; <see cref="Clipping.EncodedL2Sensitivity"/>), in any order
/// of patients. Accumulating in double and rounding once at the end would not do: a floating-point sum is not translation
/// invariant, so one patient can move it by more than their clipped contribution, outside the proof (Casacuberta, Shoemate,
/// Vadhan &amp; Wagaman 2022, "Widespread Underestimation of Sensitivity in Differentially Private Libraries and How to Fix
/// It", CCS). Scales are powers of two, so v·s is exact and the only rounding is the one accounted for.
/// </summary>
public sealed class EncodedPatientSum
{
    private readonly IReadOnlyList<FixedPointBlock> _layout;
    private readonly double[] _scales;
    private readonly Int128[] _totals;

    public EncodedPatientSum(IReadOnlyList<FixedPointBlock> layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        _layout = layout;
        _scales = [.. layout.SelectMany(b => Enumerable.Repeat(b.Scale, b.Length))];
        _totals = new Int128[_scales.Length];
    }

    /// <summary>Values per patient vector (the layout's length).</summary>
    public int Length => _totals.Length;

    /// <summary>Patients added so far.</summary>
    public long Patients { get; private set; }

    /// <summary>Adds one patient's vector, clipped by the caller: round(v_i·s_i) half to even for each value, added exactly.</summary>
    public void Add(ReadOnlySpan<double> patient)
    {
        if (patient.Length != _totals.Length)
        {
            throw new ArgumentException($"A patient's vector has {_totals.Length} values, not {patient.Length}.", nameof(patient));
        }

        for (int i = 0; i < patient.Length; i++)
        {
            _totals[i] += Round(patient[i], _scales[i]);
        }

        Patients++;
    }

    /// <summary>round(x·s) half to even, as the codec rounds; a value that is not finite or beyond ±2^62 is refused.</summary>
    public static long Round(double value, double scale)
    {
        var scaled = Math.Round(value * scale, MidpointRounding.ToEven);
        return double.IsFinite(scaled) && Math.Abs(scaled) <= 4.611686018427387904e18
            ? (long)scaled
            : throw new ArgumentException("A patient's value is not finite or too large for the fixed-point grid: clip it first.", nameof(value));
    }

    /// <summary>
    /// The exact integer sums as the codec would carry them, each checked against its per-party limit ⌊(2^63 − 1)/P⌋
    /// (<see cref="FixedPointCodec.MaxEncodedMagnitude"/>); a sum beyond it is refused naming its block, never its value.
    /// </summary>
    public long[] ToEncoded(FixedPointCodec codec)
    {
        ArgumentNullException.ThrowIfNull(codec);
        if (codec.Length != _totals.Length || !codec.Blocks.SequenceEqual(_layout))
        {
            throw new ArgumentException("The codec's layout is not the one the patients were summed in.", nameof(codec));
        }

        var encoded = new long[_totals.Length];
        for (int i = 0; i < encoded.Length; i++)
        {
            if (Int128.Abs(_totals[i]) > codec.MaxEncodedMagnitude)
            {
                var block = codec.BlockOf(i);
                throw new FixedPointOverflowException(i, block.Name, $"The sum at index {i} (block '{block.Name}', scale {block.Scale:G6}) exceeds the codec's limit of ±{codec.MaxValue(block):G6}: a sum over {codec.MaxParties} parties could wrap modulo 2^64.");
            }

            encoded[i] = (long)_totals[i];
        }

        return encoded;
    }
}
