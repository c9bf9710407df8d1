using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

public class VectorMathTests
{
    private static IEnumerable<double> Grid(double low, double high, int n) => Enumerable.Range(0, n).Select(i => low + ((high - low) * i / (n - 1)));

    private static void Close(double expected, double actual, double relative) =>
        Assert.True(Math.Abs(actual - expected) <= relative * Math.Abs(expected), $"expected {expected:R}, got {actual:R}");

    [Fact]
    public void Exp_agrees_with_Math_Exp_to_a_few_ulps_over_the_range_the_twin_uses()
    {
        foreach (var x in Grid(-700, 700, 20_001).Concat([0.0, 1e-300, -1e-12, 0.5 * Math.Log(2), -0.5 * Math.Log(2)]))
        {
            Close(Math.Exp(x), VectorMath.Scalar(VectorMath.Exp, x), 1e-15);
        }
    }

    [Fact]
    public void Log_agrees_with_Math_Log_from_tiny_to_huge()
    {
        foreach (var x in Grid(-300, 300, 6_001).Select(e => Math.Pow(10, e)).Concat([1.0, Math.Sqrt(2), 0.9999999, 1.0000001, 2.3283064365386963E-10]))
        {
            var expected = Math.Log(x);
            Assert.True(Math.Abs(VectorMath.Scalar(VectorMath.Log, x) - expected) <= 1e-15 * Math.Max(1, Math.Abs(expected)), $"log({x:R})");
        }
    }

    [Fact]
    public void Softplus_is_log_of_one_plus_exp_including_the_tails()
    {
        foreach (var x in Grid(-40, 40, 8_001))
        {
            var expected = Math.Max(x, 0) + Log1pReference(Math.Exp(-Math.Abs(x)));
            Close(expected, VectorMath.Scalar(VectorMath.Softplus, x), 3e-15);
        }
    }

    /// <summary>log(1 + t) for 0 &lt;= t &lt;= 1: the alternating series below 0.5 (60 terms: 0.5^60/60 is negligible), Math.Log above.</summary>
    private static double Log1pReference(double t)
    {
        if (t >= 0.5)
        {
            return Math.Log(1 + t);
        }

        double sum = 0, power = t;
        for (var k = 1; k <= 60; k++, power *= t)
        {
            sum += (k % 2 == 1 ? power : -power) / k;
        }

        return sum;
    }

    [Theory]
    // Standard normal quantiles (R: qnorm): Acklam's approximation is good to 1.15e-9 relative.
    [InlineData(0.5, 0.0)]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.025, -1.959963984540054)]
    [InlineData(0.8413447460685429, 1.0)]
    [InlineData(0.01, -2.326347874040841)]
    [InlineData(0.999, 3.090232306167813)]
    [InlineData(1e-9, -5.997807015007686)]
    public void Normal_quantile_matches_reference_values(double p, double expected) =>
        Assert.True(Math.Abs(VectorMath.Scalar(VectorMath.NormalQuantile, p) - expected) <= 1.2e-9 * Math.Max(1, Math.Abs(expected)));

    [Fact]
    public void Normal_quantile_is_monotone_across_the_region_boundaries()
    {
        var previous = double.NegativeInfinity;
        foreach (var p in Grid(1e-6, 1 - 1e-6, 200_001))
        {
            var q = VectorMath.Scalar(VectorMath.NormalQuantile, p);
            Assert.True(q > previous, $"p = {p:R}");
            previous = q;
        }
    }
}
