using System.Text;
using FederatedTwin.Twin.Validation;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>The Twin validation page (issue 20): the latest back-test stored through the admin API, as a chart per outcome and a table.</summary>
[Collection(DashboardCollection.Name)]
public sealed class TwinValidationPageTests(DashboardFederation federation)
{
    [BrowserFact]
    public async Task A_stored_back_test_shows_a_chart_per_outcome_with_each_observation_inside_or_outside_its_interval()
    {
        var validation = new TwinValidation(2022, 1800, 200,
        [
            new ValidationRow("people_admitted_per_1000", 2023, 78, 65, 94, 80, 1.4),
            new ValidationRow("people_admitted_per_1000", 2024, 88, 70, 107, 94, 1.4),
            new ValidationRow("pmpm", 2023, 346, 308, 386, 317, 11.9),
            new ValidationRow("pmpm", 2024, 369, 326, 413, 320, 12),
            new ValidationRow("deaths_per_1000", 2023, 15, 8, 23, 10, 1.4),
        ], ["deaths_per_1000 2024"], "monte_carlo: test");

        using (var admin = federation.Federation.Admin)
        {
            // Something that is not a back-test is refused, and nothing is stored.
            await Assert.ThrowsAsync<FederatedTwin.Cli.Commands.AdminRequestException>(() =>
                admin.Send(HttpMethod.Post, "/v1/admin/twin-validations", new StringContent("{\"rows\": 3}", Encoding.UTF8, "application/json")));
            await admin.Send(HttpMethod.Post, "/v1/admin/twin-validations", new StringContent(validation.ToJson(), Encoding.UTF8, "application/json"));
            var latest = await admin.Send(HttpMethod.Get, "/v1/admin/twin-validations/latest");
            Assert.Equal(2022, latest!["cutoff_year"]!.GetValue<int>());
        }

        using var browser = federation.Browser();
        browser.SignIn("otto"); // an auditor reads it
        browser.Go("/twin-validation");
        Assert.Equal("4 of 5", browser.Find("#inside-count").Text);
        Assert.Equal(3, browser.FindAll("#validation-charts svg.chart").Count); // one chart per outcome
        Assert.Equal(4, browser.FindAll("#validation-charts circle.observed.inside").Count);
        Assert.Single(browser.FindAll("#validation-charts circle.observed.outside")); // pmpm 2024: 320 below [326, 413]
        Assert.Equal(5, browser.FindAll("#validation-rows tbody tr").Count);
        Assert.Contains("deaths_per_1000 2024", browser.Find("#suppressed").Text, StringComparison.Ordinal);
        browser.Screenshot("twin-validation");
    }
}
