using OpenQA.Selenium.Support.UI;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>Studies from the dashboard: the form, the YAML upload with its field errors, following a study live to the end.</summary>
[Collection(DashboardCollection.Name)]
public sealed class StudyTests(DashboardFederation federation)
{
    [BrowserFact]
    public void A_study_created_from_the_form_runs_on_the_real_nodes_and_the_page_follows_it_to_completion()
    {
        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/studies/new");
        browser.Find("#f-id").SendKeys("census-from-form");
        new SelectElement(browser.Find("#f-algorithm")).SelectByValue("federated-sum");
        new SelectElement(browser.Find("#f-purpose")).SelectByValue("HOPERAT");
        SetNumber(browser, "#f-min_nodes", 3);
        SetNumber(browser, "#f-max_nodes", 3);
        SetNumber(browser, "#f-phase_deadline_seconds", 30);
        browser.Find("#f-description").SendKeys("Patients by age band and sex");
        browser.Find("#f-parameters").SendKeys("vector: patients_by_age_band_and_sex\nyear: 2024");
        browser.Screenshot("study-new");
        browser.Find("#create-from-form").Click();

        browser.Until(() => browser.Path == "/studies/census-from-form", TimeSpan.FromSeconds(15), "the study page");
        // No reload from here on: the page's live region refreshes itself until the study ends.
        browser.Until(() => browser.Find("#state").Text is "completed" or "failed" or "cancelled", TimeSpan.FromSeconds(90), "the study to end");

        Assert.Equal("completed", browser.Find("#state").Text);
        Assert.Equal(3, browser.FindAll("#decisions tbody tr").Count(r => r.Text.Contains("accepted", StringComparison.Ordinal)));
        Assert.Contains("done", browser.Find("#attempts").Text, StringComparison.Ordinal);
        Assert.NotEmpty(browser.FindAll("#result tbody tr"));
        browser.Screenshot("study-completed");

        browser.Go("/studies");
        Assert.Contains("census-from-form", browser.Find("#studies").Text, StringComparison.Ordinal);
        browser.Screenshot("studies");
    }

    [BrowserFact]
    public void An_uploaded_study_yaml_with_an_invalid_field_shows_the_error_next_to_the_yaml()
    {
        var file = Path.Combine(DashboardFederation.TempDir("yaml"), "study.yaml");
        File.WriteAllText(file, """
            id: too-few-nodes
            algorithm: federated-sum
            purpose_of_use: HOPERAT
            min_nodes: 1
            parameters:
              vector: patients_by_age_band_and_sex
            """);
        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/studies/new");
        browser.Find("#yaml-file").SendKeys(file);
        browser.Find("#create-from-yaml").Click();
        browser.Until(() => browser.FindAll("#yaml-error").Count > 0, TimeSpan.FromSeconds(15), "the field error");

        var error = browser.Find("#yaml-error").Text;
        Assert.Contains("line 4, min_nodes", error, StringComparison.Ordinal);
        Assert.Contains("at least 2", error, StringComparison.Ordinal);
        Assert.Equal("true", browser.Find("#yaml").GetAttribute("aria-invalid"));
        Assert.Contains("yaml-error", browser.Find("#yaml").GetAttribute("aria-describedby"), StringComparison.Ordinal);
        browser.Screenshot("study-yaml-error");
    }

    [BrowserFact]
    public void A_form_field_error_is_shown_next_to_that_field_and_the_study_is_not_created()
    {
        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/studies/new");
        browser.Find("#f-id").SendKeys("unknown-vector");
        new SelectElement(browser.Find("#f-algorithm")).SelectByValue("federated-sum");
        browser.Find("#f-parameters").SendKeys("vector: no_such_vector");
        browser.Find("#create-from-form").Click();
        browser.Until(() => browser.FindAll(".field-error").Count > 0, TimeSpan.FromSeconds(15), "a field error");

        Assert.NotEmpty(browser.FindAll("#f-parameters-error"));
        browser.Go("/studies");
        Assert.DoesNotContain("unknown-vector", browser.Find("#studies").Text, StringComparison.Ordinal);
    }

    [BrowserFact]
    public async Task A_noisy_study_states_its_privacy_per_hospital_record_and_each_nodes_decision_names_the_unit_it_charges()
    {
        await federation.Federation.CreateStudy("""
            id: noisy-composition
            algorithm: federated-composition
            purpose_of_use: HOPERAT
            min_nodes: 3
            max_nodes: 3
            phase_deadline_seconds: 40
            parameters:
              year: "2022"
              dp_rho: "0.1"
            """, CancellationToken.None);
        using var browser = federation.Browser();
        browser.SignIn("otto");
        browser.Go("/studies/noisy-composition");
        browser.Until(() => browser.FindAll("#decisions tbody tr").Count(r => r.Text.Contains("accepted", StringComparison.Ordinal)) == 3, TimeSpan.FromSeconds(30), "the three nodes' decisions");

        Assert.Equal("ρ = 0.1 zCDP per hospital record, at each node", browser.Find("#declared-privacy").Text.Split('\n')[0].Trim());
        Assert.Contains("a person treated at k hospitals of the ACO may lose up to k²ρ", browser.Find("#privacy-unit").Text, StringComparison.Ordinal);
        // The demo sites' policies set no max_sites_per_person: each node says it charges per hospital record.
        Assert.All(browser.FindAll("#decisions tbody tr"), r => Assert.Contains("rho spent per hospital record", r.Text, StringComparison.Ordinal));
    }

    private static void SetNumber(DashboardSession browser, string css, int value)
    {
        var input = browser.Find(css);
        input.Clear();
        input.SendKeys(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
