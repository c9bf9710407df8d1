using System.Net;
using System.Text.Json.Nodes;
using OpenQA.Selenium;
using OpenQA.Selenium.Support.UI;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>The scenario page: run scenario files on the twin, follow their progress and compare them side by side.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ScenarioTests(DashboardFederation federation)
{
    [BrowserFact]
    public async Task An_analyst_runs_a_scenario_on_the_registry_with_progress_then_one_on_the_demo_models_and_compares_them()
    {
        // The twin on the registry needs the collection's federated GLM (admission next year) to have finished.
        var glm = await federation.Glm;
        Assert.Equal("completed", glm["state"]?.ToString());

        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/scenarios");
        var example = browser.Find("#scenario-yaml").GetAttribute("value") ?? string.Empty;
        Assert.Contains("chf-transitional-care", example, StringComparison.Ordinal);
        Assert.Equal("Registry", new SelectElement(browser.Find("#scenario-twin")).SelectedOption.GetAttribute("value"));

        // A run as large as the page allows (50,000 people, 50 replicates), so that its progress can be watched.
        var large = example.Replace("population: 8000", "population: 50000", StringComparison.Ordinal).Replace("replicates: 12", $"replicates: {Coordinator.Dashboard.ScenarioRuns.MaxReplicates}", StringComparison.Ordinal);
        Assert.NotEqual(example, large);
        SetYaml(browser, large);
        browser.Find("#run-scenario").Click();

        // The progress region: replicates finished of all, updated while the run goes on, then the page shows the result.
        browser.Until(() => browser.FindAll("#run-progress").Count > 0 || browser.FindAll(".scenario-result").Count > 0, TimeSpan.FromSeconds(30), "the run's progress");
        var seen = new List<(int Value, int Max)>();
        var progressShot = false;
        browser.Until(() =>
        {
            if (browser.FindAll("#run-progress") is [var bar, ..])
            {
                seen.Add((int.Parse(bar.GetAttribute("value") ?? "0", System.Globalization.CultureInfo.InvariantCulture), int.Parse(bar.GetAttribute("max") ?? "0", System.Globalization.CultureInfo.InvariantCulture)));
                if (!progressShot && browser.Find("#run-state").GetAttribute("data-state") == "running")
                {
                    progressShot = true;
                    browser.Screenshot("scenario-progress");
                }
            }

            return browser.FindAll(".scenario-result").Count == 1;
        }, TimeSpan.FromSeconds(240), "the first result");
        Assert.Contains(seen, p => p.Max == Coordinator.Dashboard.ScenarioRuns.MaxReplicates && p.Value < p.Max); // seen before it had finished
        Assert.Empty(browser.FindAll("#run-progress"));

        // The registry's model for admissions is the federated GLM; the other outcomes fall back to the demo models.
        var origins = browser.FindAll(".scenario-result tr[data-origin]");
        var federated = Assert.Single(origins, o => o.GetAttribute("data-origin") == "federated");
        Assert.Contains(DashboardFederation.GlmStudy, federated.GetDomProperty("textContent"), StringComparison.Ordinal);
        Assert.Contains("admission_next_year", federated.GetDomProperty("textContent"), StringComparison.Ordinal);
        Assert.Contains(origins, o => o.GetAttribute("data-origin") == "fallback");

        // Exports: JSON and the FHIR R4 MeasureReport of the same run, through the page's links with the analyst's session.
        var measureReportLink = browser.Find(".scenario-result a.measure-report").GetAttribute("href")!;
        var jsonLink = measureReportLink.Replace("format=measurereport", "format=json", StringComparison.Ordinal);
        using var http = SignedInClient(browser);
        using var reportResponse = await http.GetAsync(new Uri(measureReportLink));
        Assert.Equal(HttpStatusCode.OK, reportResponse.StatusCode);
        Assert.Equal("application/fhir+json", reportResponse.Content.Headers.ContentType?.MediaType);
        var report = JsonNode.Parse(await reportResponse.Content.ReadAsStringAsync())!;
        var result = JsonNode.Parse(await http.GetStringAsync(new Uri(jsonLink)))!;
        Assert.Equal("MeasureReport", report["resourceType"]?.ToString());
        Assert.Equal("complete", report["status"]?.ToString());
        Assert.Equal("2027-01-01", report["period"]!["start"]!.ToString());
        Assert.Equal(9, report["group"]!.AsArray().Count); // three proxies × baseline, scenario, difference
        var difference = report["group"]!.AsArray().Single(g => g!["code"]!["coding"]![0]!["code"]!.ToString() == "admissions_per_1000:difference")!;
        var total = result["years"]!["0"]!.AsArray().Single(r => r!["measure"]!.ToString() == "admissions_per_1000")!;
        Assert.Equal(Math.Round(total["difference"]!["mean"]!.GetValue<double>(), 6), difference["measureScore"]!["value"]!.GetValue<double>(), 9);
        Assert.Equal(5, difference["stratifier"]![0]!["stratum"]!.AsArray().Count);
        Assert.Contains("(federated)", report["extension"]![0]!["valueString"]!.ToString(), StringComparison.Ordinal);

        // A second, wider programme on the demo model set: the same file with full coverage, edited in the page's box.
        var wider = example.Replace("coverage: [0.3, 0.6]", "coverage: [0.9, 0.9]", StringComparison.Ordinal)
            .Replace("name: CHF transitional care, 30% -> 60%", "name: CHF transitional care, 90%", StringComparison.Ordinal);
        SetYaml(browser, wider);
        new SelectElement(browser.Find("#scenario-twin")).SelectByValue("Demo");
        browser.Find("#run-scenario").Click();
        browser.Until(() => browser.FindAll(".scenario-result").Count == 2, TimeSpan.FromSeconds(120), "the comparison");

        Assert.Equal(2, browser.FindAll("#comparison tbody tr").Count);
        Assert.Contains("90%", browser.FindAll("#comparison tbody tr")[0].Text, StringComparison.Ordinal); // the newest first
        Assert.Equal(2, browser.FindAll(".scenario-result svg.chart polygon.band.scenario").Count); // a 95% band per scenario
        Assert.All(browser.FindAll(".scenario-result table.mssp"), t => Assert.Equal(5, t.FindElements(By.CssSelector("tbody tr")).Count));
        var panels = browser.FindAll(".scenario-result");
        Assert.DoesNotContain(panels[0].FindElements(By.CssSelector("tr[data-origin]")), o => o.GetAttribute("data-origin") == "federated");
        Assert.Single(panels[1].FindElements(By.CssSelector("tr[data-origin]")), o => o.GetAttribute("data-origin") == "federated");
        browser.Screenshot("scenarios");
    }

    [BrowserFact]
    public void An_invalid_scenario_file_shows_its_error_beside_the_file()
    {
        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/scenarios");
        var broken = (browser.Find("#scenario-yaml").GetAttribute("value") ?? string.Empty).Replace("horizon: 5", "horizon: many", StringComparison.Ordinal);
        SetYaml(browser, broken);
        browser.Find("#run-scenario").Click();
        browser.Until(() => browser.FindAll("#scenario-error").Count > 0, TimeSpan.FromSeconds(30), "the error");

        Assert.Contains("horizon", browser.Find("#scenario-error").Text, StringComparison.Ordinal);
        Assert.Empty(browser.FindAll("#run-progress")); // refused before it was queued
    }

    [BrowserFact]
    public async Task An_auditor_sees_the_page_but_cannot_run_or_export_what_does_not_exist()
    {
        using var browser = federation.Browser();
        browser.SignIn("otto");
        browser.Go("/scenarios");
        Assert.Empty(browser.FindAll("#run-scenario"));

        using var http = SignedInClient(browser);
        using var missing = await http.GetAsync(new Uri(federation.Url, "/scenarios?handler=Export&id=nosuchrun&format=measurereport"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    private static void SetYaml(DashboardSession browser, string yaml) =>
        ((IJavaScriptExecutor)browser.Driver).ExecuteScript("arguments[0].value = arguments[1];", browser.Find("#scenario-yaml"), yaml);

    /// <summary>An HTTP client carrying the browser's session cookie (a download link followed as the browser would).</summary>
    private static HttpClient SignedInClient(DashboardSession browser)
    {
        var cookie = browser.Driver.Manage().Cookies.GetCookieNamed("ftwin.dashboard") ?? throw new InvalidOperationException("The browser has no session.");
        var http = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false });
        http.DefaultRequestHeaders.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        return http;
    }
}
