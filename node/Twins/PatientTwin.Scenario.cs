using FederatedTwin.Analytics.Glm;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Node.Twins;

/// <summary>The scenario side of the patient twin: each intervention's multipliers and eligibility test.</summary>
public sealed partial class PatientTwin
{
    /// <summary>An intervention's multipliers, multiplied as InterventionPlan does (product of the effects of each kind).</summary>
    private sealed class CompiledIntervention(TwinIntervention x, PatientModel? risk)
    {
        public TwinIntervention Intervention => x;
        public PatientModel? Risk => risk;
        public double AdmRr { get; } = Product(x, EffectOutcome.Admissions, null);
        public double AdmInvOr { get; } = 1 / Product(x, EffectOutcome.AdmissionOdds, null);
        public double EdRr { get; } = Product(x, EffectOutcome.EdVisits, null);
        public double DeathInvOr { get; } = 1 / Product(x, EffectOutcome.Death, null);
        public double OtherRr { get; } = Product(x, EffectOutcome.OtherCost, null);
        public double CostMeanRr { get; } = Product(x, EffectOutcome.CostMean, null);
        public double[] OnsetInvOr { get; } = [.. Enumerable.Range(0, ChronicConditions.Count).Select(k => 1 / Product(x, EffectOutcome.Onset, (ChronicCondition)k))];
        public double CostPerYear { get; } = x.CostPerEnrolleeMonth * 12;

        /// <summary>
        /// Eligibility as BlockEnrollment tests it (age within the band, the target condition recorded, the risk band's
        /// min ≤ risk &lt; max), on the patient's own features; coverage and the start year are ignored: "if this patient were
        /// enrolled" next year. A risk that cannot be computed (a missing value) makes the patient not eligible, and says so.
        /// </summary>
        public bool Eligible(ReadOnlySpan<double> row, Scratch s, List<string> missing)
        {
            if (x.TargetAge is { } band && (double.IsNaN(row[ColAge]) || !band.Contains((int)row[ColAge])))
            {
                return false;
            }

            if (x.TargetCondition is { } c && row[ColConditions[(int)c]] != 1)
            {
                return false;
            }

            if (risk is not null)
            {
                risk.Evaluate(row, s.X, out var eta, out _);
                if (double.IsNaN(eta))
                {
                    missing.Add("eligibility:" + x.Name);
                    return false;
                }

                // The twin's RiskOf: p for a binomial model, 1 − e^−μ for a Poisson one.
                var p = risk.Family == GlmFamily.Poisson ? -double.ExpM1(-Math.Exp(eta)) : 1 / (1 + Math.Exp(-eta));
                return p >= x.RiskLow && p < x.RiskHigh;
            }

            return true;
        }

        private static double Product(TwinIntervention x, EffectOutcome outcome, ChronicCondition? condition) =>
            x.Effects.Where(e => e.Outcome == outcome && (condition is null || e.Condition == condition)).Aggregate(1.0, (acc, e) => acc * e.Multiplier);
    }

    /// <summary>The multipliers acting on one patient: the products over the interventions it is eligible for, in their order.</summary>
    private readonly record struct Effects(double AdmRr, double AdmInvOr, double EdRr, double DeathInvOr, double OtherRr, double CostMeanRr, double[] OnsetInvOr, double ProgramCost)
    {
        private static readonly double[] Ones = [.. Enumerable.Repeat(1.0, ChronicConditions.Count)];

        public static Effects None { get; } = new(1, 1, 1, 1, 1, 1, Ones, 0);

        public Effects Then(CompiledIntervention x) => new(AdmRr * x.AdmRr, AdmInvOr * x.AdmInvOr, EdRr * x.EdRr, DeathInvOr * x.DeathInvOr, OtherRr * x.OtherRr,
            CostMeanRr * x.CostMeanRr, [.. OnsetInvOr.Select((v, k) => v * x.OnsetInvOr[k])], ProgramCost + x.CostPerYear);
    }
}
