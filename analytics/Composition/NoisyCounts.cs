namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// Turning decrypted noisy counts into counts an analyst can read. Rounding and clamping at zero look only at
/// the already-private output, so they cost no privacy (post-processing; Dwork and Roth 2014, Prop. 2.1). The
/// clamp biases small cells upward, which is harmless here because cells that small are suppressed anyway.
/// </summary>
public static class NoisyCounts
{
    /// <summary>max(0, round-half-to-even(x)) for each decoded noisy count.</summary>
    public static long[] RoundToNonNegative(ReadOnlySpan<double> noisy)
    {
        var result = new long[noisy.Length];
        for (int i = 0; i < noisy.Length; i++)
        {
            if (!double.IsFinite(noisy[i]) || Math.Abs(noisy[i]) > 9e18)
            {
                throw new ArgumentException($"noisy count {i} is not a finite count", nameof(noisy));
            }

            result[i] = Math.Max(0, (long)Math.Round(noisy[i], MidpointRounding.ToEven));
        }

        return result;
    }

    /// <summary>max(0, x) for counts decrypted at scale 1 (already integers).</summary>
    public static long[] ClampToNonNegative(ReadOnlySpan<long> noisy)
    {
        var result = new long[noisy.Length];
        for (int i = 0; i < noisy.Length; i++)
        {
            result[i] = Math.Max(0, noisy[i]);
        }

        return result;
    }
}
