using OpenQA.Selenium;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>The scenario page: run scenario files on the twin and compare them side by side.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ScenarioTests(DashboardFederation federation)
{
    [BrowserFact]
    public void An_analyst_runs_two_scenarios_and_compares_them_with_charts_and_the_mssp_settlement()
    {
        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/scenarios");
        var example = browser.Find("#scenario-yaml").GetAttribute("value") ?? string.Empty;
        Assert.Contains("chf-transitional-care", example, StringComparison.Ordinal);

        browser.Find("#run-scenario").Click();
        browser.Until(() => browser.FindAll(".scenario-result").Count == 1, TimeSpan.FromSeconds(60), "the first result");

        // A second, wider programme: the same file with full coverage, edited in the page's box.
        var wider = example.Replace("coverage: [0.3, 0.6]", "coverage: [0.9, 0.9]", StringComparison.Ordinal)
            .Replace("name: CHF transitional care, 30% -> 60%", "name: CHF transitional care, 90%", StringComparison.Ordinal);
        ((IJavaScriptExecutor)browser.Driver).ExecuteScript("arguments[0].value = arguments[1];", browser.Find("#scenario-yaml"), wider);
        browser.Find("#run-scenario").Click();
        browser.Until(() => browser.FindAll(".scenario-result").Count == 2, TimeSpan.FromSeconds(60), "the comparison");

        Assert.Equal(2, browser.FindAll("#comparison tbody tr").Count);
        Assert.Equal(2, browser.FindAll(".scenario-result svg.chart polygon.band.scenario").Count); // a 95% band per scenario
        Assert.All(browser.FindAll(".scenario-result table.mssp"), t => Assert.Equal(5, t.FindElements(By.CssSelector("tbody tr")).Count));
        browser.Screenshot("scenarios");
    }

    [BrowserFact]
    public void An_invalid_scenario_file_shows_its_error_beside_the_file()
    {
        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/scenarios");
        var broken = (browser.Find("#scenario-yaml").GetAttribute("value") ?? string.Empty).Replace("horizon: 5", "horizon: many", StringComparison.Ordinal);
        ((IJavaScriptExecutor)browser.Driver).ExecuteScript("arguments[0].value = arguments[1];", browser.Find("#scenario-yaml"), broken);
        browser.Find("#run-scenario").Click();
        browser.Until(() => browser.FindAll("#scenario-error").Count > 0, TimeSpan.FromSeconds(30), "the error");

        Assert.Contains("horizon", browser.Find("#scenario-error").Text, StringComparison.Ordinal);
    }
}
