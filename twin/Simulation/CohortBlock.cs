using System.Numerics;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// Moves a block of living people between the cohort (person order) and the block arrays of a <see cref="StepScratch"/>:
/// gathering their state in, and writing their simulated year back with the block's year totals. The only per-person
/// loops of the step.
/// </summary>
internal static class CohortBlock
{
    /// <summary>Collects up to <see cref="Block"/> living people from <paramref name="i"/> into the block arrays; returns where it stopped.</summary>
    public static int Gather(Cohort c, StepScratch s, int i, int end)
    {
        var n = 0;
        for (; i < end && n < TwinSimulator.Block; i++)
        {
            if (!c.Alive[i])
            {
                continue;
            }

            int age = c.Age[i];
            s.Person[n] = i;
            s.Age[n] = age;
            s.AgeD[n] = age;
            s.AgeSex[n] = CompiledModel.AgeSexIndex(age, c.Male[i]);
            s.Mask[n] = c.Conditions[i];
            s.Admissions[n] = c.InpatientAdmissions[i];
            s.Days[n] = c.InpatientDays[i];
            s.Ed[n] = c.EdVisits[i];
            s.Cost[n] = c.Cost[i];
            n++;
        }

        s.Count = n;
        s.Padded = (n + StepScratch.Pad - 1) / StepScratch.Pad * StepScratch.Pad;
        for (var j = n; j < s.Padded; j++)
        {
            // Padding lanes: a valid person index and table indices; their results are never read.
            s.Person[j] = 0;
            s.Age[j] = 0;
            s.AgeD[j] = 0;
            s.AgeSex[j] = 0;
            s.Mask[j] = 0;
            s.Admissions[j] = 0;
            s.Days[j] = 0;
            s.Ed[j] = 0;
            s.Cost[j] = 0;
        }

        return i;
    }

    public static void WriteBack(Cohort c, StepScratch s, Span<double> sum, bool effects)
    {
        double personYears = 0, cost = 0, admissions = 0, admitted = 0, days = 0, ed = 0, deaths = 0, onsets = 0, interventionCost = 0, enrolled = 0;
        double mcPersonYears = 0, mcCost = 0, mcMultiAdmissions = 0, mcMultiPersonYears = 0;
        for (var j = 0; j < s.Count; j++)
        {
            var i = s.Person[j];
            var age = s.Age[j];
            var mask = (int)s.Mask[j];
            var newBits = (int)s.NewBits[j];
            var died = s.Died[j] != 0;
            double n = s.N[j], d = s.D[j], e = s.E[j], y = s.NewCost[j];
            personYears += 1;
            cost += y;
            admissions += n;
            admitted += n > 0 ? 1 : 0;
            days += d;
            ed += e;
            deaths += died ? 1 : 0;
            onsets += BitOperations.PopCount((uint)newBits);
            if (effects)
            {
                interventionCost += s.InterventionCost[j];
                enrolled += s.Enrolled[j] != 0 ? 1 : 0;
            }

            // Medicare-eligible in the simulated year: aged 65 by its end (the twin has no ESRD or disability entitlement).
            if (age + 1 >= 65)
            {
                mcPersonYears += 1;
                mcCost += y;
                if (BitOperations.PopCount((uint)mask) >= 2)
                {
                    mcMultiAdmissions += n;
                    mcMultiPersonYears += 1;
                }
            }

            c.Alive[i] = !died;
            c.Conditions[i] = (ushort)(mask | newBits);
            c.Age[i] = (byte)Math.Min(age + 1, 120);
            c.InpatientAdmissions[i] = (ushort)Math.Min(n, ushort.MaxValue);
            c.InpatientDays[i] = (ushort)Math.Min(d, ushort.MaxValue);
            c.EdVisits[i] = (ushort)Math.Min(e, ushort.MaxValue);
            c.Cost[i] = y;
        }

        sum[(int)Metric.PersonYears] += personYears;
        sum[(int)Metric.TotalCost] += cost;
        sum[(int)Metric.Admissions] += admissions;
        sum[(int)Metric.Admitted] += admitted;
        sum[(int)Metric.BedDays] += days;
        sum[(int)Metric.EdVisits] += ed;
        sum[(int)Metric.Deaths] += deaths;
        sum[(int)Metric.NewOnsets] += onsets;
        sum[(int)Metric.InterventionCost] += interventionCost;
        sum[(int)Metric.Enrolled] += enrolled;
        sum[(int)Metric.McPersonYears] += mcPersonYears;
        sum[(int)Metric.McCost] += mcCost;
        sum[(int)Metric.McMultiMorbidAdmissions] += mcMultiAdmissions;
        sum[(int)Metric.McMultiMorbidPersonYears] += mcMultiPersonYears;
    }

    public static void WriteBackUtilisation(Cohort c, StepScratch s)
    {
        for (var j = 0; j < s.Count; j++)
        {
            var i = s.Person[j];
            c.InpatientAdmissions[i] = (ushort)Math.Min(s.N[j], ushort.MaxValue);
            c.InpatientDays[i] = (ushort)Math.Min(s.D[j], ushort.MaxValue);
            c.EdVisits[i] = (ushort)Math.Min(s.E[j], ushort.MaxValue);
            c.Cost[i] = s.NewCost[j];
        }
    }
}
