using FederatedTwin.Scenarios.Twin;
using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Scenarios.Scenarios;

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

        var effects = f.Sequence("effects").Select((node, i) => ParseEffect(new YamlFields(node, f.Field($"effects[{i}]")))).ToList();
        ScenarioParser.Check(effects.Count > 0, f, "effects", "give at least one effect");
        f.String("source"); // free-text citation; kept in the file for the reader
        f.RejectUnknown();
        return new TwinIntervention(name, condition, age, riskModel, riskLow, riskHigh, coverage, effects, cost, start - scenarioStart, horizon);
    }

    private static InterventionEffect ParseEffect(YamlFields e)
    {
        var outcomeNode = e.Required("outcome");
        var outcome = YamlFields.Scalar(outcomeNode, e.Field("outcome"));
        var rr = e.Double("relative_risk");
        var or = e.Double("odds_ratio");
        if (e.Node("risk_factor_shift") is { } shift)
        {
            throw new ScenarioFileException(e.Field("risk_factor_shift"), shift.Start.Line, "risk-factor shifts are not implemented yet (docs/scenarios.md)");
        }

        e.String("source");
        e.RejectUnknown();
        if ((rr is null) == (or is null))
        {
            throw new ScenarioFileException(e.Field("relative_risk"), e.Line, "give exactly one of relative_risk or odds_ratio");
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

        return new InterventionEffect(parsed.Outcome, multiplier, parsed.Condition);
    }
}
