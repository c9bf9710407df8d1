using System.Numerics;
using FederatedTwin.Scenarios.Random;

namespace FederatedTwin.Scenarios.Twin;

/// <summary>
/// Steps a cohort year by year: utilisation and cost for the year, then death, onsets and ageing at year end. Every
/// outcome is one evaluation of a named model and one draw (see <see cref="DrawStream"/>); effects of interventions
/// multiply the model's rate or odds for enrolled people. Parallel over fixed person chunks; each chunk sums into its own
/// slot and slots are added in chunk order, so results do not depend on thread scheduling. No allocation per person.
/// </summary>
public sealed class TwinSimulator
{
    private const int ChunkSize = 16_384;
    private readonly TwinModelSet _models;

    /// <summary>Creates a simulator over a model set.</summary>
    public TwinSimulator(TwinModelSet models) => _models = models;

    /// <summary>Runs one replicate from <paramref name="initial"/> (unchanged) for <paramref name="years"/> years, using <paramref name="work"/> as state.</summary>
    public YearTotals[] Run(Cohort initial, Cohort work, IReadOnlyList<TwinIntervention> interventions, int years, DrawStream draws, int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(interventions);
        if (interventions.Count > 16)
        {
            throw new ArgumentException("at most 16 interventions per scenario", nameof(interventions));
        }

        initial.CopyTo(work);
        var plan = new InterventionPlan(interventions, years);
        var chunks = (work.Count + ChunkSize - 1) / ChunkSize;
        var sums = new double[chunks * YearTotals.MetricCount];
        var result = new YearTotals[years];
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        for (var t = 0; t < years; t++)
        {
            Array.Clear(sums);
            var year = t;
            Parallel.For(0, chunks, options, chunk =>
            {
                var start = chunk * ChunkSize;
                var end = Math.Min(work.Count, start + ChunkSize);
                StepChunk(work, plan, year, draws, start, end, sums.AsSpan(chunk * YearTotals.MetricCount, YearTotals.MetricCount));
            });
            var totals = new YearTotals();
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                for (var m = 0; m < YearTotals.MetricCount; m++)
                {
                    totals[(Metric)m] += sums[(chunk * YearTotals.MetricCount) + m];
                }
            }

            result[t] = totals;
        }

        return result;
    }

    private void StepChunk(Cohort c, InterventionPlan plan, int t, DrawStream draws, int start, int end, Span<double> sum)
    {
        var m = _models;
        Span<double> onsetOr = stackalloc double[ChronicConditions.Count];
        for (var i = start; i < end; i++)
        {
            if (!c.Alive[i])
            {
                continue;
            }

            int age = c.Age[i];
            var male = c.Male[i];
            int mask = c.Conditions[i];
            var medicare = c.MedicareEligible[i];
            var multiMorbid = BitOperations.PopCount((uint)mask) >= 2;

            // Interventions: enrollment is one draw per person and intervention, fixed over years, so a person
            // enrolled at 30% coverage stays enrolled when coverage ramps to 60%.
            double admRr = 1, edRr = 1, deathOr = 1, costRr = 1, interventionCost = 0;
            onsetOr.Fill(1);
            var enrolledAny = false;
            var enrollmentGroup = -1;
            var enrollmentBlock = default(PhiloxBlock);
            for (var k = 0; k < plan.Count; k++)
            {
                var coverage = plan.Coverage[k][t];
                if (coverage <= 0 || !plan.Eligible(k, age, male, mask))
                {
                    continue;
                }

                // Interventions 4g..4g+3 share one block; fetch each block once per person.
                var group = ((int)TwinOutcome.EnrollmentBase + k) / 4;
                if (group != enrollmentGroup)
                {
                    enrollmentBlock = draws.Block(i, ushort.MaxValue, group);
                    enrollmentGroup = group;
                }

                var u = enrollmentBlock.Word01(k % 4);
                if (u >= coverage)
                {
                    continue;
                }

                enrolledAny = true;
                admRr *= plan.AdmissionRr[k];
                edRr *= plan.EdRr[k];
                deathOr *= plan.DeathOr[k];
                costRr *= plan.CostRr[k];
                for (var j = 0; j < onsetOr.Length; j++)
                {
                    onsetOr[j] *= plan.OnsetOr[k][j];
                }

                interventionCost += plan.CostPerYear[k];
            }

            var b0 = draws.Block(i, t, 0);
            var admissions = PoissonInverse(b0.Word01((int)TwinOutcome.Admission), m.Admissions.Mean(age, male, mask) * admRr);
            var bedDays = admissions == 0 ? 0 : PoissonInverse(b0.Word01((int)TwinOutcome.BedDays), admissions * m.LengthOfStay.Mean(age, male, mask));
            var ed = PoissonInverse(b0.Word01((int)TwinOutcome.EdVisits), m.EdVisits.Mean(age, male, mask) * edRr);
            var sigma = m.AmbulatoryCost.Model.Dispersion;
            var uCost = draws.Block(i, t, (int)TwinOutcome.Cost / 4).Word01((int)TwinOutcome.Cost % 4);
            var ambulatory = m.AmbulatoryCost.Mean(age, male, mask) * costRr * Math.Exp((sigma * NormalQuantile.Of(uCost)) - (0.5 * sigma * sigma));
            var cost = ambulatory + (admissions * m.AdmissionUnitCost) + (bedDays * m.BedDayUnitCost) + (ed * m.EdUnitCost);

            // Year end: death (odds ratio on the model's probability), onsets, ageing.
            var died = b0.Word01((int)TwinOutcome.Death) < WithOddsRatio(m.Death.Mean(age, male, mask), deathOr);
            var newMask = mask;
            var onsets = 0;
            if (!died)
            {
                var block = default(PhiloxBlock);
                for (var k = 0; k < ChronicConditions.Count; k++)
                {
                    var outcome = (int)TwinOutcome.OnsetBase + k;
                    if (outcome % 4 == 0 || k == 0)
                    {
                        block = draws.Block(i, t, outcome / 4);
                    }

                    if ((mask & (1 << k)) == 0 && OnsetOccurs(m.Onset[k], block.Word01(outcome % 4), age, male, mask, onsetOr[k]))
                    {
                        newMask |= 1 << k;
                        onsets++;
                    }
                }
            }

            sum[(int)Metric.PersonYears] += 1;
            sum[(int)Metric.TotalCost] += cost;
            sum[(int)Metric.Admissions] += admissions;
            sum[(int)Metric.BedDays] += bedDays;
            sum[(int)Metric.EdVisits] += ed;
            sum[(int)Metric.Deaths] += died ? 1 : 0;
            sum[(int)Metric.NewOnsets] += onsets;
            sum[(int)Metric.InterventionCost] += interventionCost;
            sum[(int)Metric.Enrolled] += enrolledAny ? 1 : 0;
            if (medicare)
            {
                sum[(int)Metric.McPersonYears] += 1;
                sum[(int)Metric.McCost] += cost;
                if (multiMorbid)
                {
                    sum[(int)Metric.McMultiMorbidAdmissions] += admissions;
                    sum[(int)Metric.McMultiMorbidPersonYears] += 1;
                }
            }

            c.Alive[i] = !died;
            c.Conditions[i] = (ushort)newMask;
            c.Age[i] = (byte)Math.Min(age + 1, 120);
            c.MedicareEligible[i] = medicare || age + 1 >= 65;
        }
    }

    private static bool OnsetOccurs(CompiledModel model, double u, int age, bool male, int mask, double oddsRatio) =>
        oddsRatio == 1 ? model.LogisticBelow(u, age, male, mask) : u < WithOddsRatio(model.Mean(age, male, mask), oddsRatio);

    /// <summary>p' = OR p / (1 - p + OR p): the probability whose odds are OR times the odds of p.</summary>
    private static double WithOddsRatio(double p, double oddsRatio) => oddsRatio == 1 ? p : oddsRatio * p / (1 - p + (oddsRatio * p));

    /// <summary>Poisson count by inversion of the CDF with one uniform; monotone non-decreasing in the rate for a fixed draw.</summary>
    private static int PoissonInverse(double u, double rate)
    {
        var p = Math.Exp(-rate);
        var cdf = p;
        var k = 0;
        while (u > cdf && k < 1000)
        {
            k++;
            p *= rate / k;
            cdf += p;
        }

        return k;
    }
}
