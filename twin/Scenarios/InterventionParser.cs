using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;
using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>One entry of `interventions:` in a scenario file.</summary>
internal static class InterventionParser
{
    public static TwinIntervention Parse(YamlFields f, int scenarioStart, int scenarioHorizon, ModelSet models)
    {
        var name = f.String("name") ?? throw new ScenarioFileException(f.Field("name"), f.Line, "is required");
        var start = f.Int("start_year") ?? scenarioStart;
        ScenarioParser.Check(start >= scenarioStart && start < scenarioStart + scenarioHorizon, f, "start_year", $"must fall inside the scenario ({scenarioStart}..{scenarioStart + scenarioHorizon - 1})");
        var horizon = f.Int("horizon");
        ScenarioParser.Check(horizon is null or >= 1, f, "horizon", "must be at least 1 year");
        var cost = f.Double("cost_pmpm") ?? 0;
        ScenarioParser.Check(cost >= 0, f, "cost_pmpm", "must not be negative");

        var coverage = f.Sequence("coverage").Select((node, i) =>
        {
            var v = YamlFields.ParseDouble(node, f.Field($"coverage[{i}]"));
            return v is >= 0 and <= 1 ? v : throw new ScenarioFileException(f.Field($"coverage[{i}]"), node.Start.Line, $"{v} is not a fraction in [0, 1]");
        }).ToList();
        ScenarioParser.Check(coverage.Count > 0, f, "coverage", "give at least one coverage fraction (one per year of ramp-up)");

        ChronicCondition? condition = null;
        AgeBand? age = null;
        CompiledModel? riskModel = null;
        double riskLow = 0, riskHigh = 1;
        if (f.Node("target") is { } targetNode)
        {
            var t = new YamlFields(targetNode, f.Field("target"));
            if (t.String("condition") is { } c)
            {
                condition = ChronicConditions.TryParse(c, out var parsed) ? parsed
                    : throw new ScenarioFileException(t.Field("condition"), t.Node("condition")!.Start.Line, $"unknown condition '{c}'; known: {string.Join(", ", ChronicConditions.All)}");
            }

            var ages = t.Sequence("age");
            if (ages.Count > 0)
            {
                ScenarioParser.Check(ages.Count == 2, t, "age", "give [low, high] in years");
                var low = (int)YamlFields.ParseDouble(ages[0], t.Field("age[0]"));
                var high = (int)YamlFields.ParseDouble(ages[1], t.Field("age[1]"));
                ScenarioParser.Check(low <= high && low >= 0, t, "age", "low must be >= 0 and <= high");
                age = new AgeBand(low, high);
            }

            if (t.Node("risk") is { } riskNode)
            {
                var r = new YamlFields(riskNode, t.Field("risk"));
                var id = r.String("model") ?? throw new ScenarioFileException(r.Field("model"), r.Line, "is required");
                try
                {
                    riskModel = models.RiskModel(id);
                }
                catch (ModelSetException e)
                {
                    throw new ScenarioFileException(r.Field("model"), r.Node("model")!.Start.Line, e.Message);
                }

                riskLow = r.Double("min") ?? 0;
                riskHigh = r.Double("max") ?? 1;
                ScenarioParser.Check(riskLow is >= 0 and <= 1 && riskHigh is >= 0 and <= 1 && riskLow < riskHigh, r, "max", "risk band needs 0 <= min < max <= 1");
                r.RejectUnknown();
            }

            t.RejectUnknown();
        }

        var effects = f.Sequence("effects").Select((node, i) => ParseEffect(new YamlFields(node, f.Field($"effects[{i}]")), models)).ToList();
        ScenarioParser.Check(effects.Count > 0, f, "effects", "give at least one effect");
        f.String("source"); // free-text citation; kept in the file for the reader
        f.RejectUnknown();
        return new TwinIntervention(name, condition, age, riskModel, riskLow, riskHigh, coverage, effects, cost, start - scenarioStart, horizon);
    }

    private static InterventionEffect ParseEffect(YamlFields e, ModelSet models)
    {
        var outcomeNode = e.Required("outcome");
        var outcome = YamlFields.Scalar(outcomeNode, e.Field("outcome"));
        var (rr, rrInterval) = Ratio(e, "relative_risk");
        var (or, orInterval) = Ratio(e, "odds_ratio");
        var shiftNode = e.Node("risk_factor_shift");
        e.String("source");
        e.RejectUnknown();
        if ((rr is null ? 0 : 1) + (or is null ? 0 : 1) + (shiftNode is null ? 0 : 1) != 1)
        {
            throw new ScenarioFileException(e.Field("relative_risk"), e.Line, "give exactly one of relative_risk, odds_ratio or risk_factor_shift");
        }

        if (shiftNode is not null)
        {
            return ParseShift(new YamlFields(shiftNode, e.Field("risk_factor_shift")), outcome, outcomeNode.Start.Line, e.Field("outcome"), models);
        }

        var multiplier = rr ?? or!.Value;
        if (multiplier <= 0)
        {
            throw new ScenarioFileException(e.Field(rr is null ? "odds_ratio" : "relative_risk"), e.Line, "must be positive");
        }

        // Rates (admissions, ED visits, other cost) take relative risks; probabilities (death, onset) take odds ratios.
        (EffectOutcome Outcome, bool Odds, ChronicCondition? Condition) parsed = outcome switch
        {
            "admissions" => (EffectOutcome.Admissions, false, null),
            "ed_visits" => (EffectOutcome.EdVisits, false, null),
            "other_cost" => (EffectOutcome.OtherCost, false, null),
            "death" => (EffectOutcome.Death, true, null),
            "cost" => throw new ScenarioFileException(e.Field("outcome"), outcomeNode.Start.Line,
                "'cost' (the cost model's mean) takes only a risk_factor_shift; a relative risk on the cost not explained by utilisation is 'other_cost'"),
            _ when outcome.StartsWith("onset:", StringComparison.Ordinal) && ChronicConditions.TryParse(outcome[6..], out var c) => (EffectOutcome.Onset, true, c),
            _ => throw new ScenarioFileException(e.Field("outcome"), outcomeNode.Start.Line,
                $"unknown outcome '{outcome}'; known: admissions, ed_visits, other_cost, death, onset:<condition> with <condition> one of {string.Join(", ", ChronicConditions.All)}"),
        };
        if (parsed.Odds && or is null)
        {
            throw new ScenarioFileException(e.Field("relative_risk"), e.Line, $"{outcome} is a probability model: give odds_ratio");
        }

        if (!parsed.Odds && rr is null)
        {
            throw new ScenarioFileException(e.Field("odds_ratio"), e.Line, $"{outcome} is a rate model: give relative_risk");
        }

        return new InterventionEffect(parsed.Outcome, multiplier, parsed.Condition) { Interval = rrInterval ?? orInterval };
    }

    /// <summary>
    /// A ratio given as a number or as <c>{estimate: 0.8, ci95: [0.65, 0.98]}</c> (a published estimate with its 95%
    /// interval, read as log-normal; see <see cref="EffectInterval"/>).
    /// </summary>
    private static (double? Value, EffectInterval? Interval) Ratio(YamlFields e, string key)
    {
        if (e.Node(key) is not YamlMappingNode)
        {
            return (e.Double(key), null);
        }

        var (estimate, low, high) = Interval(e, key);
        var m = new YamlFields(e.Node(key)!, e.Field(key));
        ScenarioParser.Check(low > 0, m, "ci95", "a ratio's interval must be positive");
        return (estimate, new EffectInterval(estimate, low, high));
    }

    /// <summary><c>{estimate, ci95: [low, high]}</c> with low &lt;= estimate &lt;= high.</summary>
    private static (double Estimate, double Low, double High) Interval(YamlFields e, string key)
    {
        var m = new YamlFields(e.Node(key)!, e.Field(key));
        var estimate = m.Double("estimate") ?? throw new ScenarioFileException(m.Field("estimate"), m.Line, "is required (the point estimate)");
        var ci = m.Sequence("ci95");
        ScenarioParser.Check(ci.Count == 2, m, "ci95", "give the 95% interval as [low, high]");
        var low = YamlFields.ParseDouble(ci[0], m.Field("ci95[0]"));
        var high = YamlFields.ParseDouble(ci[1], m.Field("ci95[1]"));
        ScenarioParser.Check(low <= estimate && estimate <= high, m, "ci95", $"[{low}, {high}] must contain the estimate {estimate}");
        m.RejectUnknown();
        return (estimate, low, high);
    }

    /// <summary>
    /// <c>risk_factor_shift: {factor, delta, model}</c>: the effect is exp(beta x delta) with beta the named registry model's
    /// coefficient of <c>factor</c>, applied to the odds (binomial: admissions as P(any admission), death, onset:&lt;c&gt;) or
    /// the mean (poisson, log link: ed_visits, cost) of the twin's model for the same outcome column.
    /// </summary>
    private static InterventionEffect ParseShift(YamlFields f, string outcome, long outcomeLine, string outcomeField, ModelSet models)
    {
        var factor = f.String("factor") ?? throw new ScenarioFileException(f.Field("factor"), f.Line, "is required (the model term shifted, e.g. hba1c or sbp)");
        var deltaSd = 0.0;
        double delta;
        if (f.Node("delta") is YamlMappingNode)
        {
            // A shift with its 95% interval: normal, sd = (high − low)/(2·1.96).
            var (estimate, low, high) = Interval(f, "delta");
            delta = estimate;
            deltaSd = (high - low) / (2 * EffectInterval.Z975);
        }
        else
        {
            delta = f.Double("delta") ?? throw new ScenarioFileException(f.Field("delta"), f.Line, "is required (the shift on the factor's own scale, e.g. -0.5)");
        }

        ScenarioParser.Check(double.IsFinite(delta), f, "delta", "must be a finite number");
        var id = f.String("model") ?? throw new ScenarioFileException(f.Field("model"), f.Line,
            "is required: the registry id of a model of this outcome that has the factor as a term (its coefficient gives the effect)");
        f.RejectUnknown();
        var modelLine = f.Node("model")!.Start.Line;

        (EffectOutcome Outcome, string Column, GlmFamily Family, ChronicCondition? Condition) target = outcome switch
        {
            "admissions" => (EffectOutcome.AdmissionOdds, "admission_next_year", GlmFamily.Binomial, null),
            "ed_visits" => (EffectOutcome.EdVisits, "ed_visits_next_year", GlmFamily.Poisson, null),
            "cost" => (EffectOutcome.CostMean, "cost_next_year", GlmFamily.Poisson, null),
            "death" => (EffectOutcome.Death, "death_next_year", GlmFamily.Binomial, null),
            _ when outcome.StartsWith("onset:", StringComparison.Ordinal) && ChronicConditions.TryParse(outcome[6..], out var c) =>
                (EffectOutcome.Onset, $"onset_{outcome[6..]}_next_year", GlmFamily.Binomial, c),
            _ => throw new ScenarioFileException(outcomeField, outcomeLine,
                $"a risk_factor_shift acts on admissions, ed_visits, cost, death or onset:<condition>, not '{outcome}'"),
        };

        var model = models.FindRegistered(id) ?? throw new ScenarioFileException(f.Field("model"), modelLine,
            $"no model with id '{id}' in registry {models.Source}; known: {string.Join(", ", models.RegisteredIds)}");
        if (model.Outcome != target.Column)
        {
            throw new ScenarioFileException(f.Field("model"), modelLine, $"model {id} predicts {model.Outcome}; the {outcome} effect needs a model of {target.Column}");
        }

        if (model.Family != target.Family)
        {
            throw new ScenarioFileException(f.Field("model"), modelLine, model.Family == GlmFamily.Gaussian
                ? $"model {id} is gaussian (identity link): a shift moves its mean by beta x delta in the outcome's units, not by a factor; the twin applies effects as factors, so it needs a {target.Family.ToString().ToLowerInvariant()} model"
                : $"model {id} is {model.Family.ToString().ToLowerInvariant()}; the {outcome} effect needs a {target.Family.ToString().ToLowerInvariant()} model of {target.Column}");
        }

        if (factor == ModelTerm.Intercept || !model.Terms.Any(t => t.Name == factor))
        {
            throw new ScenarioFileException(f.Field("factor"), f.Node("factor")!.Start.Line,
                $"model {id} has no term '{factor}'; its terms: {string.Join(", ", model.Terms.Where(t => t.Name != ModelTerm.Intercept).Select(t => t.Name))}");
        }

        if (TwinFeatures.Simulated.Contains(factor) || TwinFeatures.AgeBandIndicators.Contains(factor))
        {
            throw new ScenarioFileException(f.Field("factor"), f.Node("factor")!.Start.Line,
                $"'{factor}' is a feature the twin simulates; a shift applies to risk factors it does not simulate (e.g. hba1c, sbp, dbp)");
        }

        var term = model.Terms.First(t => t.Name == factor);
        var beta = term.Coefficient;
        var multiplier = Math.Exp(beta * delta);
        if (!double.IsFinite(multiplier) || multiplier <= 0)
        {
            throw new ScenarioFileException(f.Field("delta"), f.Node("delta")!.Start.Line, $"exp({beta} x {delta}) is not a usable factor");
        }

        return new InterventionEffect(target.Outcome, multiplier, target.Condition, new RiskFactorShift(factor, delta, id, beta, outcome) { DeltaSd = deltaSd, CoefficientSd = term.StdError ?? 0 });
    }
}
