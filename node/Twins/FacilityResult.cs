using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Node.Twins;

/// <summary>One field of a facility year: the baseline's mean and 95% interval, and with a scenario its values and the paired difference. Null baseline: not computable (occupancy without staffed beds).</summary>
public sealed record FacilityField(string Name, Estimate? Baseline, Estimate? Scenario, Estimate? Difference);

/// <summary>One simulated calendar year of the facility table.</summary>
public sealed record FacilityYear(int Year, int Days, IReadOnlyList<FacilityField> Fields)
{
    /// <summary>A field by name.</summary>
    public FacilityField this[string name] => Fields.Single(f => f.Name == name);
}

/// <summary>
/// A facility twin run: aggregates only (counts of the hospital's own patients and simulated totals; never a pseudonym or a
/// patient's value), written as one JSON object (<see cref="ToJson"/>) or CSV (<see cref="ToCsv"/>).
/// </summary>
public sealed record FacilityResult(
    int FeatureYear,
    int RowsOfYear,
    int DiedInYear,
    int Patients,
    string? Scenario,
    uint Seed,
    int Replicates,
    int? StaffedBeds,
    IReadOnlyList<FacilityYear> Years,
    IReadOnlyList<ModelOrigin> Models,
    IReadOnlyList<UncertaintySource> UncertaintySources,
    IReadOnlyList<string> Notes)
{
    /// <summary>The JSON object `ftwin node twin facility` prints: baseline fields flat per year, each with _lower and _upper (95%), scenario_ and difference_ likewise.</summary>
    private JsonObject ToJsonObject()
    {
        var years = new JsonArray();
        foreach (var y in Years)
        {
            var row = new JsonObject { ["year"] = y.Year, ["days"] = y.Days };
            foreach (var f in y.Fields)
            {
                Put(row, f.Name, f.Baseline);
            }

            if (Scenario is not null)
            {
                foreach (var f in y.Fields)
                {
                    Put(row, "scenario_" + f.Name, f.Scenario);
                }

                foreach (var f in y.Fields)
                {
                    Put(row, "difference_" + f.Name, f.Difference);
                }
            }

            years.Add(row);
        }

        return new JsonObject
        {
            ["kind"] = "facility_twin",
            ["years"] = years,
            ["cohort"] = new JsonObject
            {
                ["feature_year"] = FeatureYear,
                ["first_simulated_year"] = FeatureYear + 1,
                ["rows_of_feature_year"] = RowsOfYear,
                ["died_in_feature_year"] = DiedInYear,
                ["patients"] = Patients,
                ["closed"] = true,
            },
            ["scenario"] = Scenario,
            ["seed"] = Seed,
            ["replicates"] = Replicates,
            ["interval"] = "95% (2.5th and 97.5th percentiles of the replicates)",
            ["staffed_beds"] = StaffedBeds,
            ["models"] = new JsonArray([.. Models.Select(m => (JsonNode)new JsonObject
            {
                ["outcome"] = m.Outcome, ["id"] = m.Id, ["kind"] = m.Kind, ["study_id"] = m.StudyId, ["rows"] = m.Rows, ["nodes"] = m.Nodes, ["reason"] = m.Reason,
            })]),
            ["fallbacks"] = new JsonArray([.. Models.Where(m => m.Kind == ModelOrigin.Fallback).Select(m => (JsonNode)JsonValue.Create(m.Outcome))]),
            ["uncertainty_sources"] = new JsonArray([.. UncertaintySources.Select(s => (JsonNode)new JsonObject { ["source"] = s.Source, ["included"] = s.Included, ["note"] = s.Note })]),
            ["not_modelled"] = new JsonArray("surgical_volumes", "procedures"),
            ["notes"] = new JsonArray([.. Notes.Select(n => (JsonNode)JsonValue.Create(n))]),
        };
    }

    /// <summary>The JSON text (one object).</summary>
    public string ToJson() => ToJsonObject().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>One row per simulated year with the JSON's per-year columns (an empty cell for a null).</summary>
    public string ToCsv()
    {
        var c = CultureInfo.InvariantCulture;
        var rows = ToJsonObject()["years"]!.AsArray().Select(r => r!.AsObject()).ToList();
        var columns = rows.Count == 0 ? [] : rows[0].Select(p => p.Key).ToList();
        var sb = new StringBuilder(string.Join(',', columns)).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(string.Join(',', columns.Select(k => r[k] is JsonValue v ? v.ToJsonString() : string.Empty))).Append('\n');
        }

        return sb.ToString();
    }

    private static void Put(JsonObject row, string name, Estimate? e)
    {
        row[name] = e?.Mean;
        row[name + "_lower"] = e?.Low;
        row[name + "_upper"] = e?.High;
    }
}
