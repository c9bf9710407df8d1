using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Analytics.Tests;

/// <summary>Runs the coordinator/node round loop in process, optionally through the fixed-point codec.</summary>
internal static class GlmHarness
{
    public static GlmResult Federated(GlmSpec spec, IReadOnlyList<GlmData> nodes, bool quantize = false)
    {
        GlmFit fit = spec.Privacy is null ? new GlmIrlsFit(spec) : new GlmNoisyNewtonFit(spec);
        while (!fit.Accept(Aggregate(spec, fit.NextRequest(), nodes, quantize)))
        {
        }

        return fit.Result!;
    }

    public static double[] Aggregate(GlmSpec spec, GlmRequest request, IEnumerable<GlmData> nodes, bool quantize)
    {
        var vectors = nodes.Select(d => GlmNode.Compute(spec, request, d)).ToList();
        Assert.All(vectors, v => Assert.Equal(request.Length, v.Length));
        if (!quantize)
        {
            var sum = new double[request.Length];
            foreach (var v in vectors)
            {
                for (int i = 0; i < sum.Length; i++)
                {
                    sum[i] += v[i];
                }
            }

            return sum;
        }

        var codec = new FixedPointCodec(request.Layout, spec.MaxParties);
        return DecodedSum(codec, vectors.Select(v => codec.Encode(v)));
    }

    /// <summary>
    /// What threshold decryption of the summed ciphertexts returns: the nodes' encoded vectors added modulo 2^64, then
    /// decoded. The vectors are taken in order, one at a time, so a node's noise is drawn when its vector is.
    /// </summary>
    public static double[] DecodedSum(FixedPointCodec codec, IEnumerable<long[]> encodedVectors)
    {
        var total = new long[codec.Length];
        foreach (var encoded in encodedVectors)
        {
            for (int i = 0; i < total.Length; i++)
            {
                total[i] = unchecked(total[i] + encoded[i]);
            }
        }

        return codec.Decode(total);
    }

    /// <summary>One node per list of row indices.</summary>
    public static List<GlmData> Split(int k, double[] x, double[] y, double[]? w, double[]? o, IReadOnlyList<int[]> rowsPerNode) => [.. rowsPerNode.Select(rows => new GlmData(
            k,
            [.. rows.SelectMany(i => x.Skip(i * k).Take(k))],
            [.. rows.Select(i => y[i])],
            w is null ? null : [.. rows.Select(i => w[i])],
            o is null ? null : [.. rows.Select(i => o[i])]))];

    /// <summary>Consecutive runs of <paramref name="order"/> of the given sizes.</summary>
    public static int[][] Consecutive(IReadOnlyList<int> order, params int[] sizes)
    {
        Assert.Equal(order.Count, sizes.Sum());
        var parts = new int[sizes.Length][];
        int at = 0;
        for (int s = 0; s < sizes.Length; s++)
        {
            parts[s] = [.. order.Skip(at).Take(sizes[s])];
            at += sizes[s];
        }

        return parts;
    }

    public static void Close(double expected, double actual, double relative, string what)
    {
        double tolerance = relative * Math.Max(Math.Abs(expected), 1e-3);
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"{what}: expected {expected:R}, got {actual:R} (tolerance {tolerance:G3})");
    }

    /// <summary>Everything reported must agree: coefficients, SEs, deviances, AIC, df.</summary>
    public static void SameFit(GlmResult expected, GlmResult actual, double relative)
    {
        Assert.Equal(expected.Rows, actual.Rows);
        Assert.Equal(expected.ResidualDf, actual.ResidualDf);
        Assert.Equal(expected.NullDf, actual.NullDf);
        Assert.True(actual.Converged);
        for (int j = 0; j < expected.Coefficients.Count; j++)
        {
            Close(expected.Coefficients[j], actual.Coefficients[j], relative, $"coefficient {expected.Names[j]}");
            Close(expected.StandardErrors[j], actual.StandardErrors[j], relative, $"SE {expected.Names[j]}");
            Close(expected.LowerConfidence[j], actual.LowerConfidence[j], relative, $"lower CI {expected.Names[j]}");
        }

        Close(expected.Deviance, actual.Deviance, relative, "deviance");
        Close(expected.NullDeviance, actual.NullDeviance, relative, "null deviance");
        Close(expected.Aic, actual.Aic, relative, "AIC");
        Close(expected.Dispersion, actual.Dispersion, relative, "dispersion");
    }
}
