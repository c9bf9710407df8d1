namespace FederatedTwin.Dashboard.Tests;

/// <summary>The model registry and a federated GLM's page: forest plot, evaluation, participants, export.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ModelTests(DashboardFederation federation)
{
    [BrowserFact]
    public async Task A_trained_glm_shows_its_coefficients_as_a_forest_plot_with_its_federated_auc_and_calibration()
    {
        var study = await federation.Glm;
        Assert.True(study["state"]?.ToString() == "completed", $"the GLM study {study["state"]}: {study["failure_reason"]}");
        var modelId = study["result"]!["model"]!["id"]!.ToString();

        using var browser = federation.Browser();
        browser.SignIn("otto"); // an auditor reads models
        browser.Go("/models");
        Assert.Contains(modelId, browser.Find("#models").Text, StringComparison.Ordinal);
        browser.Screenshot("models");

        browser.Go("/models/view?id=" + Uri.EscapeDataString(modelId));
        var terms = study["result"]!["model"]!["terms"]!.AsArray();
        Assert.Equal(terms.Count, browser.FindAll("#coefficients tbody tr").Count);
        Assert.Equal(terms.Count - 1, browser.FindAll("svg.chart rect.estimate").Count); // one square per coefficient but the intercept
        Assert.Equal(3, browser.FindAll("#participants li").Count);
        var auc = study["result"]!["model"]!["evaluation"]!["auc"]!.GetValue<double>();
        Assert.Equal(auc.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture), browser.Find("#auc").Text);
        Assert.NotEmpty(browser.FindAll("#calibration tbody tr"));
        browser.Screenshot("model");
    }
}
