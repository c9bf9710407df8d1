namespace FederatedTwin.Analytics.Privacy;

/// <summary>A zero-concentrated DP parameter ρ (Bun and Steinke 2016). Composition adds ρ.</summary>
public readonly record struct ZcdpRho
{
    public ZcdpRho(double value)
    {
        if (!(value >= 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), "rho must be finite and non-negative");
        }

        Value = value;
    }

    public double Value { get; }

    public static ZcdpRho operator +(ZcdpRho a, ZcdpRho b) => new(a.Value + b.Value);
}

/// <summary>An (ε, δ)-DP guarantee.</summary>
public readonly record struct EpsilonDelta(double Epsilon, double Delta);

/// <summary>zCDP arithmetic for Gaussian mechanisms and conversion to (ε, δ).</summary>
public static class ZcdpAccountant
{
    /// <summary>
    /// ρ of the Gaussian mechanism with L2 sensitivity Δ and noise σ: Δ²/(2σ²)
    /// (Bun and Steinke 2016, Prop. 1.6). The discrete Gaussian on Z with the same σ²
    /// parameter and integer-valued statistics has the same ρ (Canonne, Kamath and Steinke 2020, Thm. 4).
    /// </summary>
    public static ZcdpRho GaussianRho(double l2Sensitivity, double sigma)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(l2Sensitivity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sigma);
        return new ZcdpRho(l2Sensitivity * l2Sensitivity / (2 * sigma * sigma));
    }

    /// <summary>
    /// The noise σ that spends exactly ρ on a statistic of L2 sensitivity Δ: σ = Δ/√(2ρ), the inverse of
    /// <see cref="GaussianRho"/> (Bun and Steinke 2016, Prop. 1.6).
    /// </summary>
    public static double GaussianSigma(double l2Sensitivity, ZcdpRho rho)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(l2Sensitivity);
        if (rho.Value == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rho), "rho = 0 needs infinite noise");
        }

        return l2Sensitivity / Math.Sqrt(2 * rho.Value);
    }

    /// <summary>Sequential composition: ρ values add (Bun and Steinke 2016, Lemma 1.7).</summary>
    public static ZcdpRho Compose(IEnumerable<ZcdpRho> spends)
    {
        ArgumentNullException.ThrowIfNull(spends);
        var total = new ZcdpRho(0);
        foreach (var r in spends)
        {
            total += r;
        }

        return total;
    }

    /// <summary>ε = ρ + 2√(ρ log(1/δ)) (Bun and Steinke 2016, Prop. 1.3).</summary>
    public static double EpsilonBunSteinke(ZcdpRho rho, double delta)
    {
        CheckDelta(delta);
        return rho.Value + (2 * Math.Sqrt(rho.Value * Math.Log(1 / delta)));
    }

    /// <summary>
    /// Tighter conversion (Canonne, Kamath and Steinke 2020, Cor. 13):
    /// δ = inf_{α&gt;1} exp((α−1)(αρ−ε))/(α−1) · (1−1/α)^α; solved for ε at fixed α and
    /// minimised over a fine grid of log α (never worse than Bun–Steinke, which is the start value).
    /// </summary>
    public static double EpsilonCanonneKamathSteinke(ZcdpRho rho, double delta)
    {
        CheckDelta(delta);
        if (rho.Value == 0)
        {
            return 0;
        }

        // For a fixed α the smallest ε with δ(ε) ≤ delta is closed-form:
        // ε = αρ + (log(1/δ) + (α−1)log(1−1/α) − log α)/(α−1). Minimise over α on a fine log grid.
        double best = EpsilonBunSteinke(rho, delta);
        for (double logA = 1e-4; logA < 12; logA += 1e-3)
        {
            double a = Math.Exp(logA);
            double eps = (a * rho.Value) + ((Math.Log(1 / delta) + ((a - 1) * Math.Log(1 - (1 / a))) - Math.Log(a)) / (a - 1));
            if (eps < best)
            {
                best = Math.Max(eps, 0);
            }
        }

        return best;
    }

    /// <summary>
    /// The largest zCDP ρ whose (ε, δ) guarantee under <see cref="EpsilonCanonneKamathSteinke"/> is within
    /// <paramref name="epsilon"/> at <paramref name="delta"/>: how a budget stated as (ε, δ) is charged in ρ. Found by
    /// bisection (the conversion grows with ρ), rounded down, so spending it never exceeds the stated (ε, δ).
    /// </summary>
    public static double RhoForEpsilon(double epsilon, double delta)
    {
        CheckDelta(delta);
        if (!(epsilon >= 0) || double.IsInfinity(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), "epsilon must be non-negative and finite");
        }

        // ε ≥ ρ always (the conversion adds a non-negative term to ρ), so ρ lies in [0, ε].
        double low = 0, high = epsilon;
        for (int i = 0; i < 50 && high - low > 1e-12 * Math.Max(1, high); i++)
        {
            double mid = (low + high) / 2;
            if (EpsilonCanonneKamathSteinke(new ZcdpRho(mid), delta) <= epsilon)
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    private static void CheckDelta(double delta)
    {
        if (!(delta > 0 && delta < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(delta), "delta must be in (0, 1)");
        }
    }
}
