using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using FederatedTwin.Twin.RandomStreams;

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
/// </summary>
public sealed class TwinSimulator
{
    /// <summary>Utilisation-only steps that give a drawn cohort its feature-year admissions, days, ED visits and cost.</summary>
    public const int BurnInSteps = 2;

    internal const int Block = 256;

    private const int ChunkSize = 16_384;

    /// <summary>Counts above this mean per person-year are treated as this mean (a year has 365 days).</summary>
    private const double MaxCountMean = 365;

    /// <summary>
    /// Guard on a cost model's mean, USD per person-year. ASSUMPTION: far above any real annual cost, it only stops a
    /// model whose prior-cost term feeds back without bound (a log-link model with a linear cost term) from overflowing.
    /// </summary>
    internal const double MaxCostMean = 10_000_000;

    private readonly ModelSet _models;
    private readonly ConcurrentBag<StepScratch> _scratch = [];

    /// <summary>Enrollment draw of each person for intervention k, computed once per run (the year word is fixed).</summary>
    private double[][] _enrollment = [];

    /// <summary>Creates a simulator over a model set.</summary>
    public TwinSimulator(ModelSet models)
    {
        ArgumentNullException.ThrowIfNull(models);
        _models = models;
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
            i = Gather(c, s, i, end);
            if (s.Count > 0)
            {
                StepBlock(c, plan, t, yearWord, draws, sum, s, burnIn);
            }
        }
    }

    /// <summary>Collects up to <see cref="Block"/> living people from <paramref name="i"/> into the block arrays; returns where it stopped.</summary>
    private static int Gather(Cohort c, StepScratch s, int i, int end)
    {
        var n = 0;
        for (; i < end && n < Block; i++)
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
        var effects = !burnIn && plan.Active[t].Length > 0 && Enroll(plan, t, featureYear, _enrollment, m.Admission, s);
        AdmissionPass(s, effects, effects && plan.HasAdmissionOdds);
        DaysPass(m.InpatientDays, s, featureYear);
        EdPass(m.EdVisits, s, featureYear, effects);
        CostPass(m, s, featureYear, effects, effects && plan.HasCostMean);
        if (burnIn)
        {
            WriteBackUtilisation(c, s);
            return;
        }

        DeathPass(m.Death, s, featureYear, effects);
        for (var k = 0; k < ChronicConditions.Count; k++)
        {
            OnsetPass(m.Onset[k], k, effects && plan.OnsetAffected[k] ? s.OnsetInvOr[k] : null, s, featureYear);
        }

        WriteBack(c, s, sum, effects);
    }

    /// <summary>
    /// Admissions. The binomial model gives p = P(any admission next year) = 1/(1 + x), x = e^-eta. The count is
    /// Poisson with the rate whose P(N >= 1) is p: lambda0 = -ln(1 - p) = ln(1 + 1/x), so P(N = 0) = x/(1 + x). An
    /// enrolled person's rate is RR * lambda0 and P(N = 0) = e^(-RR lambda0); lanes with RR = 1 keep x/(1 + x) exactly.
    /// A risk-factor shift multiplies the odds by OR = e^(beta Delta): x' = x/OR, rate ln(1 + 1/x') (times any RR), and
    /// lanes with 1/OR = 1 keep lambda0 exactly. <c>Lambda0</c> stays the baseline rate: the length of stay (days pass) and
    /// the expected facility cost (cost pass) are the baseline's, so a prevented admission takes its own days with it.
    /// </summary>
    private static void AdmissionPass(StepScratch s, bool effects, bool odds)
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
    private static void DaysPass(CompiledModel model, StepScratch s, int featureYear)
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
    private static void EdPass(CompiledModel model, StepScratch s, int featureYear, bool effects)
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
    private static void DeathPass(CompiledModel model, StepScratch s, int featureYear, bool effects)
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
    private static void OnsetPass(CompiledModel model, int k, double[]? invOr, StepScratch s, int featureYear)
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
    private static void CostPass(ModelSet m, StepScratch s, int featureYear, bool effects, bool meanShift)
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

    /// <summary>Enrollment, eligibility and the per-person effect multipliers; false if nobody in the block is enrolled.</summary>
    private static bool Enroll(InterventionPlan plan, int t, int featureYear, double[][] enrollment, CompiledModel admission, StepScratch s)
    {
        int n = s.Count, np = s.Padded;
        var active = plan.Active[t];
        foreach (var k in active)
        {
            if (plan.RiskModel[k] is { } model)
            {
                // A band on the admission model (the usual case) reuses the block's evaluation of it: same registered
                // model, same tables, same arithmetic, so the same values.
                var x = s.RiskX;
                if (ReferenceEquals(model.Model, admission.Model))
                {
                    x = s.AdmissionX;
                }
                else
                {
                    Evaluate(model, s, featureYear, x);
                }

                var risk = s.Risk[k];
                for (var j = 0; j < np; j += Vector<double>.Count)
                {
                    Store(model.RiskOf(Load(x, j)), risk, j);
                }
            }
        }

        for (var c = 0; c < ChronicConditions.Count; c++)
        {
            if (plan.OnsetAffected[c])
            {
                s.OnsetInvOr[c].AsSpan(0, np).Fill(1);
            }
        }

        // Each active intervention's enrollment draw for the block's people (padding lanes get 1: never below coverage).
        foreach (var k in active)
        {
            var all = enrollment[k];
            var draw = s.EnrollU[k];
            for (var j = 0; j < n; j++)
            {
                draw[j] = all[s.Person[j]];
            }

            draw.AsSpan(n, np - n).Fill(1);
        }

        // Eligibility and enrollment as lane masks, effects multiplied in intervention order (branch-free).
        var terms = plan.ActiveTerms[t];
        var anyOnset = plan.OnsetAffected.Contains(true);
        var odds = plan.HasAdmissionOdds;
        var meanShift = plan.HasCostMean;
        var any = Vector<long>.Zero;
        for (var j = 0; j < np; j += Vector<double>.Count)
        {
            var mask = Load(s.Mask, j);
            var age = Load(s.AgeD, j);
            Vector<double> adm = Vector<double>.One, ed = Vector<double>.One, death = Vector<double>.One, other = Vector<double>.One;
            Vector<double> admOdds = Vector<double>.One, costMean = Vector<double>.One;
            var cost = Vector<double>.Zero;
            var enrolled = Vector<long>.Zero;
            foreach (var x in terms)
            {
                var ok = Vector.GreaterThanOrEqual(age, new Vector<double>(x.AgeLow)) & Vector.LessThanOrEqual(age, new Vector<double>(x.AgeHigh))
                    & Vector.LessThan(Load(s.EnrollU[x.K], j), new Vector<double>(x.Coverage));
                if (x.ConditionMask != 0)
                {
                    ok = Vector.AndNot(ok, Vector.Equals(mask & new Vector<long>(x.ConditionMask), Vector<long>.Zero));
                }

                if (x.HasRisk)
                {
                    var risk = Load(s.Risk[x.K], j);
                    ok &= Vector.GreaterThanOrEqual(risk, new Vector<double>(x.RiskLow)) & Vector.LessThan(risk, new Vector<double>(x.RiskHigh));
                }

                enrolled |= ok;
                cost += Vector.AsVectorDouble(ok) & new Vector<double>(x.CostPerYear);
                adm = Vector.ConditionalSelect(ok, adm * new Vector<double>(x.AdmissionRr), adm);
                ed = Vector.ConditionalSelect(ok, ed * new Vector<double>(x.EdRr), ed);
                death = Vector.ConditionalSelect(ok, death * new Vector<double>(x.DeathInvOr), death);
                other = Vector.ConditionalSelect(ok, other * new Vector<double>(x.OtherCostRr), other);
                if (odds)
                {
                    admOdds = Vector.ConditionalSelect(ok, admOdds * new Vector<double>(x.AdmissionInvOr), admOdds);
                }

                if (meanShift)
                {
                    costMean = Vector.ConditionalSelect(ok, costMean * new Vector<double>(x.CostMeanRr), costMean);
                }
                if (anyOnset)
                {
                    for (var c = 0; c < ChronicConditions.Count; c++)
                    {
                        if (plan.OnsetAffected[c])
                        {
                            var onset = Load(s.OnsetInvOr[c], j);
                            Store(Vector.ConditionalSelect(ok, onset * new Vector<double>(plan.OnsetInvOr[x.K][c]), onset), s.OnsetInvOr[c], j);
                        }
                    }
                }
            }

            Store(adm, s.AdmissionMul, j);
            Store(ed, s.EdMul, j);
            Store(death, s.DeathInvOr, j);
            Store(other, s.CostMul, j);
            if (odds)
            {
                Store(admOdds, s.AdmissionInvOr, j);
            }

            if (meanShift)
            {
                Store(costMean, s.CostMeanMul, j);
            }
            Store(cost, s.InterventionCost, j);
            Store(enrolled, s.Enrolled, j);
            any |= enrolled;
        }

        return !Vector.EqualsAll(any, Vector<long>.Zero);
    }

    private static void WriteBack(Cohort c, StepScratch s, Span<double> sum, bool effects)
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

    private static void WriteBackUtilisation(Cohort c, StepScratch s)
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

    /// <summary>
    /// The table part of each person's η (additive models) or e^±η (the others): intercept, age, sex, Medicare,
    /// conditions, condition count and year, into <see cref="StepScratch.Eta"/>.
    /// </summary>
    private static void Part(CompiledModel model, StepScratch s, int featureYear)
    {
        var np = s.Padded;
        ReadOnlySpan<double> ageSex = model.AgeSexTable;
        ReadOnlySpan<double> masks = model.MaskTable;
        var eta = s.Eta.AsSpan(0, np);
        ReadOnlySpan<int> index = s.AgeSex.AsSpan(0, np);
        ReadOnlySpan<long> mask = s.Mask.AsSpan(0, np);
        if (model.Additive)
        {
            var year = model.HasYear ? model.YearFactor(featureYear) : 0;
            for (var j = 0; j < eta.Length && j < index.Length && j < mask.Length; j++)
            {
                eta[j] = ageSex[index[j]] + masks[(int)mask[j]] + year;
            }
        }
        else if (model.HasYear)
        {
            var year = model.YearFactor(featureYear);
            for (var j = 0; j < eta.Length && j < index.Length && j < mask.Length; j++)
            {
                eta[j] = ageSex[index[j]] * masks[(int)mask[j]] * year;
            }
        }
        else
        {
            for (var j = 0; j < eta.Length && j < index.Length && j < mask.Length; j++)
            {
                eta[j] = ageSex[index[j]] * masks[(int)mask[j]];
            }
        }
    }

    /// <summary>Completes η or e^±η for lanes j.. from the table part and the block's utilisation features.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> CompleteAt(CompiledModel model, bool utilisation, StepScratch s, int j) => utilisation
        ? model.Complete(Load(s.Eta, j), Load(s.Admissions, j), Load(s.Days, j), Load(s.Ed, j), Load(s.Cost, j))
        : Load(s.Eta, j);

    /// <summary>A count model's mean on the response scale (e^eta or eta), clamped to [0, 365].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> ClampedMean(Vector<double> mean) =>
        Vector.MinNative(Vector.MaxNative(mean, Vector<double>.Zero), new Vector<double>(MaxCountMean));

    /// <summary>e^±η (or η for additive models) of every person in the block into <paramref name="into"/>.</summary>
    private static void Evaluate(CompiledModel model, StepScratch s, int featureYear, double[] into)
    {
        var util = model.HasUtilisation;
        Part(model, s, featureYear);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            Store(CompleteAt(model, util, s, j), into, j);
        }
    }

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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> Load<T>(T[] a, int j) => Vector.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(a), (nuint)j);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector<T> v, T[] a, int j) => v.StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(a), (nuint)j);
}

/// <summary>Block-local arrays of one worker (reused across blocks, chunks, years and runs).</summary>
internal sealed class StepScratch
{
    /// <summary>Blocks are padded to a multiple of this (the widest Philox batch, 16, and any Vector width up to 16 doubles).</summary>
    public static readonly int Pad = Math.Max(16, Vector<double>.Count);

    private const int B = TwinSimulator.Block;

    public int Count { get; set; }
    public int Padded { get; set; }

    public int[] Person { get; } = new int[B];
    public int[] Age { get; } = new int[B];
    public int[] AgeSex { get; } = new int[B];
    public long[] Mask { get; } = new long[B];
    public double[] Admissions { get; } = new double[B];
    public double[] Days { get; } = new double[B];
    public double[] Ed { get; } = new double[B];
    public double[] Cost { get; } = new double[B];

    /// <summary>Draws of the 16 yearly outcomes, indexed by <see cref="TwinOutcome"/>.</summary>
    public double[][] U { get; } = [.. Enumerable.Range(0, 16).Select(_ => new double[B])];
    /// <summary>Predicted risk of each intervention's risk model.</summary>
    public double[][] Risk { get; } = [.. Enumerable.Range(0, 16).Select(_ => new double[B])];

    public double[] Eta { get; } = new double[B];
    public double[] AdmissionX { get; } = new double[B];
    public double[] RiskX { get; } = new double[B];
    public double[] LambdaDays { get; } = new double[B];
    public double[] P0Days { get; } = new double[B];
    public double[] Lambda0 { get; } = new double[B];
    public double[] Lambda { get; } = new double[B];
    public double[] P0 { get; } = new double[B];
    public double[] MeanDays { get; } = new double[B];
    public double[] MeanEd { get; } = new double[B];
    public double[] LambdaEd { get; } = new double[B];
    public double[] P0Ed { get; } = new double[B];
    public double[] N { get; } = new double[B];
    public double[] D { get; } = new double[B];
    public double[] E { get; } = new double[B];
    public double[] NewCost { get; } = new double[B];
    public long[] Died { get; } = new long[B];
    public long[] NewBits { get; } = new long[B];

    public double[] AdmissionMul { get; } = new double[B];
    public double[] EdMul { get; } = new double[B];
    public double[] DeathInvOr { get; } = new double[B];
    public double[] CostMul { get; } = new double[B];
    public double[] AdmissionInvOr { get; } = new double[B];
    public double[] CostMeanMul { get; } = new double[B];
    public double[][] OnsetInvOr { get; } = [.. Enumerable.Range(0, ChronicConditions.Count).Select(_ => new double[B])];
    /// <summary>Enrollment draws of the block's people, indexed by intervention.</summary>
    public double[][] EnrollU { get; } = [.. Enumerable.Range(0, 16).Select(_ => new double[B])];
    /// <summary>All bits set for people enrolled in at least one intervention.</summary>
    public long[] Enrolled { get; } = new long[B];
    public double[] AgeD { get; } = new double[B];
    public double[] InterventionCost { get; } = new double[B];
}
