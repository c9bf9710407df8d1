namespace FederatedTwin.Dashboard.Tests;

/// <summary>The node's status page on its loopback admin address, behind its admin token, in a real browser.</summary>
[Collection(DashboardCollection.Name)]
public sealed class NodeStatusTests(DashboardFederation federation)
{
    [BrowserFact]
    public async Task Hospital_it_opens_the_status_page_with_the_admin_token_and_sees_ingest_studies_budget_and_audit()
    {
        await federation.Glm; // the node has joined a study by then
        var (_, dir, port) = federation.Federation.Nodes[0];
        using var browser = federation.Browser(new Uri($"http://127.0.0.1:{port}"));
        browser.Go("/status");
        Assert.Empty(browser.FindAll("#decisions")); // nothing without the token

        // The node keeps only a hash of its token: hospital IT makes one with `ftwin node admin-token` (the same call, in process).
        string token;
        using (var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(dir))
        {
            token = node.IssueAdminToken();
        }

        // A data source, pulled by hand only (no `every`: the running node's scheduler leaves it alone), as `ftwin node source add` writes it.
        FederatedTwin.Node.NodeConfiguration.Load(dir)
            .WithSource(new FederatedTwin.Node.Sources.DataSource("ehr-export", FederatedTwin.Node.Sources.SourceKind.FhirBulk, "https://fhir.hospital.example/r4", "ftwin-node"))
            .Save(dir);

        browser.Find("#token").SendKeys(token);
        browser.Find("#open-status").Click();
        browser.Until(() => browser.FindAll("#decisions").Count > 0, TimeSpan.FromSeconds(15), "the status page");

        Assert.Contains("enrolled", browser.Find("#enrollment").Text, StringComparison.Ordinal);
        Assert.Contains(DashboardFederation.GlmStudy, browser.Find("#decisions").Text, StringComparison.Ordinal);
        Assert.Contains("intact", browser.Find("#audit").Text, StringComparison.Ordinal);
        Assert.NotEmpty(browser.FindAll("#ingest"));
        var sources = browser.Find("#sources").Text;
        Assert.Contains("ehr-export", sources, StringComparison.Ordinal);
        Assert.Contains("https://fhir.hospital.example/r4", sources, StringComparison.Ordinal);
        Assert.Contains("never pulled", sources, StringComparison.Ordinal);
        Assert.Contains("by hand only", sources, StringComparison.Ordinal);
        Assert.NotEmpty(browser.FindAll("svg.chart"));
        // The demo sites' policies set no max_sites_per_person: the page says its figures are per hospital record.
        Assert.StartsWith("Privacy unit: hospital record. Per hospital record:", browser.Find("#privacy-unit").Text, StringComparison.Ordinal);
        Assert.StartsWith("30 (ε", browser.Find("#lifetime-budget").Text, StringComparison.Ordinal);
        browser.Screenshot("node-status");
    }

    [BrowserFact]
    public async Task Hospital_it_opens_the_twins_page_and_sees_the_worklist_by_pseudonym_and_the_facility_projection_against_its_beds()
    {
        await federation.Glm; // the federation released its admission model; each node fetches it at its next poll
        var (_, dir, port) = federation.Federation.Nodes[2];
        using var browser = federation.Browser(new Uri($"http://127.0.0.1:{port}"));
        string token;
        using (var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(dir))
        {
            token = node.IssueAdminToken();
        }

        // A data source, pulled by hand only (no `every`: the running node's scheduler leaves it alone), as `ftwin node source add` writes it.
        FederatedTwin.Node.NodeConfiguration.Load(dir)
            .WithSource(new FederatedTwin.Node.Sources.DataSource("ehr-export", FederatedTwin.Node.Sources.SourceKind.FhirBulk, "https://fhir.hospital.example/r4", "ftwin-node"))
            .Save(dir);

        browser.Go("/status");
        browser.Find("#token").SendKeys(token);
        browser.Find("#open-status").Click();
        browser.Until(() => browser.FindAll("#twins-link").Count > 0, TimeSpan.FromSeconds(15), "the status page");
        browser.Find("#twins-link").Click();
        browser.Until(() =>
        {
            if (browser.FindAll("table#worklist").Count > 0)
            {
                return true;
            }

            browser.Go("/status/twins"); // the node has not fetched the model yet: ask again
            return false;
        }, TimeSpan.FromSeconds(60), "the worklist");

        // The worklist: pseudonyms only (32 hex digits), ranked by next-year admission risk, from the federation's own model.
        var rows = browser.FindAll("table#worklist tbody tr");
        Assert.Equal(10, rows.Count);
        Assert.All(rows, r => Assert.Matches("^[0-9a-f]{32}$", r.FindElements(OpenQA.Selenium.By.CssSelector("td"))[1].Text));
        Assert.Contains($"glm/admission_next_year/{DashboardFederation.GlmStudy}", browser.Find("#twin-models").Text, StringComparison.Ordinal);

        // The facility projection: five years, charts of admissions and census against the staffed beds the node declares, and the
        // outcomes the federation has not modelled named as standing on the illustrative demo models.
        Assert.Equal(5, browser.FindAll("table#facility tbody tr").Count);
        Assert.NotEmpty(browser.FindAll("svg#admissions-chart circle"));
        Assert.Contains($"{DashboardFederation.StaffedBeds} staffed beds", browser.Find("svg#census-chart").Text, StringComparison.Ordinal);
        Assert.Contains("Illustrative demo models", browser.Find("#content").Text, StringComparison.Ordinal);
        browser.Screenshot("node-twins");
    }

    [BrowserFact]
    public void A_wrong_admin_token_is_refused()
    {
        var (_, _, port) = federation.Federation.Nodes[1];
        using var browser = federation.Browser(new Uri($"http://127.0.0.1:{port}"));
        browser.Go("/status");
        browser.Find("#token").SendKeys("not-the-token");
        browser.Find("#open-status").Click();
        browser.Until(() => browser.FindAll("#token-error").Count > 0, TimeSpan.FromSeconds(15), "the refusal");

        Assert.Empty(browser.FindAll("#decisions"));
    }
}
