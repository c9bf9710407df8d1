using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>
/// The quality-measure proxies of a scenario result as one FHIR R4 MeasureReport (http://hl7.org/fhir/R4/measurereport.html),
/// type "summary", status "complete", period = the simulated years. One group per proxy and arm (baseline, scenario and the
/// paired difference), its measureScore the mean over replicates for the whole horizon, stratified by calendar year; the
/// 95% Monte Carlo interval rides in an extension (valueRange). The proxies are simulated rates of the synthetic twin,
/// not measures computed from patients' records, and the report's measure canonical says so (urn:ftwin:measure:...).
/// Written as JSON with System.Text.Json (the scenario engine does not depend on the FHIR SDK); a test parses it with
/// Firely's R4 parser.
/// </summary>
public static class MeasureReportExport
{
    /// <summary>The canonical of the (not published) measure definition behind the proxies.</summary>
    public const string MeasureCanonical = "urn:ftwin:measure:twin-quality-proxies";

    /// <summary>Code system of the proxy measures.</summary>
    public const string CodeSystem = "urn:ftwin:codesystem:twin-measure";

    /// <summary>The 95% interval extension.</summary>
    public const string IntervalExtension = "urn:ftwin:extension:monte-carlo-interval-95";

    private static readonly (string Measure, string Display)[] Proxies =
    [
        // The idea behind CMS's "Risk-Standardized, All-Cause Unplanned Admissions for Multiple Chronic Conditions" (APP set), not risk-adjusted.
        ("mcc_admissions_per_1000", "Admissions per 1,000 Medicare-eligible person-years with two or more chronic conditions (proxy, not risk-adjusted)"),
        ("admissions_per_1000", "Inpatient admissions per 1,000 person-years"),
        ("ed_visits_per_1000", "Emergency department visits per 1,000 person-years"),
    ];

    /// <summary>The MeasureReport as JSON text; <paramref name="date"/> is the report's date (default: now).</summary>
    public static string ToJson(ScenarioResult result, int startYear, DateTimeOffset? date = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var c = CultureInfo.InvariantCulture;
        var years = result.Years.Keys.Where(y => y != 0).Order().ToList();
        var groups = new JsonArray();
        foreach (var (measure, display) in Proxies)
        {
            foreach (var arm in new[] { "baseline", "scenario", "difference" })
            {
                static Estimate Pick(MeasureRow row, string arm) => arm switch { "baseline" => row.Baseline, "scenario" => row.Scenario, _ => row.Difference };
                var total = Pick(result.Years[0].Single(r => r.Measure == measure), arm);
                var strata = new JsonArray();
                foreach (var year in years)
                {
                    var e = Pick(result.Years[year].Single(r => r.Measure == measure), arm);
                    strata.Add(new JsonObject
                    {
                        ["extension"] = Interval(e),
                        ["value"] = new JsonObject { ["text"] = year.ToString(c) },
                        ["measureScore"] = Score(e.Mean),
                    });
                }

                groups.Add(new JsonObject
                {
                    ["extension"] = Interval(total),
                    ["code"] = new JsonObject
                    {
                        ["coding"] = new JsonArray(new JsonObject { ["system"] = CodeSystem, ["code"] = $"{measure}:{arm}", ["display"] = display }),
                        ["text"] = $"{display}: {(arm == "difference" ? "paired difference, scenario minus baseline" : arm)}",
                    },
                    ["measureScore"] = Score(total.Mean),
                    ["stratifier"] = new JsonArray(new JsonObject
                    {
                        ["code"] = new JsonArray(new JsonObject { ["text"] = "calendar year" }),
                        ["stratum"] = strata,
                    }),
                });
            }
        }

        var report = new JsonObject
        {
            ["resourceType"] = "MeasureReport",
            ["status"] = "complete",
            ["type"] = "summary",
            ["measure"] = MeasureCanonical,
            ["date"] = (date ?? TimeProvider.System.GetUtcNow()).ToString("yyyy-MM-dd'T'HH:mm:sszzz", c),
            ["period"] = new JsonObject
            {
                ["start"] = startYear.ToString(c) + "-01-01",
                ["end"] = (years.Count > 0 ? years[^1] : startYear).ToString(c) + "-12-31",
            },
            ["improvementNotation"] = new JsonObject
            {
                ["coding"] = new JsonArray(new JsonObject { ["system"] = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation", ["code"] = "decrease", ["display"] = "Decreased score indicates improvement" }),
            },
            ["group"] = groups,
        };
        report["extension"] = new JsonArray(new JsonObject
        {
            ["url"] = "urn:ftwin:extension:scenario",
            ["valueString"] = $"{result.Scenario}; {result.Replicates} replicates, population {result.Population.ToString(c)}; models: {string.Join(", ", result.ModelOrigins.Select(o => $"{o.Outcome}={o.Id} ({o.Kind})"))}; cohort from {result.Cohort.Composition}",
        });
        return report.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private static JsonObject Score(double value) => new() { ["value"] = Math.Round(value, 6), ["unit"] = "per 1000 person-years" };

    private static JsonArray Interval(Estimate e) => new(new JsonObject
    {
        ["url"] = IntervalExtension,
        ["valueRange"] = new JsonObject { ["low"] = new JsonObject { ["value"] = Math.Round(e.Low, 6) }, ["high"] = new JsonObject { ["value"] = Math.Round(e.High, 6) } },
    });
}
