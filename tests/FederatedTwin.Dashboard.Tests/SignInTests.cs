namespace FederatedTwin.Dashboard.Tests;

/// <summary>Sign-in and roles, in a real browser against a real coordinator process.</summary>
[Collection(DashboardCollection.Name)]
public sealed class SignInTests(DashboardFederation federation)
{
    [BrowserFact]
    public void An_anonymous_visitor_is_sent_to_the_sign_in_page_from_every_page()
    {
        using var browser = federation.Browser();
        foreach (var page in new[] { "/", "/federation", "/studies", "/studies/new", "/models" })
        {
            browser.Go(page);
            Assert.Equal("/signin", browser.Path);
        }

        Assert.Empty(browser.FindAll("nav"));
        browser.Screenshot("sign-in");
    }

    [BrowserFact]
    public void A_wrong_password_is_refused_with_a_message()
    {
        using var browser = federation.Browser();
        browser.SignIn("ana", "not-the-password");

        Assert.Equal("/signin", browser.Path);
        Assert.Contains("not right", browser.Find("#signin-error").Text, StringComparison.Ordinal);
    }

    [BrowserFact]
    public void An_auditor_reads_the_federation_but_is_refused_the_new_study_page()
    {
        using var browser = federation.Browser();
        browser.SignIn("otto");
        Assert.Equal("/federation", browser.Path);
        Assert.Equal(3, browser.FindAll("#nodes tbody tr").Count);
        Assert.Empty(browser.FindAll("#issue-token")); // only admins manage enrollment

        browser.Go("/studies/new");
        Assert.Equal("/denied", browser.Path);
        Assert.Contains("auditor", browser.Find("main").Text, StringComparison.Ordinal);
        browser.Screenshot("role-refused");
    }

    [BrowserFact]
    public void An_admin_issues_an_enrollment_token_and_sees_the_enrolled_nodes()
    {
        using var browser = federation.Browser();
        browser.SignIn("ada");
        browser.Find("#issue-token").Click();
        browser.Until(() => browser.FindAll("#issued-token").Count > 0, TimeSpan.FromSeconds(10), "the new token");

        Assert.StartsWith("ftwin-enroll-", browser.Find("#issued-token").Text, StringComparison.Ordinal);
        Assert.All(browser.FindAll("#nodes tbody tr"), row => Assert.Contains("online", row.Text, StringComparison.Ordinal));
        browser.Screenshot("federation");
    }
}
