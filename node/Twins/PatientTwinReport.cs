using System.Globalization;
using System.Text.Json;

namespace FederatedTwin.Node.Twins;

/// <summary>A model as `ftwin node twin patients` lists it: from the node's signed registry listing, and whether the twin used it.</summary>
public sealed record PatientTwinModelEntry(string Id, string? Version, string Outcome, string StudyId, string? Release, bool Released, bool Used, string? Reason);

/// <summary>The patient twin's output: the ranked worklist as one JSON object or a CSV table (format in docs/twins.md).</summary>
public static class PatientTwinReport
{
    /// <summary>
    /// The top <paramref name="top"/> patients by <paramref name="rankBy"/> (a risk name, an expected_* value or benefit), highest
    /// first; patients without that value come last; ties by pseudonym, so the order is reproducible.
    /// </summary>
    public static IReadOnlyList<PatientTwinResult> Rank(IReadOnlyList<PatientTwinResult> results, string rankBy, int top)
    {
        ArgumentNullException.ThrowIfNull(results);
        return [.. results.OrderBy(r => r.RankValue(rankBy) is null ? 1 : 0).ThenByDescending(r => r.RankValue(rankBy) ?? 0)
            .ThenBy(r => r.Pseudonym, StringComparer.Ordinal).Take(top)];
    }

    /// <summary>Whether <paramref name="rankBy"/> names something the twin can rank by.</summary>
    public static bool CanRankBy(PatientTwin twin, string rankBy)
    {
        ArgumentNullException.ThrowIfNull(twin);
        return twin.RiskNames.Contains(rankBy) || twin.ExpectedNames.Contains(rankBy) || (rankBy == PatientTwin.BenefitKey && twin.HasScenario);
    }

    /// <summary>Writes the JSON object: models, missing outcomes, the ranking and the patients.</summary>
    public static void WriteJson(Stream output, PatientTwin twin, IReadOnlyList<PatientTwinModelEntry> models, IReadOnlyList<PatientTwinResult> patients,
        string rankBy, long scored, string purpose, string? scenario)
    {
        ArgumentNullException.ThrowIfNull(twin);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(patients);
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteStartArray("models");
        foreach (var m in models)
        {
            w.WriteStartObject();
            w.WriteString("id", m.Id);
            w.WriteString("version", m.Version);
            w.WriteString("outcome", m.Outcome);
            w.WriteString("study", m.StudyId);
            w.WriteString("release", m.Release);
            w.WriteBoolean("released", m.Released);
            w.WriteBoolean("used", m.Used);
            w.WriteString("reason", m.Reason);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("missing");
        foreach (var (outcome, reason) in twin.MissingOutcomes)
        {
            w.WriteStartObject();
            w.WriteString("outcome", outcome);
            w.WriteString("reason", reason);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("purpose", purpose);
        w.WriteString("scenario", scenario);
        w.WriteString("rank_by", rankBy);
        w.WriteNumber("patients_scored", scored);
        w.WriteStartArray("patients");
        foreach (var p in patients)
        {
            w.WriteStartObject();
            w.WriteString("pseudonym", p.Pseudonym);
            w.WriteString("age_band", p.AgeBand);
            w.WriteString("sex", p.Sex);
            w.WriteStartArray("conditions");
            foreach (var c in p.Conditions)
            {
                w.WriteStringValue(c);
            }

            w.WriteEndArray();
            Outcomes(w, p.Baseline);
            if (p.Benefit is { } benefit)
            {
                w.WriteNumber("benefit", benefit);
            }
            else
            {
                w.WriteNull("benefit");
            }

            w.WriteStartArray("missing");
            foreach (var m in p.Missing)
            {
                w.WriteStringValue(m);
            }

            w.WriteEndArray();
            if (p.EligibleFor is { } eligibleFor)
            {
                w.WriteBoolean("eligible", eligibleFor.Count > 0);
                w.WriteStartArray("interventions");
                foreach (var name in eligibleFor)
                {
                    w.WriteStringValue(name);
                }

                w.WriteEndArray();
                if (p.Scenario is { } scenarioArm)
                {
                    w.WriteStartObject("scenario");
                    Outcomes(w, scenarioArm);
                    w.WriteEndObject();
                }

                if (p.Differences is { } differences)
                {
                    w.WriteStartObject("differences");
                    foreach (var (name, d) in differences)
                    {
                        w.WriteNumber(name, d);
                    }

                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("differences");
                }
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>Writes the patients as a CSV table, one row per patient (columns: docs/twins.md).</summary>
    public static void WriteCsv(TextWriter output, PatientTwin twin, IReadOnlyList<PatientTwinResult> patients)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(twin);
        ArgumentNullException.ThrowIfNull(patients);
        var risks = twin.RiskNames;
        var expected = twin.ExpectedNames;
        var header = new List<string> { "pseudonym", "age_band", "sex", "conditions" };
        header.AddRange(risks.SelectMany(r => new[] { r, r + "_lower", r + "_upper" }));
        header.AddRange(expected.SelectMany(e => new[] { e, e + "_lower", e + "_upper" }));
        header.Add("benefit");
        if (twin.HasScenario)
        {
            header.Add("eligible");
            header.Add("interventions");
            header.AddRange(risks.Concat(expected).Select(n => "difference_" + n));
        }

        header.Add("missing");
        output.WriteLine(string.Join(',', header));
        foreach (var p in patients)
        {
            var row = new List<string> { p.Pseudonym, p.AgeBand, Quote(p.Sex), string.Join(';', p.Conditions) };
            foreach (var r in risks)
            {
                row.AddRange(p.Baseline.Risks.TryGetValue(r, out var v) ? [Number(v.Value), Number(v.Lower), Number(v.Upper)] : ["", "", ""]);
            }

            foreach (var e in expected)
            {
                row.AddRange(p.Baseline.Expected(e) is { } v ? [Number(v.Value), Number(v.Lower), Number(v.Upper)] : ["", "", ""]);
            }

            row.Add(p.Benefit is { } b ? Number(b) : "");
            if (twin.HasScenario)
            {
                row.Add(p.Eligible == true ? "1" : "0");
                row.Add(Quote(string.Join(';', p.EligibleFor ?? [])));
                row.AddRange(risks.Concat(expected).Select(n => p.Differences?.TryGetValue(n, out var d) == true ? Number(d) : ""));
            }

            row.Add(string.Join(';', p.Missing));
            output.WriteLine(string.Join(',', row));
        }
    }

    private static void Outcomes(Utf8JsonWriter w, PatientOutcomes o)
    {
        w.WriteStartObject("risks");
        foreach (var (name, r) in o.Risks)
        {
            w.WriteStartObject(name);
            w.WriteNumber("p", r.Value);
            w.WriteNumber("lower", r.Lower);
            w.WriteNumber("upper", r.Upper);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        foreach (var name in new[] { PatientTwin.ExpectedEdVisits, PatientTwin.ExpectedInpatientDays, PatientTwin.ExpectedCost })
        {
            // Always present, null when a model it needs is missing (the top-level "missing" says which), so every patient has one shape.
            if (o.Expected(name) is { } v)
            {
                w.WriteNumber(name, v.Value);
                w.WriteNumber(name + "_lower", v.Lower);
                w.WriteNumber(name + "_upper", v.Upper);
            }
            else
            {
                w.WriteNull(name);
                w.WriteNull(name + "_lower");
                w.WriteNull(name + "_upper");
            }
        }
    }

    private static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static string Quote(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) || s.Contains(' ', StringComparison.Ordinal)
        ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
        : s;
}
