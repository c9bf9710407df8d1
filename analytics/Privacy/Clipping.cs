using FederatedTwin.Crypto.Codec;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// Per-patient contribution bounds, so that the L2 sensitivity the accountant charges for holds
/// whatever a patient's records look like. Neighbouring datasets differ by adding or removing one
/// patient with all of their rows (patient-level, not row-level, privacy: a patient-year table has
/// several rows per person). Under replace-one neighbouring every sensitivity below doubles.
/// </summary>
public static class Clipping
{
    /// <summary>
    /// Scales <paramref name="vector"/> in place so its L2 norm is at most <paramref name="bound"/>, and returns
    /// the factor used (1 if it was already inside). A floating-point norm of d values can be off by about
    /// (d + 2) units in the last place, so the check is against the bound shrunk by (d + 4)·2^−52 and the factor
    /// is stepped down until the computed norm passes it: the exact norm of the stored result is then ≤ the bound,
    /// which the sensitivity proof needs (a rounding overshoot would be an unaccounted privacy loss).
    /// </summary>
    public static double ClipToL2Norm(Span<double> vector, double bound)
    {
        CheckBound(bound);
        double target = bound * (1 - ((vector.Length + 4) * Math.Pow(2, -52)));
        double norm = L2Norm(vector);
        if (norm <= target)
        {
            return 1;
        }

        double factor = target / norm;
        while (ScaledNorm(vector, factor) > target)
        {
            factor = Math.BitDecrement(factor);
        }

        for (int i = 0; i < vector.Length; i++)
        {
            vector[i] *= factor;
        }

        return factor;
    }

    /// <summary>
    /// Σ over patients of round(s·clip_C(Σ of that patient's rows)), exactly, in integers: each patient's total contribution
    /// vector (e.g. the gradient summed over their patient-years) is clipped to L2 norm C, rounded to the fixed-point grid of
    /// scale s and only then added (<see cref="EncodedPatientSum"/>), so adding or removing one patient moves the encoded sum
    /// by exactly that patient's rounded vector: at most C·s + √d/2 in L2 (<see cref="EncodedL2Sensitivity"/>; Abadi et al.
    /// 2016 clip per example, here the unit is the patient). Summing the clipped vectors in double and rounding once would
    /// leave the sensitivity proof (Casacuberta et al., CCS 2022). Set σ_int = Δ_int/√(2ρ) to spend ρ.
    /// </summary>
    public static long[] ClippedPatientSum<TPatient>(IEnumerable<(TPatient Patient, double[] Row)> rows, int dimension, double bound, double scale)
        where TPatient : notnull
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(dimension);
        CheckBound(bound);
        var totals = new Dictionary<TPatient, double[]>();
        foreach (var (patient, row) in rows)
        {
            ArgumentNullException.ThrowIfNull(row);
            if (row.Length != dimension)
            {
                throw new ArgumentException($"every row must have {dimension} values, one has {row.Length}", nameof(rows));
            }

            if (!totals.TryGetValue(patient, out var total))
            {
                total = new double[dimension];
                totals.Add(patient, total);
            }

            for (int i = 0; i < dimension; i++)
            {
                if (!double.IsFinite(row[i]))
                {
                    throw new ArgumentException("rows must be finite: a NaN or infinity defeats clipping", nameof(rows));
                }

                total[i] += row[i];
            }
        }

        // One party (no headroom division): the caller's codec checks the per-party limit of its own sum.
        var codec = new FixedPointCodec([new FixedPointBlock("clipped_sum", dimension, scale)], maxParties: 1);
        var sum = new EncodedPatientSum(codec.Blocks);
        foreach (var total in totals.Values)
        {
            ClipToL2Norm(total, bound);
            sum.Add(total);
        }

        return sum.ToEncoded(codec);
    }

    /// <summary>Real-domain L2 sensitivity of a sum of patient vectors clipped to C, under add/remove-one-patient: C itself (encoded: <see cref="EncodedL2Sensitivity"/>).</summary>
    public static double ClippedSumL2Sensitivity(double bound)
    {
        CheckBound(bound);
        return bound;
    }

    /// <summary>
    /// Histogram counts where each patient adds 1 to at most <paramref name="maxCellsPerPatient"/> = k distinct
    /// cells: a patient's cells are taken in input order, repeats of a cell are counted once and cells beyond
    /// the first k distinct ones are dropped. The choice depends on that patient's rows alone, so one patient
    /// changes the histogram by a 0/1 vector with at most k ones: L2 sensitivity √k, L1 sensitivity k
    /// (<see cref="CappedCountsL2Sensitivity"/>, <see cref="CappedCountsL1Sensitivity"/>). Counting repeated
    /// rows in one cell would let a patient move that cell by k, an L2 sensitivity of k rather than √k.
    /// Choose k to cover nearly every patient: dropped cells bias the counts down.
    /// </summary>
    public static long[] CappedCellCounts<TPatient>(IEnumerable<(TPatient Patient, int Cell)> rows, int cellCount, int maxCellsPerPatient)
        where TPatient : notnull
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cellCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCellsPerPatient);
        var kept = new Dictionary<TPatient, List<int>>();
        var counts = new long[cellCount];
        foreach (var (patient, cell) in rows)
        {
            if ((uint)cell >= (uint)cellCount)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), $"cell {cell} is outside 0..{cellCount - 1}");
            }

            if (!kept.TryGetValue(patient, out var cells))
            {
                cells = [];
                kept.Add(patient, cells);
            }

            if (cells.Count < maxCellsPerPatient && !cells.Contains(cell))
            {
                cells.Add(cell);
                counts[cell]++;
            }
        }

        return counts;
    }

    /// <summary>√k: a 0/1 change in at most k cells.</summary>
    public static double CappedCountsL2Sensitivity(int maxCellsPerPatient)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCellsPerPatient);
        return Math.Sqrt(maxCellsPerPatient);
    }

    /// <summary>k: a 0/1 change in at most k cells.</summary>
    public static long CappedCountsL1Sensitivity(int maxCellsPerPatient)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCellsPerPatient);
        return maxCellsPerPatient;
    }

    /// <summary>
    /// L2 sensitivity in the fixed-point integer domain of a d-value sum of per-patient vectors with real-domain L2 bound Δ (the
    /// clip C), each rounded to the grid of scale s before the exact integer sum (<see cref="EncodedPatientSum"/>): one patient
    /// moves the sum by round(v·s), and ‖round(v·s)‖₂ ≤ ‖v·s‖₂ + ‖round(v·s) − v·s‖₂ ≤ Δ·s + √d/2, each coordinate's rounding
    /// error being at most ½. This, not Δ·s, is the Δ_int the discrete Gaussian's ρ = Δ_int²/(2σ_int²) must use (Canonne,
    /// Kamath and Steinke 2020, Thm. 4; the rounding term is why Kairouz, Liu and Steinke 2021 round randomly and condition
    /// on the norm). Integer statistics at an integer scale have no rounding: pass dimension 0.
    /// </summary>
    public static double EncodedL2Sensitivity(double l2Sensitivity, double scale, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(l2Sensitivity);
        ArgumentOutOfRangeException.ThrowIfNegative(dimension);
        if (!(scale > 0) || !double.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), "scale must be positive and finite");
        }

        return (l2Sensitivity * scale) + (Math.Sqrt(dimension) / 2);
    }

    private static double L2Norm(ReadOnlySpan<double> vector) => ScaledNorm(vector, 1);

    private static double ScaledNorm(ReadOnlySpan<double> vector, double factor)
    {
        // Scale by the largest magnitude first so squares neither overflow nor underflow.
        double max = 0;
        foreach (var v in vector)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException("values must be finite: a NaN or infinity defeats clipping", nameof(vector));
            }

            max = Math.Max(max, Math.Abs(v * factor));
        }

        if (max == 0)
        {
            return 0;
        }

        double sum = 0;
        foreach (var v in vector)
        {
            double r = v * factor / max;
            sum += r * r;
        }

        return max * Math.Sqrt(sum);
    }

    private static void CheckBound(double bound)
    {
        if (!(bound > 0) || !double.IsFinite(bound))
        {
            throw new ArgumentOutOfRangeException(nameof(bound), "the clipping bound must be positive and finite");
        }
    }
}
