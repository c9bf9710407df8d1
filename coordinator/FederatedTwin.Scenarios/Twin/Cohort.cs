using FederatedTwin.Scenarios.Random;

namespace FederatedTwin.Scenarios.Twin;

/// <summary>
/// A synthetic cohort in structure-of-arrays form: one array per feature, index = person. The arrays hold each person's
/// features for <see cref="FeatureYear"/> (age on 31 December of that year, conditions recorded by its end, that year's
/// utilisation and cost), the row a node would build for them; the yearly step predicts the next year from it.
/// </summary>
public sealed class Cohort
{
    /// <summary>Allocates a cohort of n people.</summary>
    public Cohort(int n)
    {
        Age = new byte[n];
        Male = new bool[n];
        Conditions = new ushort[n];
        Alive = new bool[n];
        InpatientAdmissions = new ushort[n];
        InpatientDays = new ushort[n];
        EdVisits = new ushort[n];
        Cost = new double[n];
    }

    /// <summary>Age in completed years on 31 December of the feature year (the twin keeps ages above 90; models see 90).</summary>
    public byte[] Age { get; }
    /// <summary>Sex (true = male).</summary>
    public bool[] Male { get; }
    /// <summary>Chronic condition bitmask, bit k = <see cref="ChronicCondition"/> k.</summary>
    public ushort[] Conditions { get; }
    /// <summary>Alive at the end of the feature year.</summary>
    public bool[] Alive { get; }
    /// <summary>Inpatient admissions in the feature year.</summary>
    public ushort[] InpatientAdmissions { get; }
    /// <summary>Inpatient days in the feature year.</summary>
    public ushort[] InpatientDays { get; }
    /// <summary>ED visits in the feature year.</summary>
    public ushort[] EdVisits { get; }
    /// <summary>Total cost (USD) in the feature year.</summary>
    public double[] Cost { get; }
    /// <summary>The calendar year the arrays describe; the next step simulates FeatureYear + 1.</summary>
    public int FeatureYear { get; internal set; }
    /// <summary>Number of people.</summary>
    public int Count => Age.Length;

    /// <summary>One person's features, as the models see them.</summary>
    public PersonFeatures Features(int i) =>
        new(FeatureYear, Age[i], Male[i], Conditions[i], InpatientAdmissions[i], InpatientDays[i], EdVisits[i], Cost[i]);

    /// <summary>Copies state into <paramref name="target"/> (same size), so each run starts from the same cohort.</summary>
    public void CopyTo(Cohort target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Age.CopyTo(target.Age, 0);
        Male.CopyTo(target.Male, 0);
        Conditions.CopyTo(target.Conditions, 0);
        Alive.CopyTo(target.Alive, 0);
        InpatientAdmissions.CopyTo(target.InpatientAdmissions, 0);
        InpatientDays.CopyTo(target.InpatientDays, 0);
        EdVisits.CopyTo(target.EdVisits, 0);
        Cost.CopyTo(target.Cost, 0);
        target.FeatureYear = FeatureYear;
    }

    /// <summary>
    /// Draws a cohort of <paramref name="population"/> people from a composition, as of the year before
    /// <paramref name="firstYear"/>. Cell sizes are allocated deterministically by largest remainder (so the composition
    /// marginals are reproduced to within one person per cell); age is uniform inside the band; a person with c
    /// conditions gets c distinct conditions sampled without replacement with weights equal to the prevalence odds
    /// p/(1-p), an approximation to conditioning independent Bernoulli(p) flags on their sum. The composition carries no
    /// utilisation, so the feature year's admissions, days, ED visits and cost come from <see cref="TwinSimulator.BurnInSteps"/>
    /// utilisation-only steps of the models themselves, starting from zero. Draws use replicate word 0xFFFFFFFF so the
    /// cohort is shared by all replicates.
    /// </summary>
    public static Cohort FromComposition(Composition composition, ModelSet models, int population, uint seed, int firstYear)
    {
        ArgumentNullException.ThrowIfNull(composition);
        ArgumentNullException.ThrowIfNull(models);
        var counts = composition.ImputedCounts();
        var total = counts.Sum();
        var exact = counts.Select(c => c / total * population).ToArray();
        var alloc = exact.Select(e => (int)Math.Floor(e)).ToArray();
        var order = Enumerable.Range(0, exact.Length).OrderByDescending(i => exact[i] - alloc[i]).ThenBy(i => i).ToArray();
        var remainder = population - alloc.Sum();
        for (var r = 0; r < remainder; r++)
        {
            alloc[order[r % order.Length]]++;
        }

        var odds = composition.Prevalence.Select(p => p / (1 - p)).ToArray();
        var cohort = new Cohort(population) { FeatureYear = firstYear - 1 };
        var stream = new DrawStream(seed, uint.MaxValue);
        var person = 0;
        var topLevel = composition.Cells.Max(x => x.ConditionCount);
        Span<double> weights = stackalloc double[ChronicConditions.Count];
        for (var cell = 0; cell < alloc.Length; cell++)
        {
            var c = composition.Cells[cell];
            for (var j = 0; j < alloc[cell]; j++, person++)
            {
                var block = stream.Block(person, 0, 0);
                var age = c.Band.Low + (int)(block.Word01(0) * (c.Band.High - c.Band.Low + 1));
                cohort.Age[person] = (byte)age;
                cohort.Male[person] = c.Male;
                cohort.Alive[person] = true;
                if (composition.CellConditionProbabilities is { } conditional)
                {
                    cohort.Conditions[person] = (ushort)ConditionsFromRelease(conditional[cell], c.ConditionCount,
                        composition.OpenTopLevel && c.ConditionCount == topLevel, block.Word01(1), block.Word01(2));
                    continue;
                }

                odds.CopyTo(weights);
                var mask = 0;
                for (var pick = 0; pick < Math.Min(c.ConditionCount, ChronicConditions.Count); pick++)
                {
                    var u = stream.Block(person, 1 + pick, 0).Word01(0);
                    mask |= 1 << WeightedPick(weights, u);
                }

                cohort.Conditions[person] = (ushort)mask;
            }
        }

        new TwinSimulator(models).BurnIn(cohort, seed);
        return cohort;
    }

    /// <summary>
    /// The conditions of one person of a release cell. The number of conditions is the cell's level; for the open top
    /// level (4+) it is 4 + Binomial(7, (m − 4)/7), where m = Σ_j π_j is the cell's mean number of conditions implied by
    /// its prevalence counts (ASSUMPTION: the release gives only that mean above 4; the binomial is the simplest law on
    /// 4..11 with it), drawn by inversion of <paramref name="uCount"/>. Then exactly that many distinct conditions are
    /// drawn by systematic πps sampling (Madow 1949) with inclusion probabilities π_j rescaled to sum to the count and
    /// capped at 1: one uniform <paramref name="uPick"/>, the points u, u + 1, …, u + n − 1 on the cumulated π, so
    /// condition j is included with probability exactly π_j and the cell's conditional prevalences are reproduced in
    /// expectation. Pairwise co-occurrence is not in the release; this draw's joint inclusions depend on the column order.
    /// </summary>
    internal static int ConditionsFromRelease(double[] pi, int level, bool open, double uCount, double uPick)
    {
        var k = ChronicConditions.Count;
        var sum = pi.Sum();
        var n = level;
        if (open && level < k)
        {
            var spare = k - level;
            var q = Math.Clamp((sum - level) / spare, 0, 1);
            var cdf = 0.0;
            for (var extra = 0; extra <= spare; extra++)
            {
                cdf += Binomial(spare, extra) * Math.Pow(q, extra) * Math.Pow(1 - q, spare - extra);
                if (uCount < cdf || extra == spare)
                {
                    n = level + extra;
                    break;
                }
            }
        }

        if (n <= 0)
        {
            return 0;
        }

        // Inclusion probabilities summing to n, each at most 1 (iterative capping); no information → equal chances.
        Span<double> p = stackalloc double[k];
        for (var j = 0; j < k; j++)
        {
            p[j] = sum > 0 ? Math.Max(0, pi[j]) : 1.0;
        }

        Span<bool> capped = stackalloc bool[k];
        for (var round = 0; round < k; round++)
        {
            double free = 0, fixedMass = 0;
            for (var j = 0; j < k; j++)
            {
                if (capped[j])
                {
                    fixedMass += 1;
                }
                else
                {
                    free += p[j];
                }
            }

            var scale = free > 0 ? (n - fixedMass) / free : 0;
            var changed = false;
            for (var j = 0; j < k; j++)
            {
                if (capped[j])
                {
                    continue;
                }

                p[j] *= scale;
                if (p[j] >= 1)
                {
                    p[j] = 1;
                    capped[j] = true;
                    changed = true;
                }
            }

            if (!changed)
            {
                break;
            }
        }

        // Fewer than n conditions with positive probability: fill the rest with equal chances among the others.
        var positive = 0;
        foreach (var x in p)
        {
            positive += x > 0 ? 1 : 0;
        }

        if (positive < n)
        {
            for (var j = 0; j < k; j++)
            {
                p[j] = p[j] > 0 ? 1 : (double)(n - positive) / (k - positive);
            }
        }

        var mask = 0;
        var cumulative = 0.0;
        var point = uPick;
        var taken = 0;
        for (var j = 0; j < k && taken < n; j++)
        {
            cumulative += p[j];
            if (point < cumulative || j == k - 1)
            {
                mask |= 1 << j;
                taken++;
                point += 1;
            }
        }

        return mask;
    }

    private static double Binomial(int n, int r)
    {
        double b = 1;
        for (var i = 1; i <= r; i++)
        {
            b = b * (n - r + i) / i;
        }

        return b;
    }

    private static int WeightedPick(Span<double> weights, double u)
    {
        double sum = 0;
        foreach (var w in weights)
        {
            sum += w;
        }

        var target = u * sum;
        var last = 0;
        for (var k = 0; k < weights.Length; k++)
        {
            if (weights[k] <= 0)
            {
                continue;
            }

            last = k;
            target -= weights[k];
            if (target <= 0)
            {
                break;
            }
        }

        weights[last] = 0;
        return last;
    }
}
