using FederatedTwin.Scenarios.Random;

namespace FederatedTwin.Scenarios.Twin;

/// <summary>A synthetic cohort in structure-of-arrays form: one array per attribute, index = person.</summary>
public sealed class Cohort
{
    /// <summary>Allocates a cohort of n people.</summary>
    public Cohort(int n)
    {
        Age = new byte[n];
        Male = new bool[n];
        Conditions = new ushort[n];
        MedicareEligible = new bool[n];
        Alive = new bool[n];
    }

    /// <summary>Age in whole years.</summary>
    public byte[] Age { get; }
    /// <summary>Sex (true = male).</summary>
    public bool[] Male { get; }
    /// <summary>Chronic condition bitmask, bit k = <see cref="ChronicCondition"/> k.</summary>
    public ushort[] Conditions { get; }
    /// <summary>Medicare-eligible (65+ in the demo composition; the settled population).</summary>
    public bool[] MedicareEligible { get; }
    /// <summary>Alive at the start of the next step.</summary>
    public bool[] Alive { get; }
    /// <summary>Number of people.</summary>
    public int Count => Age.Length;

    /// <summary>Copies state into <paramref name="target"/> (same size), so each run starts from the same cohort.</summary>
    public void CopyTo(Cohort target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Age.CopyTo(target.Age, 0);
        Male.CopyTo(target.Male, 0);
        Conditions.CopyTo(target.Conditions, 0);
        MedicareEligible.CopyTo(target.MedicareEligible, 0);
        Alive.CopyTo(target.Alive, 0);
    }

    /// <summary>
    /// Draws a cohort of <paramref name="population"/> people from a composition. Cell sizes are allocated
    /// deterministically by largest remainder (so the composition marginals are reproduced to within one person per
    /// cell); age is uniform inside the band; a person with c conditions gets c distinct conditions sampled without
    /// replacement with weights equal to the prevalence odds p/(1-p), an approximation to conditioning independent
    /// Bernoulli(p) flags on their sum. Draws use replicate word 0xFFFFFFFF so the cohort is shared by all replicates.
    /// </summary>
    public static Cohort FromComposition(Composition composition, int population, uint seed)
    {
        ArgumentNullException.ThrowIfNull(composition);
        var counts = composition.ImputedCounts();
        var total = counts.Sum();
        var exact = counts.Select(c => c / total * population).ToArray();
        var alloc = exact.Select(e => (int)Math.Floor(e)).ToArray();
        var order = Enumerable.Range(0, exact.Length).OrderByDescending(i => exact[i] - alloc[i]).ThenBy(i => i).ToArray();
        for (var r = 0; r < population - alloc.Sum(); r++)
        {
            alloc[order[r % order.Length]]++;
        }

        var odds = composition.Prevalence.Select(p => p / (1 - p)).ToArray();
        var cohort = new Cohort(population);
        var stream = new DrawStream(seed, uint.MaxValue);
        var person = 0;
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
                cohort.MedicareEligible[person] = age >= 65;
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

        return cohort;
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
