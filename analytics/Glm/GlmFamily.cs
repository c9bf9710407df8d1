using MathNet.Numerics;

namespace FederatedTwin.Analytics.Glm;

/// <summary>The supported GLM families, each with its canonical link (logit, log, identity).</summary>
public enum GlmFamily
{
    Binomial,
    Poisson,
    Gaussian,
}

/// <summary>
/// Per-row GLM arithmetic, transcribed from R's stats package (family.R, family.c, glm.fit) so that
/// fits agree with R to rounding: the same clamps on the inverse link, the same starting means, the same
/// deviance residuals and AIC terms. Shared by the node, the coordinator and the pooled reference.
/// </summary>
internal static class GlmMath
{
    /// <summary>R's DBL_EPSILON floor on fitted means (logit_linkinv, poisson linkinv).</summary>
    internal const double Epsilon = 2.220446049250313e-16;

    /// <summary>−log(DBL_EPSILON): the largest |log μ| the clamps allow, which bounds deviance terms.</summary>
    internal const double LogEpsilon = 36.04365338911715;

    // R's family.c: |η| > 30 is treated as saturated by the logit link.
    private const double LogitThreshold = 30;

    internal static double LinkInverse(GlmFamily family, double eta) => family switch
    {
        GlmFamily.Binomial => LogitInverse(eta),
        GlmFamily.Poisson => Math.Max(Math.Exp(eta), Epsilon),
        _ => eta,
    };

    internal static double Link(GlmFamily family, double mu) => family switch
    {
        GlmFamily.Binomial => Math.Log(mu / (1 - mu)),
        GlmFamily.Poisson => Math.Log(mu),
        _ => mu,
    };

    /// <summary>dμ/dη.</summary>
    internal static double MuEta(GlmFamily family, double eta)
    {
        switch (family)
        {
            case GlmFamily.Binomial:
                if (eta > LogitThreshold || eta < -LogitThreshold)
                {
                    return Epsilon;
                }

                double e = Math.Exp(eta);
                return e / ((1 + e) * (1 + e));
            case GlmFamily.Poisson:
                return Math.Max(Math.Exp(eta), Epsilon);
            default:
                return 1;
        }
    }

    internal static double Variance(GlmFamily family, double mu) => family switch
    {
        GlmFamily.Binomial => mu * (1 - mu),
        GlmFamily.Poisson => mu,
        _ => 1,
    };

    /// <summary>R's initialize expressions: μ0 = (w·y + ½)/(w + 1), y + 0.1, y.</summary>
    internal static double StartMean(GlmFamily family, double y, double w) => family switch
    {
        GlmFamily.Binomial => ((w * y) + 0.5) / (w + 1),
        GlmFamily.Poisson => y + 0.1,
        _ => y,
    };

    /// <summary>w · unit deviance, as R's dev.resids.</summary>
    internal static double Deviance(GlmFamily family, double y, double mu, double w) => family switch
    {
        GlmFamily.Binomial => 2 * w * (YLogY(y, mu) + YLogY(1 - y, 1 - mu)),
        GlmFamily.Poisson => 2 * w * ((y == 0 ? 0 : y * Math.Log(y / mu)) - (y - mu)),
        _ => w * (y - mu) * (y - mu),
    };

    /// <summary>
    /// −2 × the row's log-likelihood as R's family$aic sums it. Binomial with a proportion y and prior
    /// weight w (trials): −2·log dbinom(round(w·y), round(w), μ); Poisson: −2·w·log dpois(y, μ).
    /// Gaussian has no per-row term: its AIC comes from the residual sum of squares.
    /// </summary>
    internal static double AicTerm(GlmFamily family, double y, double mu, double w)
    {
        switch (family)
        {
            case GlmFamily.Binomial:
                double m = Math.Round(w);
                if (m <= 0)
                {
                    return 0;
                }

                double k = Math.Round(w * y);
                double logChoose = SpecialFunctions.GammaLn(m + 1) - SpecialFunctions.GammaLn(k + 1) - SpecialFunctions.GammaLn(m - k + 1);
                return -2 * (logChoose + XLogP(k, mu) + XLogP(m - k, 1 - mu));
            case GlmFamily.Poisson:
                return -2 * w * (XLogP(y, mu) - mu - SpecialFunctions.GammaLn(y + 1));
            default:
                return 0;
        }
    }

    /// <summary>Whether the family estimates a dispersion (Pearson χ²/(n − p), as summary.glm) rather than fixing it at 1.</summary>
    internal static bool EstimatesDispersion(GlmFamily family) => family == GlmFamily.Gaussian;

    /// <summary>Whether the family's AIC is a sum of per-row terms (so nodes must send it).</summary>
    internal static bool HasAicTerm(GlmFamily family) => family != GlmFamily.Gaussian;

    /// <summary>
    /// The sufficient statistic that, with Σw and Σw·y, gives the intercept-only fit with an offset in closed
    /// form: Poisson Σw·e^o (μ_i = e^o_i·Σwy/Σw·e^o), Gaussian Σw·o (μ_i = o_i + Σw(y − o)/Σw).
    /// </summary>
    internal static double OffsetStatistic(GlmFamily family, double offset) =>
        family == GlmFamily.Poisson ? Math.Exp(offset) : offset;

    private static double LogitInverse(double eta)
    {
        double t = eta < -LogitThreshold ? Epsilon : eta > LogitThreshold ? 1 / Epsilon : Math.Exp(eta);
        return t / (1 + t);
    }

    private static double YLogY(double y, double mu) => y != 0 ? y * Math.Log(y / mu) : 0;

    private static double XLogP(double x, double p) => x == 0 ? 0 : x * Math.Log(p);
}
