using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FederatedTwin.Twin.RandomStreams;
using static FederatedTwin.Twin.Simulation.BlockLanes;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// The outcome kernels of one block's simulated year, in the order the step runs them: admissions, inpatient days, ED
/// visits, cost, death and the onset of each condition. Each evaluates its model over whole <see cref="Vector{T}"/> lanes
/// and turns the block's draws into counts, costs or bits, branch-free.
/// </summary>
internal static class OutcomePasses
{
    /// <summary>Counts above this mean per person-year are treated as this mean (a year has 365 days).</summary>
    internal const double MaxCountMean = 365;

    /// <summary>
    /// Guard on a cost model's mean, USD per person-year. ASSUMPTION: far above any real annual cost, it only stops a
    /// model whose prior-cost term feeds back without bound (a log-link model with a linear cost term) from overflowing.
    /// </summary>
    internal const double MaxCostMean = 10_000_000;

    /// <summary>
    /// Admissions. The binomial model gives p = P(any admission next year) = 1/(1 + x), x = e^-eta. The count is
    /// Poisson with the rate whose P(N >= 1) is p: lambda0 = -ln(1 - p) = ln(1 + 1/x), so P(N = 0) = x/(1 + x). An
    /// enrolled person's rate is RR * lambda0 and P(N = 0) = e^(-RR lambda0); lanes with RR = 1 keep x/(1 + x) exactly.
    /// A risk-factor shift multiplies the odds by OR = e^(beta Delta): x' = x/OR, rate ln(1 + 1/x') (times any RR), and
    /// lanes with 1/OR = 1 keep lambda0 exactly. <c>Lambda0</c> stays the baseline rate: the length of stay (days pass) and
    /// the expected facility cost (cost pass) are the baseline's, so a prevented admission takes its own days with it.
    /// </summary>
    public static void AdmissionPass(StepScratch s, bool effects, bool odds)
    {
        var cap = new Vector<double>(MaxCountMean);
        var tiny = new Vector<double>(1e-300);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            var x = Vector.MaxNative(Load(s.AdmissionX, j), tiny); // p = 1 exactly would give 1/0
            var lambda0 = Vector.MinNative(VectorMath.Log1p(Vector<double>.One / x), cap);
            Store(lambda0, s.Lambda0, j);
            var p0 = x / (Vector<double>.One + x);
            var lambda = lambda0;
            if (odds)
            {
                var inv = Load(s.AdmissionInvOr, j);
                var same = Vector.Equals(inv, Vector<double>.One);
                var shifted = Vector.MaxNative(x * inv, tiny);
                lambda = Vector.ConditionalSelect(same, lambda0, Vector.MinNative(VectorMath.Log1p(Vector<double>.One / shifted), cap));
                p0 = Vector.ConditionalSelect(same, p0, shifted / (Vector<double>.One + shifted));
            }

            if (effects)
            {
                var rr = Load(s.AdmissionMul, j);
                lambda *= rr;
                p0 = Vector.ConditionalSelect(Vector.Equals(rr, Vector<double>.One), p0, VectorMath.Exp(-lambda));
            }

            Store(lambda, s.Lambda, j);
            Store(p0, s.P0, j);
        }

        PoissonCounts(s.U[(int)TwinOutcome.Admission], s.P0, s.Lambda, s.N, s.Padded);
    }

    /// <summary>
    /// Inpatient days: the model's expected days per person-year mu_D, spread over the simulated admissions at the mean
    /// length of stay mu_D / lambda0 per admission (so E[days] = mu_D at baseline, and fewer admissions mean fewer days).
    /// </summary>
    public static void DaysPass(CompiledModel model, StepScratch s, int featureYear)
    {
        var util = model.HasUtilisation;
        Part(model, s, featureYear);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            Store(ClampedMean(CompleteAt(model, util, s, j)), s.MeanDays, j);
        }

        var cap = new Vector<double>(MaxCountMean);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            var admissions = Load(s.N, j);
            var admitted = Vector.GreaterThan(admissions, Vector<double>.Zero);
            var mean = Vector.ConditionalSelect(admitted, Vector.MinNative(admissions * Load(s.MeanDays, j) / Load(s.Lambda0, j), cap), Vector<double>.Zero);
            Store(mean, s.LambdaDays, j);
            Store(VectorMath.Exp(-mean), s.P0Days, j);
        }

        PoissonCounts(s.U[(int)TwinOutcome.InpatientDays], s.P0Days, s.LambdaDays, s.D, s.Padded);
    }

    /// <summary>ED visits: Poisson with the model's mean times the relative risk.</summary>
    public static void EdPass(CompiledModel model, StepScratch s, int featureYear, bool effects)
    {
        var util = model.HasUtilisation;
        Part(model, s, featureYear);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            var mean = ClampedMean(CompleteAt(model, util, s, j));
            Store(mean, s.MeanEd, j);
            var rate = effects ? mean * Load(s.EdMul, j) : mean;
            Store(rate, s.LambdaEd, j);
            Store(VectorMath.Exp(-rate), s.P0Ed, j);
        }

        PoissonCounts(s.U[(int)TwinOutcome.EdVisits], s.P0Ed, s.LambdaEd, s.E, s.Padded);
    }

    /// <summary>Death: u &lt; p' where p' has odds OR e^eta, i.e. u (1 + x / OR) &lt; 1 with x = e^-eta (no division per person).</summary>
    public static void DeathPass(CompiledModel model, StepScratch s, int featureYear, bool effects)
    {
        var util = model.HasUtilisation;
        Part(model, s, featureYear);
        var u = s.U[(int)TwinOutcome.Death];
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            var x = CompleteAt(model, util, s, j);
            if (effects)
            {
                x *= Load(s.DeathInvOr, j);
            }

            Store(Vector.LessThan(Load(u, j) * (Vector<double>.One + x), Vector<double>.One), s.Died, j);
            Store(Vector<long>.Zero, s.NewBits, j);
        }
    }

    /// <summary>Onset of condition k among survivors who do not have it: the same comparison, one bit of the new-conditions mask.</summary>
    public static void OnsetPass(CompiledModel model, int k, double[]? invOr, StepScratch s, int featureYear)
    {
        var util = model.HasUtilisation;
        var fused = Vector<double>.Count == 4 && !model.Additive;
        if (!fused)
        {
            Part(model, s, featureYear);
        }

        var year = model.HasYear ? model.YearFactor(featureYear) : 1;
        var ageSex = model.AgeSexTable;
        var masks = model.MaskTable;
        var bit = new Vector<long>(1L << k);
        var u = s.U[(int)TwinOutcome.OnsetBase + k];
        var mask = s.Mask;
        var index = s.AgeSex;
        var died = s.Died;
        var newBits = s.NewBits;
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            Vector<double> x;
            if (fused)
            {
                // The same products as Part, gathered straight into a vector.
                x = Vector256.Create(ageSex[index[j]], ageSex[index[j + 1]], ageSex[index[j + 2]], ageSex[index[j + 3]]).AsVector()
                    * Vector256.Create(masks[(int)mask[j]], masks[(int)mask[j + 1]], masks[(int)mask[j + 2]], masks[(int)mask[j + 3]]).AsVector();
                if (model.HasYear)
                {
                    x *= new Vector<double>(year);
                }

                if (util)
                {
                    x = model.Complete(x, Load(s.Admissions, j), Load(s.Days, j), Load(s.Ed, j), Load(s.Cost, j));
                }
            }
            else
            {
                x = CompleteAt(model, util, s, j);
            }

            if (invOr is not null)
            {
                x *= Load(invOr, j);
            }

            var occurs = Vector.LessThan(Load(u, j) * (Vector<double>.One + x), Vector<double>.One);
            var absent = Vector.Equals(Load(mask, j) & bit, Vector<long>.Zero);
            Store(Load(newBits, j) | (Vector.AndNot(occurs & absent, Load(died, j)) & bit), newBits, j);
        }
    }

    /// <summary>
    /// Cost of the simulated year. The cost model gives the expected total mu_C (at most <see cref="MaxCostMean"/>). Its facility part is priced from the
    /// simulated admissions, days and ED visits at the unit costs, scaled by k = min(1, mu_C / F) where F is that
    /// part's expected value at baseline; the rest, max(mu_C - F, 0), carries mean-one log-normal noise and the
    /// other-cost effect. At baseline E[cost] = mu_C; preventing an admission saves k times its price.
    /// </summary>
    public static void CostPass(ModelSet m, StepScratch s, int featureYear, bool effects, bool meanShift)
    {
        var p = m.Parameters;
        var stay = new Vector<double>(p.InpatientStayCost);
        var day = new Vector<double>(p.InpatientDayCost);
        var ed = new Vector<double>(p.EmergencyVisitCost);
        var sd = new Vector<double>(p.OtherCostLogSd);
        var halfVariance = new Vector<double>(0.5 * p.OtherCostLogSd * p.OtherCostLogSd);
        var tiny = new Vector<double>(double.Epsilon);
        var maxCost = new Vector<double>(MaxCostMean);
        var u = s.U[(int)TwinOutcome.Cost];
        var util = m.Cost.HasUtilisation;
        Part(m.Cost, s, featureYear);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            var mean = Vector.MinNative(Vector.MaxNative(CompleteAt(m.Cost, util, s, j), Vector<double>.Zero), maxCost);
            if (meanShift)
            {
                // Risk-factor shift on a log-link cost model: mu_C' = e^(beta Delta) mu_C (factor exactly 1 when not enrolled).
                mean *= Load(s.CostMeanMul, j);
            }

            var expectedFacility = (stay * Load(s.Lambda0, j)) + (day * Load(s.MeanDays, j)) + (ed * Load(s.MeanEd, j));
            var k = Vector.MinNative(Vector<double>.One, mean / Vector.MaxNative(expectedFacility, tiny));
            var other = Vector.MaxNative(mean - expectedFacility, Vector<double>.Zero);
            var noise = VectorMath.Exp((sd * VectorMath.NormalQuantile(Load(u, j))) - halfVariance);
            if (effects)
            {
                other *= Load(s.CostMul, j);
            }

            var facility = (stay * Load(s.N, j)) + (day * Load(s.D, j)) + (ed * Load(s.E, j));
            Store((k * facility) + (other * noise), s.NewCost, j);
        }
    }

    /// <summary>A count model's mean on the response scale (e^eta or eta), clamped to [0, 365].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> ClampedMean(Vector<double> mean) =>
        Vector.MinNative(Vector.MaxNative(mean, Vector<double>.Zero), new Vector<double>(MaxCountMean));

    /// <summary>1/k for the Poisson recursion p_k = p_(k-1) * rate / k, k = 1..1000.</summary>
    private static readonly double[] InverseK = [0, .. Enumerable.Range(1, 1000).Select(k => 1.0 / k)];

    /// <summary>
    /// Poisson counts by inversion of the CDF with one uniform per lane, given p0 = e^-rate: the count is the number of
    /// k with u &gt; P(N &lt;= k - 1), accumulated four (or eight) lanes at a time until no lane is still above its CDF
    /// (at most 1,000). For a fixed draw the count is monotone non-decreasing in the rate (the CDF at every k falls as
    /// the rate rises), which gives common random numbers their monotonicity.
    /// </summary>
    private static void PoissonCounts(double[] u, double[] p0, double[] rate, double[] counts, int np)
    {
        for (var j = 0; j < np; j += Vector<double>.Count)
        {
            var draw = Load(u, j);
            var p = Load(p0, j);
            var r = Load(rate, j);
            var cdf = p;
            var count = Vector<double>.Zero;
            var above = Vector.GreaterThan(draw, cdf);
            for (var k = 1; k < InverseK.Length && !Vector.EqualsAll(above, Vector<long>.Zero); k++)
            {
                count += Vector.AsVectorDouble(above) & Vector<double>.One;
                p *= r * new Vector<double>(InverseK[k]);
                cdf += p;
                above &= Vector.GreaterThan(draw, cdf);
            }

            Store(count, counts, j);
        }
    }
}
