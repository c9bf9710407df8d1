using System.Collections.Concurrent;
using System.Numerics;
using FederatedTwin.Twin.RandomStreams;
using static FederatedTwin.Twin.Simulation.BlockLanes;
using static FederatedTwin.Twin.Simulation.OutcomePasses;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// Steps a cohort year by year with the registered models of a <see cref="ModelSet"/>: for each living person, from
/// their features of the previous year, admissions, inpatient days, ED visits and cost of the simulated year, then death
/// and the onset of each absent condition, then ageing. Every outcome is one evaluation of a named model and one draw
/// (see <see cref="DrawStream"/>); interventions multiply the rate or the odds for enrolled people.
/// <para>
/// Layout: people are processed in blocks of <see cref="Block"/> living people gathered into block-local arrays
/// (structure of arrays); the draws of a block come from batched Philox (16 or 8 counters per instruction); each model's
/// e^±η (<see cref="CompiledModel"/>), the draw comparisons, the Poisson CDF inversions and the enrollment tests run
/// over whole <see cref="Vector{T}"/> lanes, branch-free. Only gathering the block and the write-back (state and sums, in
/// person order) are per person. Parallel over fixed 16,384-person chunks; each chunk sums into its own slot and slots
/// are added in chunk order, so results do not depend on thread scheduling. No allocation per person or block: the
/// block arrays are per worker and reused. An instance runs one replicate at a time (it keeps the enrollment draws).
/// </para>
/// <para>
/// This type schedules the year step over chunks and blocks; the outcome kernels are <see cref="OutcomePasses"/>, the
/// interventions' eligibility and effects <see cref="BlockEnrollment"/>, the per-person gather and write-back (with the
/// block's year totals) <see cref="CohortBlock"/>.
/// </para>
/// </summary>
public sealed class TwinSimulator
{
    /// <summary>Utilisation-only steps that give a drawn cohort its feature-year admissions, days, ED visits and cost.</summary>
    public const int BurnInSteps = 2;

    internal const int Block = 256;

    private const int ChunkSize = 16_384;

    private ModelSet _models;
    private readonly ConcurrentBag<StepScratch> _scratch = [];

    /// <summary>Enrollment draw of each person for intervention k, computed once per run (the year word is fixed).</summary>
    private double[][] _enrollment = [];

    /// <summary>Creates a simulator over a model set.</summary>
    public TwinSimulator(ModelSet models)
    {
        ArgumentNullException.ThrowIfNull(models);
        _models = models;
    }

    /// <summary>
    /// The model set the next run evaluates; a scenario replaces it per replicate with that replicate's drawn coefficients
    /// (same outcomes, so the scratch buffers stay valid).
    /// </summary>
    internal ModelSet Models
    {
        get => _models;
        set => _models = value ?? throw new ArgumentNullException(nameof(value));
    }

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
        DrawEnrollment(plan, work.Count, draws, maxDegreeOfParallelism);
        var chunks = (work.Count + ChunkSize - 1) / ChunkSize;
        var sums = new double[chunks * YearTotals.MetricCount];
        var result = new YearTotals[years];
        for (var t = 0; t < years; t++)
        {
            Array.Clear(sums);
            var year = t;
            ForChunks(work.Count, maxDegreeOfParallelism, (start, end, chunk, scratch) =>
                StepChunk(work, plan, year, (uint)year, draws, start, end, sums.AsSpan(chunk * YearTotals.MetricCount, YearTotals.MetricCount), scratch, burnIn: false));
            var totals = new YearTotals();
            for (var chunk = 0; chunk < chunks; chunk++)
            {
                for (var m = 0; m < YearTotals.MetricCount; m++)
                {
                    totals[(Metric)m] += sums[(chunk * YearTotals.MetricCount) + m];
                }
            }

            result[t] = totals;
            work.FeatureYear++;
        }

        return result;
    }

    /// <summary>
    /// The enrollment uniforms of every person for every intervention of the plan: slot EnrollmentBase + k of the block
    /// with year word <see cref="DrawStream.EnrollmentYear"/>, the same in every simulated year.
    /// </summary>
    private void DrawEnrollment(InterventionPlan plan, int count, DrawStream draws, int maxDegreeOfParallelism)
    {
        var groups = (plan.Count + 3) / 4;
        if (_enrollment.Length < groups * 4 || (_enrollment.Length > 0 && _enrollment[0].Length != count))
        {
            _enrollment = [.. Enumerable.Range(0, groups * 4).Select(_ => new double[count])];
        }

        var enrollment = _enrollment;
        ForChunks(count, maxDegreeOfParallelism, (start, end, _, s) =>
        {
            for (var from = start; from < end; from += Block)
            {
                var n = Math.Min(Block, end - from);
                for (var j = 0; j < n; j++)
                {
                    s.Person[j] = from + j;
                }

                for (var g = 0; g < groups; g++)
                {
                    var group = ((int)TwinOutcome.EnrollmentBase / 4) + g;
                    draws.Uniforms(s.Person.AsSpan(0, n), DrawStream.EnrollmentYear, group, enrollment[4 * g].AsSpan(from, n),
                        enrollment[(4 * g) + 1].AsSpan(from, n), enrollment[(4 * g) + 2].AsSpan(from, n), enrollment[(4 * g) + 3].AsSpan(from, n));
                }
            }
        });
    }

    /// <summary>
    /// Replaces the cohort's utilisation and cost by <see cref="BurnInSteps"/> utilisation-only steps (no deaths, onsets,
    /// ageing or interventions) with the cohort draw stream (seed, 0xFFFFFFFF) and years <see cref="DrawStream.BurnInYear"/> + k.
    /// </summary>
    internal void BurnIn(Cohort cohort, uint seed)
    {
        var draws = new DrawStream(seed, uint.MaxValue);
        var noPlan = new InterventionPlan([], 1);
        var dummy = new double[YearTotals.MetricCount];
        for (var k = 0; k < BurnInSteps; k++)
        {
            var yearWord = DrawStream.BurnInYear + (uint)k;
            ForChunks(cohort.Count, -1, (start, end, _, scratch) =>
                StepChunk(cohort, noPlan, 0, yearWord, draws, start, end, dummy, scratch, burnIn: true));
        }
    }

    private delegate void ChunkBody(int start, int end, int chunk, StepScratch scratch);

    private void ForChunks(int count, int maxDegreeOfParallelism, ChunkBody body)
    {
        var chunks = (count + ChunkSize - 1) / ChunkSize;
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.For(0, chunks, options,
            () => _scratch.TryTake(out var s) ? s : new StepScratch(),
            (chunk, _, scratch) =>
            {
                var start = chunk * ChunkSize;
                body(start, Math.Min(count, start + ChunkSize), chunk, scratch);
                return scratch;
            },
            _scratch.Add);
    }

    private void StepChunk(Cohort c, InterventionPlan plan, int t, uint yearWord, DrawStream draws, int start, int end, Span<double> sum, StepScratch s, bool burnIn)
    {
        var i = start;
        while (i < end)
        {
            i = CohortBlock.Gather(c, s, i, end);
            if (s.Count > 0)
            {
                StepBlock(c, plan, t, yearWord, draws, sum, s, burnIn);
            }
        }
    }

    private void StepBlock(Cohort c, InterventionPlan plan, int t, uint yearWord, DrawStream draws, Span<double> sum, StepScratch s, bool burnIn)
    {
        var m = _models;
        var featureYear = c.FeatureYear;
        var persons = s.Person.AsSpan(0, s.Padded);
        for (var g = 0; g < DrawStream.YearlyGroups; g++)
        {
            draws.Uniforms(persons, yearWord, g, s.U[4 * g], s.U[(4 * g) + 1], s.U[(4 * g) + 2], s.U[(4 * g) + 3]);
        }

        Evaluate(m.Admission, s, featureYear, s.AdmissionX);
        var effects = !burnIn && plan.Active[t].Length > 0 && BlockEnrollment.Enroll(plan, t, featureYear, _enrollment, m.Admission, s);
        AdmissionPass(s, effects, effects && plan.HasAdmissionOdds);
        DaysPass(m.InpatientDays, s, featureYear);
        EdPass(m.EdVisits, s, featureYear, effects);
        CostPass(m, s, featureYear, effects, effects && plan.HasCostMean);
        if (burnIn)
        {
            CohortBlock.WriteBackUtilisation(c, s);
            return;
        }

        DeathPass(m.Death, s, featureYear, effects);
        for (var k = 0; k < ChronicConditions.Count; k++)
        {
            OnsetPass(m.Onset[k], k, effects && plan.OnsetAffected[k] ? s.OnsetInvOr[k] : null, s, featureYear);
        }

        CohortBlock.WriteBack(c, s, sum, effects);
    }
}
