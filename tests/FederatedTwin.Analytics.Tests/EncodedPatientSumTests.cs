using System.Numerics;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// Per-patient vectors rounded to the fixed-point grid after clipping and summed exactly in integers: the form the sensitivity
/// C·s + √d/2 holds for (Casacuberta, Shoemate, Vadhan &amp; Wagaman, CCS 2022, on floating-point sums outside the proof).
/// </summary>
public class EncodedPatientSumTests
{
    [Fact]
    public void The_integer_sum_is_the_exact_sum_of_the_rounded_patient_vectors_in_any_order()
    {
        // Patients of wildly different magnitudes (a double sum of these loses low-order bits, order-dependently).
        var rng = new Random(3);
        var layout = new[] { new FixedPointBlock("a", 3, 1024), new FixedPointBlock("b", 2, Math.ScaleB(1, 40)) };
        var codec = new FixedPointCodec(layout, 8);
        var patients = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, 5).Select(j => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-6, 7)) * (j < 3 ? 1e3 : 1)).ToArray()).ToList();
        var expected = new BigInteger[5];
        foreach (var p in patients)
        {
            for (int j = 0; j < 5; j++)
            {
                expected[j] += EncodedPatientSum.Round(p[j], codec.Blocks[j < 3 ? 0 : 1].Scale);
            }
        }

        for (int shuffle = 0; shuffle < 5; shuffle++)
        {
            var sum = new EncodedPatientSum(layout);
            foreach (var p in patients.OrderBy(_ => rng.Next()))
            {
                sum.Add(p);
            }

            Assert.Equal(expected.Select(v => (long)v), sum.ToEncoded(codec));
            Assert.Equal(400, sum.Patients);
        }
    }

    [Fact]
    public void A_double_sum_can_move_by_twice_a_patients_value_the_integer_sum_moves_by_exactly_it()
    {
        // Neighbours D = {2^53, 1} and D' = D + {1}. Summed in double, D gives 2^53 (2^53 + 1 rounds to even) and D' in the order
        // 1, 1, 2^53 gives 2^53 + 2: one patient of value 1 moved the sum by 2, twice the sensitivity the noise assumes.
        double big = Math.ScaleB(1, 53);
        double doubleD = big + 1.0;
        double doubleDPrime = 1.0 + 1.0 + big;
        Assert.Equal(2, doubleDPrime - doubleD);

        var layout = new[] { new FixedPointBlock("x", 1, 1) };
        var codec = new FixedPointCodec(layout, 1);
        var d = new EncodedPatientSum(layout);
        d.Add([big]);
        d.Add([1]);
        var dPrime = new EncodedPatientSum(layout);
        dPrime.Add([1]);
        dPrime.Add([1]);
        dPrime.Add([big]);
        Assert.Equal(1, dPrime.ToEncoded(codec)[0] - d.ToEncoded(codec)[0]);
    }

    [Fact]
    public void One_adversarial_patient_moves_the_encoded_sum_by_exactly_their_rounded_vector_at_most_c_s_plus_half_root_d()
    {
        // A property test: 2,000 adversarial patients — huge, tiny, at the clip, with coordinates at rounding ties after scaling —
        // each clipped to C and added, first, to a random population of 50: the sum moves by exactly the patient's own rounded
        // vector, whose L2 norm is at most C·s + √d/2 (each coordinate rounds by at most ½).
        var rng = new Random(17);
        foreach (var (d, c, scale) in new[] { (1, 1.0, 1.0), (4, 0.5, 1.0), (7, 3.0, 16.0), (20, 1e-3, Math.ScaleB(1, 30)), (3, 1e6, 0.25) })
        {
            var layout = new[] { new FixedPointBlock("v", d, scale) };
            var codec = new FixedPointCodec(layout, 2);
            var bound = Clipping.EncodedL2Sensitivity(c, scale, d);
            var population = Enumerable.Range(0, 50).Select(_ =>
            {
                var p = Enumerable.Range(0, d).Select(_ => (rng.NextDouble() - 0.5) * c).ToArray();
                Clipping.ClipToL2Norm(p, c);
                return p;
            }).ToList();
            var without = Sum(layout, population).ToEncoded(codec);
            for (int trial = 0; trial < 400; trial++)
            {
                var patient = Adversarial(rng, d, c, scale, trial);
                Clipping.ClipToL2Norm(patient, c);
                var own = Sum(layout, [patient]).ToEncoded(codec);
                Assert.True(Math.Sqrt(own.Sum(v => (double)v * v)) <= bound, $"d {d}, C {c}, s {scale}: ‖{string.Join(", ", own)}‖ > {bound}");
                var with = Sum(layout, [patient, .. population]).ToEncoded(codec);
                Assert.Equal(own, with.Zip(without, (a, b) => a - b));
            }
        }
    }

    private static EncodedPatientSum Sum(FixedPointBlock[] layout, IEnumerable<double[]> patients)
    {
        var sum = new EncodedPatientSum(layout);
        foreach (var p in patients)
        {
            sum.Add(p);
        }

        return sum;
    }

    private static double[] Adversarial(Random rng, int d, double c, double scale, int trial) => (trial % 5) switch
    {
        // far outside the clip, in a random direction
        0 => [.. Enumerable.Range(0, d).Select(_ => (rng.NextDouble() - 0.5) * 1e12)],
        // just at the clip, all mass on one coordinate
        1 => [.. Enumerable.Range(0, d).Select(j => j == trial % d ? c : 0)],
        // every coordinate at a rounding tie (k + ½)/s, inside the clip where possible
        2 => [.. Enumerable.Range(0, d).Select(_ => (Math.Floor(c * scale / Math.Sqrt(d)) - 0.5) / scale)],
        // just above ½ unit in every coordinate: rounds up everywhere, the worst case of the rounding term
        3 => [.. Enumerable.Range(0, d).Select(_ => Math.Min(0.5000001 / scale, c / Math.Sqrt(d)))],
        // tiny values below the grid's resolution
        _ => [.. Enumerable.Range(0, d).Select(_ => (rng.NextDouble() - 0.5) / scale / 4)],
    };
}
