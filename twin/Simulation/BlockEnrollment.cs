using System.Numerics;
using static FederatedTwin.Twin.Simulation.BlockLanes;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// Applies a scenario's interventions to a block: who is eligible and enrolled in each active intervention, and the
/// per-person effect multipliers the outcome kernels use (<see cref="OutcomePasses"/>).
/// </summary>
internal static class BlockEnrollment
{
    /// <summary>Enrollment, eligibility and the per-person effect multipliers; false if nobody in the block is enrolled.</summary>
    public static bool Enroll(InterventionPlan plan, int t, int featureYear, double[][] enrollment, CompiledModel admission, StepScratch s)
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
}
