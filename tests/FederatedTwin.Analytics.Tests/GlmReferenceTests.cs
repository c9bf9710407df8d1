using FederatedTwin.Analytics.Glm;
using MathNet.Numerics.LinearAlgebra;
using static FederatedTwin.Analytics.Tests.GlmHarness;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// The federated fit against published R output, closed forms and an independent maximizer
/// (Newton on the log-likelihood with numerically differentiated gradient and Hessian).
/// </summary>
public class GlmReferenceTests
{
    // R's ?glm example (Dobson 1990, p. 93): counts ~ outcome + treatment, poisson.
    private static readonly double[] DobsonCounts = [18, 17, 15, 20, 10, 20, 25, 13, 12];
    private static readonly string[] DobsonNames = ["outcome2", "outcome3", "treatment2", "treatment3"];

    private static double[] DobsonX() =>
        [.. Enumerable.Range(0, 9).SelectMany(i => new double[] { i % 3 == 1 ? 1 : 0, i % 3 == 2 ? 1 : 0, i / 3 == 1 ? 1 : 0, i / 3 == 2 ? 1 : 0 })];

    private static GlmSpec DobsonSpec() =>
        new(GlmFamily.Poisson, DobsonNames, new GlmBounds(9, 1) { MaxAbsResponse = 25 }, maxParties: 3);

    [Fact]
    public void Dobson_poisson_over_three_nodes_matches_R()
    {
        var x = DobsonX();
        var nodes = Split(4, x, DobsonCounts, null, null, [[0, 1, 2, 3], [4, 5], [6, 7, 8]]);
        var fit = Federated(DobsonSpec(), nodes);

        // Printed by R (coef(glm.D93), summary, AIC), to the digits R shows.
        double[] rCoefficients = [3.044522, -0.454255, -0.292987];
        for (int j = 0; j < 3; j++)
        {
            Assert.Equal(rCoefficients[j], fit.Coefficients[j], 6);
        }

        Assert.True(Math.Abs(fit.Coefficients[3]) < 1e-12, $"treatment2 = {fit.Coefficients[3]}");
        Assert.True(Math.Abs(fit.Coefficients[4]) < 1e-12, $"treatment3 = {fit.Coefficients[4]}");
        double[] rSe = [0.1709, 0.2022, 0.1927, 0.2000, 0.2000];
        for (int j = 0; j < 5; j++)
        {
            Assert.Equal(rSe[j], fit.StandardErrors[j], 4);
        }

        Assert.Equal(17.815, fit.Statistics[0], 3);
        Assert.Equal(-2.247, fit.Statistics[1], 3);
        Assert.Equal(-1.520, fit.Statistics[2], 3);
        Assert.Equal(0.0246, fit.PValues[1], 4);
        Assert.Equal(0.1285, fit.PValues[2], 4);
        Assert.Equal(1.0, fit.PValues[3], 10);
        Assert.Equal(5.129141, fit.Deviance, 6);
        Assert.Equal(4, fit.ResidualDf);
        Assert.Equal(10.58145, fit.NullDeviance, 5);
        Assert.Equal(8, fit.NullDf);
        Assert.Equal(56.76132, fit.Aic, 5);
        Assert.Equal(1, fit.Dispersion);
        Assert.False(fit.DispersionEstimated);
        Assert.Equal(3, fit.Nodes);
        Assert.Equal(9, fit.Rows);

        // The main-effects log-linear model has fitted counts row total × column total / N (outcome totals
        // 63, 40, 47; treatment totals 50 each), so the MLE and its Fisher information are known exactly.
        Assert.Equal(Math.Log(21), fit.Coefficients[0], 12);
        Assert.Equal(Math.Log(40.0 / 63), fit.Coefficients[1], 12);
        Assert.Equal(Math.Log(47.0 / 63), fit.Coefficients[2], 12);
        double[] mu = [.. Enumerable.Range(0, 9).Select(i => new[] { 63.0, 40, 47 }[i % 3] * 50 / 150)];
        Assert.Equal(2 * Enumerable.Range(0, 9).Sum(i => DobsonCounts[i] * Math.Log(DobsonCounts[i] / mu[i])), fit.Deviance, 12);
        var design = Matrix<double>.Build.Dense(9, 5, (r, c) => c == 0 ? 1 : x[(r * 4) + c - 1]);
        var information = design.Transpose() * Matrix<double>.Build.DiagonalOfDiagonalArray(mu) * design;
        var exactCovariance = information.Inverse();
        for (int j = 0; j < 5; j++)
        {
            Assert.Equal(Math.Sqrt(exactCovariance[j, j]), fit.StandardErrors[j], 10);
            for (int l = 0; l < 5; l++)
            {
                Assert.Equal(exactCovariance[j, l], fit.Covariance[j, l], 10);
            }
        }

        // confint.default: β ± qnorm(0.975)·SE.
        Assert.Equal(fit.Coefficients[1] - (1.959963984540054 * fit.StandardErrors[1]), fit.LowerConfidence[1], 12);
        Assert.Equal(fit.Coefficients[1] + (1.959963984540054 * fit.StandardErrors[1]), fit.UpperConfidence[1], 12);
    }

    [Theory]
    [InlineData(GlmFamily.Poisson)]
    [InlineData(GlmFamily.Binomial)]
    public void The_first_IRLS_round_solves_from_R_start_values_not_from_beta_zero(GlmFamily family)
    {
        // Poisson: Dobson counts, μ0 = y + 0.1. Binomial: beetles, μ0 = (w·y + ½)/(w + 1) with w the trials.
        bool poisson = family == GlmFamily.Poisson;
        int k = poisson ? 4 : 1, n = poisson ? 9 : 8;
        double[] x = poisson ? DobsonX() : BeetleDose;
        double[] y = poisson ? DobsonCounts : [.. BeetleKilled.Zip(BeetleExposed, (a, b) => a / b)];
        double[] w = poisson ? [.. Enumerable.Repeat(1.0, 9)] : BeetleExposed;
        var spec = poisson ? DobsonSpec() : new GlmSpec(family, ["dose"], new GlmBounds(8, 2) { MaxWeight = 100 }, 2);
        var nodes = Split(k, x, y, poisson ? null : w, null, [[.. Enumerable.Range(0, 3)], [.. Enumerable.Range(3, n - 3)]]);
        var fit = new GlmIrlsFit(spec);
        fit.Accept(Aggregate(spec, fit.NextRequest(), nodes, false));
        var start = fit.NextRequest();
        Assert.Equal(GlmRoundKind.Start, start.Kind);
        Assert.Null(start.Beta);
        fit.Accept(Aggregate(spec, start, nodes, false));
        var next = fit.NextRequest();
        var (beta1, _) = next.Standardization!.ToOriginalScale(next.Beta!, new double[k + 1, k + 1]);

        // One weighted least-squares step from μ0, by QR: W = w·μ'(η0)²/V(μ0), z = η0 + (y − μ0)/μ'(η0).
        var mu0 = Enumerable.Range(0, n).Select(i => poisson ? y[i] + 0.1 : ((w[i] * y[i]) + 0.5) / (w[i] + 1)).ToArray();
        var eta0 = mu0.Select(m => poisson ? Math.Log(m) : Math.Log(m / (1 - m))).ToArray();
        var derivative = mu0.Select(m => poisson ? m : m * (1 - m)).ToArray();
        var root = Enumerable.Range(0, n).Select(i => Math.Sqrt(w[i] * derivative[i])).ToArray();
        var design = Matrix<double>.Build.Dense(n, k + 1, (r, c) => root[r] * (c == 0 ? 1 : x[(r * k) + c - 1]));
        var z = Vector<double>.Build.Dense(n, r => root[r] * (eta0[r] + ((y[r] - mu0[r]) / derivative[r])));
        var expected = design.QR().Solve(z);
        for (int j = 0; j <= k; j++)
        {
            Close(expected[j], beta1[j], 1e-10, $"β1[{j}]");
        }
    }

    // Challenger launches (Dalal, Fowlkes and Hoadley 1989): any O-ring incident against temperature (°F).
    private static readonly double[] ChallengerTemperature = [66, 70, 69, 68, 67, 72, 73, 70, 57, 63, 70, 78, 67, 53, 67, 75, 70, 81, 76, 79, 75, 76, 58];
    private static readonly double[] ChallengerIncident = [0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1];

    [Fact]
    public void Challenger_logistic_over_two_nodes_matches_R_and_an_independent_maximizer()
    {
        var spec = new GlmSpec(GlmFamily.Binomial, ["temp"], new GlmBounds(23, 100), maxParties: 2);
        var nodes = Split(1, ChallengerTemperature, ChallengerIncident, null, null, [[.. Enumerable.Range(0, 12)], [.. Enumerable.Range(12, 11)]]);
        var fit = Federated(spec, nodes);

        // summary(glm(incident ~ temp, family = binomial)).
        Assert.Equal(15.0429, fit.Coefficients[0], 4);
        Assert.Equal(-0.2322, fit.Coefficients[1], 4);
        Assert.Equal(7.3786, fit.StandardErrors[0], 4);
        Assert.Equal(0.1082, fit.StandardErrors[1], 4);
        Assert.Equal(20.315, fit.Deviance, 3);
        Assert.Equal(28.267, fit.NullDeviance, 3);
        Assert.Equal(21, fit.ResidualDf);
        Assert.Equal(22, fit.NullDf);
        Assert.Equal(24.315, fit.Aic, 3);

        // Independently: maximize Σ y·η − log(1 + e^η) by Newton with finite differences.
        double LogLikelihood(double[] b) => Enumerable.Range(0, 23).Sum(i =>
        {
            double eta = b[0] + (b[1] * ChallengerTemperature[i]);
            return (ChallengerIncident[i] * eta) - LogOnePlusExp(eta);
        });
        var mle = NewtonMaximize(LogLikelihood, [0, 0]);
        Close(mle[0], fit.Coefficients[0], 1e-6, "intercept vs Newton");
        Close(mle[1], fit.Coefficients[1], 1e-6, "temp vs Newton");
        // Fisher information Σ p(1 − p)·x·x' at that independent MLE.
        var design = Matrix<double>.Build.Dense(23, 2, (r, c) => c == 0 ? 1 : ChallengerTemperature[r]);
        var p = design * Vector<double>.Build.Dense(mle);
        var weight = p.Map(eta => Math.Exp(eta) / ((1 + Math.Exp(eta)) * (1 + Math.Exp(eta))));
        var covariance = (design.Transpose() * Matrix<double>.Build.DiagonalOfDiagonalVector(weight) * design).Inverse();
        Close(Math.Sqrt(covariance[0, 0]), fit.StandardErrors[0], 1e-6, "SE intercept vs information at the Newton MLE");
        Close(Math.Sqrt(covariance[1, 1]), fit.StandardErrors[1], 1e-6, "SE temp vs information at the Newton MLE");
        Close((-2 * LogLikelihood(mle)) + 4, fit.Aic, 1e-8, "AIC vs −2 log L + 2p");
        Close(-2 * LogLikelihood(mle), fit.Deviance, 1e-8, "deviance of 0/1 data = −2 log L");
    }

    // Beetle mortality (Bliss 1935; Dobson and Barnett, Table 7.2): killed of n exposed to CS2 at log dose.
    private static readonly double[] BeetleDose = [1.6907, 1.7242, 1.7552, 1.7842, 1.8113, 1.8369, 1.8610, 1.8839];
    private static readonly double[] BeetleExposed = [59, 60, 62, 56, 63, 59, 62, 60];
    private static readonly double[] BeetleKilled = [6, 13, 18, 28, 52, 53, 61, 60];

    [Fact]
    public void Beetle_grouped_binomial_with_trials_as_weights_matches_R()
    {
        double[] proportion = [.. BeetleKilled.Zip(BeetleExposed, (k, n) => k / n)];
        var spec = new GlmSpec(GlmFamily.Binomial, ["dose"], new GlmBounds(8, 2) { MaxWeight = 100 }, maxParties: 4);
        var nodes = Split(1, BeetleDose, proportion, BeetleExposed, null, [[0, 1], [2, 3, 4], [5], [6, 7]]);
        var fit = Federated(spec, nodes);

        // glm(cbind(killed, n − killed) ~ dose, family = binomial).
        Assert.Equal(-60.717, fit.Coefficients[0], 3);
        Assert.Equal(34.270, fit.Coefficients[1], 3);
        Assert.Equal(5.181, fit.StandardErrors[0], 3);
        Assert.Equal(2.912, fit.StandardErrors[1], 3);
        Assert.Equal(11.232, fit.Deviance, 3);
        Assert.Equal(284.202, fit.NullDeviance, 3);
        Assert.Equal(6, fit.ResidualDf);
        Assert.Equal(7, fit.NullDf);
        Assert.Equal(41.430, fit.Aic, 3);

        // AIC from log-factorials summed term by term (no log-gamma): −2 Σ log C(n, k) p^k (1 − p)^(n − k) + 2p.
        double logLikelihood = 0;
        for (int i = 0; i < 8; i++)
        {
            double p = 1 / (1 + Math.Exp(-(fit.Coefficients[0] + (fit.Coefficients[1] * BeetleDose[i]))));
            double k = BeetleKilled[i], n = BeetleExposed[i];
            logLikelihood += LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k) + (k * Math.Log(p)) + ((n - k) * Math.Log(1 - p));
        }

        Close((-2 * logLikelihood) + 4, fit.Aic, 1e-9, "AIC vs log-factorials");
    }

    [Fact]
    public void Poisson_with_exposure_offset_matches_the_closed_form_of_a_two_group_rate_model()
    {
        // Group A (x = 0): 17 events in 11 person-years; group B (x = 1): 31 events in 8.
        double[] y = [2, 5, 0, 3, 7, 9, 4, 12, 6];
        double[] exposure = [1.5, 3.0, 0.5, 2.0, 4.0, 2.0, 1.0, 3.5, 1.5];
        double[] x = [0, 0, 0, 0, 0, 1, 1, 1, 1];
        double[] offset = [.. exposure.Select(e => Math.Log(e))];
        var spec = new GlmSpec(GlmFamily.Poisson, ["groupB"], new GlmBounds(9, 1) { MaxAbsResponse = 20, MaxAbsOffset = 2 }, maxParties: 3, hasOffset: true);
        var fit = Federated(spec, Split(1, x, y, null, offset, [[0, 5], [1, 2, 3, 6], [4, 7, 8]]));

        double rateA = 17.0 / 11, rateB = 31.0 / 8, rate = 48.0 / 19;
        Assert.Equal(Math.Log(rateA), fit.Coefficients[0], 11);
        Assert.Equal(Math.Log(rateB / rateA), fit.Coefficients[1], 11);
        Assert.Equal(1 / Math.Sqrt(17), fit.StandardErrors[0], 11);
        Assert.Equal(Math.Sqrt((1.0 / 17) + (1.0 / 31)), fit.StandardErrors[1], 11);
        double[] mu = [.. Enumerable.Range(0, 9).Select(i => exposure[i] * (x[i] == 0 ? rateA : rateB))];
        double Deviance(Func<int, double> m) => 2 * Enumerable.Range(0, 9).Sum(i => (y[i] == 0 ? 0 : y[i] * Math.Log(y[i] / m(i))) - (y[i] - m(i)));
        Assert.Equal(Deviance(i => mu[i]), fit.Deviance, 11);
        // Null model with offset: μ_i = E_i · Σy/ΣE (R refits the intercept with the offset).
        Assert.Equal(Deviance(i => exposure[i] * rate), fit.NullDeviance, 11);
        double aic = (-2 * Enumerable.Range(0, 9).Sum(i => (y[i] * Math.Log(mu[i])) - mu[i] - LogFactorial(y[i]))) + 4;
        Assert.Equal(aic, fit.Aic, 10);
    }

    [Fact]
    public void Poisson_with_offset_and_a_continuous_covariate_matches_an_independent_maximizer()
    {
        var rng = new Random(11);
        int n = 600;
        var x = new double[n * 2];
        var y = new double[n];
        var offset = new double[n];
        for (int i = 0; i < n; i++)
        {
            x[2 * i] = 20 + (60 * rng.NextDouble());
            x[(2 * i) + 1] = rng.Next(2);
            offset[i] = Math.Log(0.5 + (4 * rng.NextDouble()));
            double mu = Math.Exp(-3 + (0.03 * x[2 * i]) + (0.5 * x[(2 * i) + 1]) + offset[i]);
            y[i] = Poisson(rng, mu);
        }

        var spec = new GlmSpec(GlmFamily.Poisson, ["age", "male"], new GlmBounds(n, 100) { MaxAbsResponse = 60, MaxAbsOffset = 2 }, maxParties: 3, hasOffset: true);
        var fit = Federated(spec, Split(2, x, y, null, offset, Consecutive([.. Enumerable.Range(0, n)], 350, 200, 50)));

        double LogLikelihood(double[] b) => Enumerable.Range(0, n).Sum(i =>
        {
            double eta = b[0] + (b[1] * x[2 * i]) + (b[2] * x[(2 * i) + 1]) + offset[i];
            return (y[i] * eta) - Math.Exp(eta);
        });
        var mle = NewtonMaximize(LogLikelihood, [0, 0, 0]);
        for (int j = 0; j < 3; j++)
        {
            Close(mle[j], fit.Coefficients[j], 1e-6, $"coefficient {j} vs Newton");
        }

        // Fisher information Σ μ·x·x' at that independent MLE.
        var design = Matrix<double>.Build.Dense(n, 3, (r, c) => c == 0 ? 1 : x[(2 * r) + c - 1]);
        var fitted = ((design * Vector<double>.Build.Dense(mle)) + Vector<double>.Build.Dense(offset)).PointwiseExp();
        var covariance = (design.Transpose() * Matrix<double>.Build.DiagonalOfDiagonalVector(fitted) * design).Inverse();
        for (int j = 0; j < 3; j++)
        {
            Close(Math.Sqrt(covariance[j, j]), fit.StandardErrors[j], 1e-6, $"SE {j} vs information at the Newton MLE");
        }

        SameFit(GlmPooled.Fit(GlmFamily.Poisson, ["age", "male"], new GlmData(2, x, y, null, offset)), fit, 1e-8);
    }

    [Fact]
    public void Weighted_gaussian_matches_least_squares_by_QR_and_R_AIC()
    {
        var rng = new Random(5);
        int n = 400, p = 3;
        var x = new double[n * 2];
        var y = new double[n];
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            x[2 * i] = 50 + (10 * rng.NextDouble());
            x[(2 * i) + 1] = rng.NextDouble() < 0.4 ? 1 : 0;
            w[i] = 0.5 + (2 * rng.NextDouble());
            y[i] = 120 - (0.8 * x[2 * i]) + (6 * x[(2 * i) + 1]) + ((8 * Normal(rng)) / Math.Sqrt(w[i]));
        }

        var spec = new GlmSpec(GlmFamily.Gaussian, ["sbp_age", "treated"], new GlmBounds(n, 100) { MaxAbsResponse = 200, MaxWeight = 3, MinPositiveWeight = 0.1 }, maxParties: 3);
        var fit = Federated(spec, Split(2, x, y, w, null, Consecutive([.. Enumerable.Range(0, n)], 100, 250, 50)));

        // Weighted least squares by QR of √W·X: no normal equations, no IRLS.
        var design = Matrix<double>.Build.Dense(n, p, (r, c) => Math.Sqrt(w[r]) * (c == 0 ? 1 : x[(2 * r) + c - 1]));
        var response = Vector<double>.Build.Dense(n, r => Math.Sqrt(w[r]) * y[r]);
        var qr = design.QR();
        var beta = qr.Solve(response);
        double rss = (response - (design * beta)).PointwisePower(2).Sum();
        var r = qr.R.SubMatrix(0, p, 0, p);
        var unscaled = (r.Transpose() * r).Inverse();
        double sigma2 = rss / (n - p);
        for (int j = 0; j < p; j++)
        {
            Close(beta[j], fit.Coefficients[j], 1e-9, $"β{j}");
            Close(Math.Sqrt(sigma2 * unscaled[j, j]), fit.StandardErrors[j], 1e-9, $"SE{j}");
        }

        Close(rss, fit.Deviance, 1e-9, "RSS");
        Close(rss, fit.PearsonChiSquare!.Value, 1e-9, "Pearson χ²");
        Close(sigma2, fit.Dispersion, 1e-9, "dispersion");
        Assert.True(fit.DispersionEstimated);
        double yBar = Enumerable.Range(0, n).Sum(i => w[i] * y[i]) / w.Sum();
        Close(Enumerable.Range(0, n).Sum(i => w[i] * (y[i] - yBar) * (y[i] - yBar)), fit.NullDeviance, 1e-9, "null deviance");
        // R: gaussian()$aic + 2p = n(log(2π·RSS/n) + 1) + 2 − Σ log w + 2p.
        Close((n * (Math.Log(2 * Math.PI * rss / n) + 1)) + 2 - w.Sum(Math.Log) + (2 * p), fit.Aic, 1e-9, "AIC");
        // Student t on n − p df for the t values.
        Assert.Equal(2 * MathNet.Numerics.Distributions.StudentT.CDF(0, 1, n - p, -Math.Abs(fit.Statistics[2])), fit.PValues[2], 12);
        // Identity link: the start round solves least squares, the next confirms it.
        Assert.Equal(2, fit.Iterations);
        Assert.Equal(3, fit.Rounds);
    }

    [Fact]
    public void Unit_weight_gaussian_AIC_is_the_textbook_formula()
    {
        double[] x = [1, 2, 3, 4, 5, 6];
        double[] y = [1.2, 1.9, 3.2, 3.8, 5.1, 6.3];
        var fit = Federated(new GlmSpec(GlmFamily.Gaussian, ["x"], new GlmBounds(6, 10) { MaxAbsResponse = 10 }, 2), Split(1, x, y, null, null, [[0, 1, 2], [3, 4, 5]]));
        // Ordinary least squares by hand: slope = Sxy/Sxx, intercept = ȳ − slope·x̄.
        double xBar = x.Average(), yBar = y.Average();
        double slope = x.Zip(y, (a, b) => (a - xBar) * (b - yBar)).Sum() / x.Sum(a => (a - xBar) * (a - xBar));
        double intercept = yBar - (slope * xBar);
        double rss = x.Zip(y, (a, b) => Math.Pow(b - intercept - (slope * a), 2)).Sum();
        Assert.Equal(intercept, fit.Coefficients[0], 12);
        Assert.Equal(slope, fit.Coefficients[1], 12);
        Assert.Equal((6 * (Math.Log(2 * Math.PI * rss / 6) + 1)) + 2 + 4, fit.Aic, 10);
        Assert.Equal(4, fit.ResidualDf);
    }

    internal static double LogOnePlusExp(double eta) => eta > 0 ? eta + Math.Log(1 + Math.Exp(-eta)) : Math.Log(1 + Math.Exp(eta));

    internal static double LogFactorial(double n)
    {
        double s = 0;
        for (int k = 2; k <= n; k++)
        {
            s += Math.Log(k);
        }

        return s;
    }

    internal static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    internal static double Poisson(Random rng, double mu)
    {
        double limit = Math.Exp(-mu), product = rng.NextDouble();
        int k = 0;
        while (product > limit)
        {
            product *= rng.NextDouble();
            k++;
        }

        return k;
    }

    /// <summary>Newton's method on f with central-difference gradient and Hessian; independent of IRLS.</summary>
    internal static double[] NewtonMaximize(Func<double[], double> f, double[] start)
    {
        var b = start.ToArray();
        for (int iteration = 0; iteration < 200; iteration++)
        {
            var step = NumericHessian(f, b).Solve(Vector<double>.Build.Dense(NumericGradient(f, b)));
            double before = f(b), t = 1;
            double[] next;
            do
            {
                next = [.. b.Select((v, j) => v - (t * step[j]))];
                t /= 2;
            }
            while (f(next) < before && t > 1e-10);

            double change = next.Zip(b, (u, v) => Math.Abs(u - v)).Max();
            b = next;
            if (change < 1e-11)
            {
                break;
            }
        }

        return b;
    }

    internal static double[] NumericGradient(Func<double[], double> f, double[] b)
    {
        var g = new double[b.Length];
        for (int j = 0; j < b.Length; j++)
        {
            double h = 1e-5 * Math.Max(1, Math.Abs(b[j]));
            var up = b.ToArray();
            var down = b.ToArray();
            up[j] += h;
            down[j] -= h;
            g[j] = (f(up) - f(down)) / (2 * h);
        }

        return g;
    }

    internal static Matrix<double> NumericHessian(Func<double[], double> f, double[] b)
    {
        int p = b.Length;
        var hessian = Matrix<double>.Build.Dense(p, p);
        for (int j = 0; j < p; j++)
        {
            double h = 1e-4 * Math.Max(1, Math.Abs(b[j]));
            var up = b.ToArray();
            var down = b.ToArray();
            up[j] += h;
            down[j] -= h;
            var gu = NumericGradient(f, up);
            var gd = NumericGradient(f, down);
            for (int l = 0; l < p; l++)
            {
                hessian[l, j] = (gu[l] - gd[l]) / (2 * h);
            }
        }

        return (hessian + hessian.Transpose()) / 2;
    }
}
