using FederatedTwin.Twin.RandomStreams;

namespace FederatedTwin.Twin.Simulation;

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
    /// <summary>
    /// Allocates a cohort of n people whose arrays describe <paramref name="featureYear"/>: a given population (a hospital's
    /// own patients, node/Twins) filled in by the caller rather than drawn from a composition.
    /// </summary>
    public Cohort(int n, int featureYear)
        : this(n) => FeatureYear = featureYear;

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
                        composition.OpenTopLevel && c.ConditionCount == topLevel, block.Word01(1));
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
    /// The conditions of one person of a release cell, by systematic πps sampling (Madow 1949): inclusion probabilities
    /// π_j (the cell's conditional prevalences) are rescaled to sum to the target T and capped at 1; with one uniform u,
    /// the points u, u + 1, … below T on the cumulated π select the conditions, so condition j is included with
    /// probability exactly π_j and each person gets ⌊T⌋ or ⌈T⌉ distinct conditions. For a level-1..3 cell T is the
    /// level (exactly that many conditions; the π_j sum to it up to noise). For the open top level (4+) T = Σ_j π_j, the
    /// cell's mean number of conditions implied by the release (at least 4), so the cell's prevalences and mean count are
    /// reproduced in expectation; the spread of the count above 4 is not in the release, and this draw gives only the two
    /// integers around T (ASSUMPTION, documented in docs/scenarios.md). Pairwise co-occurrence is not in the release either;
    /// the joint inclusions of this draw depend on the column order.
    /// </summary>
    internal static int ConditionsFromRelease(double[] pi, int level, bool open, double uPick)
    {
        var k = ChronicConditions.Count;
        var sum = 0.0;
        foreach (var x in pi)
        {
            sum += Math.Max(0, x);
        }

        var target = open ? Math.Clamp(sum, level, k) : Math.Min(level, k);
        if (target <= 0)
        {
            return 0;
        }

        // Inclusion probabilities summing to the target, each at most 1 (iterative capping); no information → equal chances.
        Span<double> p = stackalloc double[k];
        for (var j = 0; j < k; j++)
        {
            p[j] = sum > 0 ? Math.Max(0, pi[j]) : 1.0;
        }

        Span<bool> capped = stackalloc bool[k];
        for (var round = 0; round <= k; round++)
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

            var scale = free > 0 ? (target - fixedMass) / free : 0;
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

        // Fewer conditions with positive probability than the level needs: the others share the rest equally.
        var positive = 0;
        foreach (var x in p)
        {
            positive += x > 0 ? 1 : 0;
        }

        if (positive < target)
        {
            for (var j = 0; j < k; j++)
            {
                p[j] = p[j] > 0 ? 1 : (target - positive) / (k - positive);
            }
        }

        var mask = 0;
        var cumulative = 0.0;
        var point = uPick;
        for (var j = 0; j < k && point < target; j++)
        {
            cumulative += p[j];
            if (point < cumulative || (j == k - 1 && point < target - 1e-9))
            {
                mask |= 1 << j;
                point += 1;
            }
        }

        return mask;
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
