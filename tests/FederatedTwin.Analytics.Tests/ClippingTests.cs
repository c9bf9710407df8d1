using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

public class ClippingTests
{
    [Fact]
    public void Clipping_scales_onto_the_ball_and_keeps_direction()
    {
        double[] v = [3, 4];
        double factor = Clipping.ClipToL2Norm(v, 1);
        Assert.Equal(0.2, factor, 12);
        Assert.True(Norm(v) <= 1);
        Assert.True(Norm(v) > 1 - 1e-12);
        Assert.Equal(0.6, v[0], 12);
        Assert.Equal(0.8, v[1], 12);

        double[] inside = [0.3, -0.4];
        Assert.Equal(1, Clipping.ClipToL2Norm(inside, 1));
        Assert.Equal([0.3, -0.4], inside);
        Assert.Throws<ArgumentException>(() => Clipping.ClipToL2Norm(new[] { double.NaN, 1 }, 1));
    }

    [Fact]
    public void Clipped_norm_never_exceeds_the_bound_despite_rounding()
    {
        var random = new Random(1);
        for (int trial = 0; trial < 10_000; trial++)
        {
            var v = Enumerable.Range(0, 1 + random.Next(20)).Select(_ => (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-3, 6))).ToArray();
            double bound = random.NextDouble() * 3;
            Clipping.ClipToL2Norm(v, bound);

            // Exact rational arithmetic on the stored doubles: Σv² ≤ C² with no rounding in the check itself.
            var sumOfSquares = v.Select(ExactRational.FromDouble).Aggregate(ExactRational.Create(0, 1), (acc, x) => acc + (x * x));
            var c = ExactRational.FromDouble(bound);
            Assert.True(sumOfSquares <= c * c, $"trial {trial}: {Norm(v):R} > {bound:R}");
        }
    }

    [Fact]
    public void A_patient_is_clipped_as_a_whole_not_row_by_row()
    {
        // Three patient-years of norm 0.5 in one direction: per-row clipping at 1 would let them add 1.5. At scale 1024 the
        // clipped total (1, 0) is 1024 on the integer grid.
        var rows = new (string, double[])[] { ("p", [0.5, 0]), ("p", [0.5, 0]), ("p", [0.5, 0]), ("q", [0, 0.25]) };
        var sum = Clipping.ClippedPatientSum(rows, 2, 1, 1024);
        Assert.Equal([1024L, 256], sum);
    }

    [Fact]
    public void Removing_any_patient_moves_the_encoded_clipped_sum_by_at_most_C_times_s_plus_half_root_d()
    {
        // Scale 16: coarse enough that each patient's rounding shows; the bound is C·s + √3/2 in integer units.
        var random = new Random(2);
        const double c = 2.5, scale = 16;
        for (int trial = 0; trial < 200; trial++)
        {
            var rows = Enumerable.Range(0, 60)
                .Select(_ => (Patient: random.Next(8), Row: new[] { random.NextDouble() * 4, random.NextDouble() - 3, random.NextDouble() }))
                .ToArray();
            var full = Clipping.ClippedPatientSum(rows, 3, c, scale);
            foreach (var removed in rows.Select(r => r.Patient).Distinct())
            {
                var without = Clipping.ClippedPatientSum(rows.Where(r => r.Patient != removed), 3, c, scale);
                double distance = Norm(full.Zip(without, (a, b) => (double)(a - b)).ToArray());
                Assert.True(distance <= Clipping.EncodedL2Sensitivity(Clipping.ClippedSumL2Sensitivity(c), scale, 3), $"{distance} > {c} · {scale} + √3/2");
            }
        }
    }

    [Fact]
    public void Sigma_from_rho_inverts_the_accountant()
    {
        var rho = new ZcdpRho(0.125);
        double sigma = ZcdpAccountant.GaussianSigma(2, rho);
        Assert.Equal(2 / Math.Sqrt(0.25), sigma, 12);
        Assert.Equal(0.125, ZcdpAccountant.GaussianRho(2, sigma).Value, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => ZcdpAccountant.GaussianSigma(1, new ZcdpRho(0)));
    }

    [Fact]
    public void Capped_counts_give_each_patient_at_most_k_distinct_cells()
    {
        var rows = new (int, int)[] { (1, 0), (1, 0), (1, 2), (1, 3), (1, 4), (2, 4), (2, 4) };
        var counts = Clipping.CappedCellCounts(rows, 5, maxCellsPerPatient: 2);
        // Patient 1 keeps cells 0 and 2 (cell 0 once); patient 2 counts once in cell 4.
        Assert.Equal([1L, 0, 1, 0, 1], counts);
        Assert.Equal(Math.Sqrt(2), Clipping.CappedCountsL2Sensitivity(2), 12);
        Assert.Equal(2, Clipping.CappedCountsL1Sensitivity(2));
    }

    [Fact]
    public void Removing_a_patient_changes_capped_counts_by_a_zero_one_vector_with_at_most_k_ones()
    {
        var random = new Random(3);
        const int k = 3;
        var rows = Enumerable.Range(0, 500).Select(_ => (Patient: random.Next(40), Cell: random.Next(10))).ToArray();
        var full = Clipping.CappedCellCounts(rows, 10, k);
        foreach (var removed in Enumerable.Range(0, 40))
        {
            var without = Clipping.CappedCellCounts(rows.Where(r => r.Patient != removed), 10, k);
            var diff = full.Zip(without, (a, b) => a - b).ToArray();
            Assert.All(diff, d => Assert.InRange(d, 0, 1));
            Assert.True(diff.Sum() <= Clipping.CappedCountsL1Sensitivity(k));
            Assert.True(Math.Sqrt(diff.Sum(d => (double)d * d)) <= Clipping.CappedCountsL2Sensitivity(k) + 1e-12);
        }
    }

    [Fact]
    public void Rounding_each_patient_to_the_grid_adds_at_most_half_root_d_to_the_sensitivity_and_that_is_tight()
    {
        // One patient's clipped vector, just over ½ in each of 4 coordinates at scale 1: it rounds to (1, 1, 1, 1), norm 2,
        // where the vector's own norm is 1.00002. The bound C·s + √d/2 = 1.00002 + 1 is reached to within 2e-5.
        double[] patient = [0.50001, 0.50001, 0.50001, 0.50001];
        var sum = Clipping.ClippedPatientSum(new (string, double[])[] { ("p", patient) }, 4, 2, 1);
        Assert.Equal([1L, 1, 1, 1], sum);
        double bound = Clipping.EncodedL2Sensitivity(Norm(patient), 1, 4);
        Assert.InRange(Norm([.. sum.Select(v => (double)v)]), bound - 2e-5, bound);
        Assert.Equal((0.5 * 1024) + 1, Clipping.EncodedL2Sensitivity(0.5, 1024, 4), 12);
        Assert.Equal(3 * 1024, Clipping.EncodedL2Sensitivity(3, 1024, 0), 12); // counts: exact at any integer scale
    }

    private static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
}
