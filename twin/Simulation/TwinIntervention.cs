namespace FederatedTwin.Twin.Simulation;

/// <summary>Outcomes an intervention may act on.</summary>
public enum EffectOutcome
{
    /// <summary>Inpatient admissions (relative risk on the Poisson admission rate).</summary>
    Admissions,
    /// <summary>ED visits (relative risk on the rate).</summary>
    EdVisits,
    /// <summary>Death (odds ratio on the annual probability).</summary>
    Death,
    /// <summary>The cost not explained by admissions, bed-days and ED visits at unit prices (relative change of its mean).</summary>
    OtherCost,
    /// <summary>Onset of one condition (odds ratio); the condition is named in <see cref="InterventionEffect.Condition"/>.</summary>
    Onset,
    /// <summary>
    /// Odds ratio on P(any admission next year), from a risk-factor shift on the binomial admission model's linear
    /// predictor (the admission count's rate becomes ln(1 + OR e^eta)); a relative risk is <see cref="Admissions"/>.
    /// </summary>
    AdmissionOdds,
    /// <summary>Relative change of the cost model's expected total mu_C, from a risk-factor shift on a log-link cost model.</summary>
    CostMean,
}

/// <summary>
/// A shift of a risk factor the twin does not simulate (e.g. HbA1c -0.5 percentage points), acting through the
/// coefficient of a named registry model that has that term: for a GLM linear in the factor, moving it by
/// <paramref name="Delta"/> moves every person's linear predictor by <paramref name="Coefficient"/> x Delta whatever their
/// own value, so the effect is the factor exp(beta x Delta) on the odds (binomial) or the mean (poisson, log link).
/// </summary>
/// <param name="Factor">Model term shifted (a feature column the twin does not simulate).</param>
/// <param name="Delta">Shift on the column's own scale (e.g. -0.5 for HbA1c in %, -5 for systolic BP in mmHg).</param>
/// <param name="ModelId">Registry id of the model whose coefficient is used.</param>
/// <param name="Coefficient">That model's coefficient of <paramref name="Factor"/>.</param>
/// <param name="Outcome">The scenario file's outcome name (admissions, ed_visits, cost, death, onset:&lt;condition&gt;).</param>
public sealed record RiskFactorShift(string Factor, double Delta, string ModelId, double Coefficient, string Outcome)
{
    /// <summary>Standard deviation of <see cref="Delta"/> from a stated 95% interval (normal: (high − low)/(2·1.96)); 0 for a point value.</summary>
    public double DeltaSd { get; init; }

    /// <summary>The named model's standard error of <see cref="Coefficient"/> (0 when the model was not fitted).</summary>
    public double CoefficientSd { get; init; }
}

/// <summary>
/// A multiplicative effect stated with its 95% interval, e.g. <c>{estimate: 0.8, ci95: [0.65, 0.98]}</c>: the usual
/// log-normal reading of a published ratio and its interval, log m ~ N(log estimate, ((log high − log low)/(2·1.96))²).
/// An asymmetric interval (on the log scale) keeps the estimate as the centre and takes the average half-width.
/// </summary>
public sealed record EffectInterval(double Estimate, double Low, double High)
{
    /// <summary>Φ⁻¹(0.975), the half-width of a 95% interval in standard deviations.</summary>
    public const double Z975 = 1.959963984540054;

    /// <summary>Standard deviation of log m.</summary>
    public double LogSd => (Math.Log(High) - Math.Log(Low)) / (2 * Z975);
}

/// <summary>
/// One effect: a multiplier on a rate (relative risk) or on the odds (odds ratio) of an outcome; for a risk-factor shift,
/// the multiplier is exp(beta x Delta) and <paramref name="Shift"/> says where it came from.
/// </summary>
public sealed record InterventionEffect(EffectOutcome Outcome, double Multiplier, ChronicCondition? Condition = null, RiskFactorShift? Shift = null)
{
    /// <summary>The stated 95% interval of <see cref="Multiplier"/> (its estimate), or null for a point value.</summary>
    public EffectInterval? Interval { get; init; }

    /// <summary>True when a replicate draws this effect: a stated interval, or a shift with an uncertain delta or coefficient.</summary>
    public bool Uncertain => Interval is { } i ? i.LogSd > 0 : Shift is { } s && (s.DeltaSd > 0 || s.CoefficientSd > 0);
}

/// <summary>
/// An intervention ready for the yearly step: who is eligible (condition, age band, risk band of a named model),
/// coverage by simulation year (ramp-up), effects, and cost per enrollee per month. Eligibility is tested on the
/// person's features (conditions and age at the end of the year before the simulated one).
/// </summary>
public sealed record TwinIntervention(
    string Name,
    ChronicCondition? TargetCondition,
    AgeBand? TargetAge,
    CompiledModel? RiskModel,
    double RiskLow,
    double RiskHigh,
    IReadOnlyList<double> CoverageByYear,
    IReadOnlyList<InterventionEffect> Effects,
    double CostPerEnrolleeMonth,
    int StartYearIndex,
    int? HorizonYears = null)
{
    /// <summary>The same intervention with every effect multiplier set to 1 (used by the zero-effect property).</summary>
    public TwinIntervention WithNoEffect() => this with
    {
        Effects = [.. Effects.Select(e => e with { Multiplier = 1.0, Interval = null, Shift = e.Shift is { } s ? s with { DeltaSd = 0, CoefficientSd = 0 } : null })],
    };

    /// <summary>The same intervention with every risk-factor shift's Delta multiplied by <paramref name="scale"/> (0 = no shift).</summary>
    public TwinIntervention WithShiftScaled(double scale) => this with
    {
        Effects = [.. Effects.Select(e => e.Shift is { } shift
            ? e with { Multiplier = Math.Exp(shift.Coefficient * (shift.Delta * scale)), Shift = shift with { Delta = shift.Delta * scale, DeltaSd = shift.DeltaSd * Math.Abs(scale) } }
            : e)],
    };

    /// <summary>Coverage in simulation year t (0 before the start year and after the horizon; last value carried forward).</summary>
    public double Coverage(int t) => t < StartYearIndex || CoverageByYear.Count == 0 || (HorizonYears is { } h && t >= StartYearIndex + h)
        ? 0
        : CoverageByYear[Math.Min(t - StartYearIndex, CoverageByYear.Count - 1)];
}
