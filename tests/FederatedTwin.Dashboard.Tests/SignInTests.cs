using System.Net;
using System.Net.Sockets;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Protocol.Audit;

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

    [BrowserFact]
    public void Five_wrong_passwords_lock_the_user_name_and_then_even_the_right_password_is_refused()
    {
        // "lou" exists only for this test: the lockout lasts 15 minutes, longer than the suite.
        using var browser = federation.Browser();
        for (var i = 1; i <= 4; i++)
        {
            browser.SignIn("lou", "guess-number-" + i);
            Assert.Contains("not right", browser.Find("#signin-error").Text, StringComparison.Ordinal);
        }

        browser.SignIn("lou", "guess-number-5");
        Assert.Equal("true", browser.Find("#signin-error").GetAttribute("data-locked"));
        Assert.Contains("locked until", browser.Find("#signin-error").Text, StringComparison.Ordinal);
        browser.Screenshot("sign-in-locked");

        browser.SignIn("lou"); // the right password
        Assert.Equal("/signin", browser.Path);
        Assert.Contains("locked until", browser.Find("#signin-error").Text, StringComparison.Ordinal);

        var audit = AuditSource.Open(AuditService.Coordinator, federation.Federation.CoordinatorDir).Entries;
        var lockedOut = Assert.Single(audit, e => e.Action == AuditActions.DashboardSignInLockedOut);
        Assert.Contains("\"lou\"", lockedOut.Detail, StringComparison.Ordinal);
        Assert.Equal(5, audit.Count(e => e.Action == AuditActions.DashboardSignInFailed && e.Detail.Contains("\"lou\"", StringComparison.Ordinal) && e.Detail.Contains("wrong name", StringComparison.Ordinal)));
        Assert.Contains(audit, e => e.Action == AuditActions.DashboardSignInFailed && e.Detail.Contains("\"lou\"", StringComparison.Ordinal) && e.Detail.Contains("locked", StringComparison.Ordinal));
    }

    [BrowserFact] // not a browser test, but it needs the collection's coordinator, which starts only with the browser
    public async Task One_address_gets_429_after_thirty_sign_in_posts_in_a_minute_and_the_page_itself_stays_readable()
    {
        // From 127.0.0.2 (the whole of 127/8 is loopback), so this address's limit does not touch the browser's 127.0.0.1.
        using var handler = new SocketsHttpHandler
        {
            UseCookies = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = federation.Url };
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 31; i++)
        {
            using var response = await http.PostAsync(new Uri("/signin", UriKind.Relative), new FormUrlEncodedContent([new("name", "nobody-" + i), new("password", "wrong-password")]));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After");
                Assert.Contains("Too many sign-in attempts", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }

        Assert.DoesNotContain(HttpStatusCode.TooManyRequests, statuses.Take(30));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[30]);

        // The page itself (GET) is not limited for that address.
        using var page = await http.GetAsync(new Uri("/signin", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }
}
