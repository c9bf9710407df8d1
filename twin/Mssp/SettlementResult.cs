namespace FederatedTwin.Twin.Mssp;

/// <summary>One rule applied in a settlement and the CFR section behind it.</summary>
/// <param name="Quantity">The output quantity the rule determined (msr, sharing_rate, ...).</param>
/// <param name="Rule">What was applied, in words.</param>
/// <param name="Section">The regulation section.</param>
public sealed record AppliedRule(string Quantity, string Rule, string Section);

/// <summary>Every intermediate quantity of one performance-year settlement, in dollars and fractions.</summary>
/// <remarks>
/// <see cref="SharedSavings"/> is the payment (after the year's sequestration, <see cref="PaymentAfterSequestration"/>);
/// <see cref="SharedLosses"/> what the ACO owes after the extreme and uncontrollable circumstances reduction
/// (<see cref="LossReduction"/>). <see cref="RulesOfYear"/> is the rule set applied (the latest known for a later simulated year).
/// </remarks>
public sealed record SettlementResult(
    string Track,
    int Assigned,
    decimal BenchmarkTotal,
    decimal ExpenditureTotal,
    decimal GrossSavings,
    decimal SavingsRate,
    decimal Msr,
    decimal? Mlr,
    decimal SharingRate,
    decimal? LossRate,
    decimal SharedSavings,
    decimal SharedLosses,
    bool CapApplied,
    string Outcome,
    IReadOnlyList<AppliedRule> Rules,
    int PerformanceYear = PerformanceYearRules.Latest,
    int RulesOfYear = PerformanceYearRules.Latest,
    decimal PaymentAfterSequestration = 1m,
    decimal LossReduction = 0m);
