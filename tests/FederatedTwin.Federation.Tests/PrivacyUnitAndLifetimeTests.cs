using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dapper;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The privacy unit (max_sites_per_person: a person at k hospitals costs k²ρ) and the lifetime budget on a real node store: each
/// offer decided by the node's own <see cref="StudyDecisions"/> (policy, pinned roster, ledger charge and audit entry in one
/// SQLite transaction), the ledger read back as the status page reads it, and the status page and /v1/status served by a real
/// node host on loopback.
/// </summary>
public sealed partial class PrivacyUnitAndLifetimeTests : IDisposable
{
    private static readonly int Year = TestClock.Epoch.Year;

    private readonly FakeTimeProvider _clock = TestClock.Start();
    private readonly NodeDirectory _node;
    private readonly string _adminToken;
    private readonly SimulatedFederation _federation;

    public PrivacyUnitAndLifetimeTests()
    {
        _node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("privacy-unit"), time: _clock);
        _adminToken = _node.CreatedAdminToken!; // shown once, when the directory is made
        _federation = SimulatedFederation.Around(_node, peers: 2); // a pinned roster of three hospitals, and the site's officer
    }

    /// <summary>A site policy for operations and payment GLMs, approved by the site's compliance officer.</summary>
    private void Policy(string budgets, string? lifetime, int? maxSitesPerPerson)
    {
        var yaml = $"""
            version: 1
            trusted_coordinators:
              - name: aco
                public_key: {Convert.ToBase64String(new byte[32])}
            purposes_allowed: [HOPERAT, HPAYMT]
            algorithms_allowed: [federated-glm]
            minimum_nodes: 3
            privacy_budgets: {budgets}
            {(lifetime is null ? string.Empty : "lifetime_privacy_budget: " + lifetime)}
            {(maxSitesPerPerson is { } k ? $"max_sites_per_person: {k}" : string.Empty)}
            """;
        File.WriteAllText(_node.PolicyPath, yaml);
        File.WriteAllText(_node.PolicyPath + ".sig", PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(yaml), _federation.Officer).ToJson());
    }

    private static StudySpec Glm(string id, string rho, string purpose = "HOPERAT") =>
        new(new StudyId(id), "federated-glm", new PurposeOfUse(purpose), 3, 3, 1, 30) { Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["family"] = "binomial", ["outcome"] = "admission_next_year", ["features"] = "age,sex_male", ["dp_rho"] = rho } };

    private PolicyDecision Decide(StudySpec study) => new StudyDecisions(_node, clock: _clock).Decide(study);

    private double Spent(string? purpose, int? year) => _node.Store.Read(c => PrivacyLedgerReport.Spent(c, null, _node.LoadPolicy().PrivacyUnit, purpose, year));

    private long Charges() => _node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM privacy_ledger"));

    /// <summary>The node's study_decision audit entry for a study: its rule, and what it charged.</summary>
    private JsonObject Audited(string study) => (JsonObject)JsonNode.Parse(_node.Store.Read(c => c.QuerySingle<string>(
        "SELECT detail FROM audit_log WHERE action=@a AND study_id=@s", new { a = AuditActions.StudyDecision, s = study })))!;

    [Fact]
    public void Under_max_sites_per_person_a_study_is_charged_k_squared_rho_and_a_study_whose_charge_does_not_fit_the_year_is_refused()
    {
        Policy("{HOPERAT: 1.0}", "30", maxSitesPerPerson: 3);

        var accepted = Decide(Glm("glm-a", "0.1"));
        Assert.True(accepted.Accept, accepted.Reason);
        Assert.Contains("rho spent per person", accepted.Reason, StringComparison.Ordinal);
        Assert.Equal((0.1, 3L), _node.Store.Read(c => c.QuerySingle<(double rho, long sites)>("SELECT rho, sites_per_person FROM privacy_ledger WHERE study_id='glm-a'")));
        Assert.Equal(0.9, Spent("HOPERAT", Year), 12);
        var charge = Audited("glm-a")["privacy_charge"]!;
        Assert.Equal((0.1, 3, 0.9), (charge["rho_per_hospital_record"]!.GetValue<double>(), charge["max_sites_per_person"]!.GetValue<int>(), Math.Round(charge["charged_rho"]!.GetValue<double>(), 12)));

        // ρ 0.02 would fit per hospital record (0.12 of 1.0); per person it costs 0.18 and 0.1 is left.
        var refused = Decide(Glm("glm-b", "0.02"));
        Assert.Equal(("privacy_budgets", false), (refused.Rule, refused.Accept));
        Assert.Contains("zCDP rho 0.18 (3² × 0.02 per hospital record)", refused.Reason, StringComparison.Ordinal);
        Assert.Equal("privacy_budgets", Audited("glm-b")["rule"]!.GetValue<string>());
        Assert.Equal(1, Charges());
    }

    [Fact]
    public void A_charge_the_lifetime_budget_cannot_take_is_refused_whatever_the_purpose_or_year_and_audited_as_lifetime_budget()
    {
        Policy("{HOPERAT: 1.0, HPAYMT: 1.0}", "1.5", maxSitesPerPerson: null);

        // A study this node accepted last year, as its ledger recorded it: it no longer counts for this year's budgets, for ever for the lifetime one.
        _node.Store.Write((c, t) => c.Execute("INSERT INTO privacy_ledger(study_id, purpose, year, rho, sites_per_person, recorded_at) VALUES ('last-year', 'HOPERAT', @y, 0.6, 1, @at)",
            new { y = Year - 1, at = new DateTimeOffset(Year - 1, 6, 1, 0, 0, 0, TimeSpan.Zero).ToString("O") }, t));
        Assert.True(Decide(Glm("operations", "0.8")).Accept); // HOPERAT this year: 0.8 of 1.0; lifetime 1.4 of 1.5

        var refused = Decide(Glm("payment", "0.2", "HPAYMT")); // HPAYMT this year: 0.2 of 1.0, but 1.6 of the lifetime 1.5
        Assert.Equal((SitePolicy.LifetimeBudgetRule, false), (refused.Rule, refused.Accept));
        Assert.Contains("1.4 of this node's lifetime 1.5", refused.Reason, StringComparison.Ordinal);
        var audited = Audited("payment");
        Assert.Equal(("refuse", "lifetime_budget"), (audited["decision"]!.GetValue<string>(), audited["rule"]!.GetValue<string>()));
        Assert.Null(audited["privacy_charge"]);
        Assert.Equal(2, Charges());

        var lifetime = PrivacyLedgerReport.Lifetime(_node.Store, _node.LoadPolicy());
        Assert.Equal((1.4, 1.5, 2), (Math.Round(lifetime.Spent, 12), lifetime.Budget!.Rho, lifetime.Studies));
        Assert.Equal(0.1, lifetime.Remaining!.Value, 12);
    }

    [Fact]
    public void A_years_budget_is_the_utc_calendar_years_its_last_tick_charges_that_year_and_the_next_tick_a_new_one()
    {
        Policy("{HOPERAT: 1.0}", "30", maxSitesPerPerson: null);
        var newYear = new DateTimeOffset(Year + 1, 1, 1, 0, 0, 0, TimeSpan.Zero);

        _clock.SetUtcNow(newYear - TimeSpan.FromTicks(1));
        Assert.True(Decide(Glm("december", "0.8")).Accept);
        var stillDecember = Decide(Glm("still-december", "0.3")); // 1.1 of this year's 1.0
        Assert.Equal(("privacy_budgets", false), (stillDecember.Rule, stillDecember.Accept));

        _clock.Advance(TimeSpan.FromTicks(1));
        var january = Decide(Glm("january", "0.3"));
        Assert.True(january.Accept, january.Reason); // 0.3 of next year's 1.0: the year's budget starts afresh, the lifetime one does not
        Assert.Equal((0.8, 0.3, 1.1), (Spent("HOPERAT", Year), Spent("HOPERAT", Year + 1), Math.Round(Spent(null, null), 12)));
        Assert.Equal([(Year, "december"), (Year + 1, "january")], _node.Store.Read(c => c.Query<(int, string)>("SELECT year, study_id FROM privacy_ledger ORDER BY year")));
    }

    [Fact]
    public void A_node_whose_policy_sets_no_lifetime_budget_refuses_every_noisy_study_and_charges_nothing()
    {
        Policy("{HOPERAT: 1.0}", lifetime: null, maxSitesPerPerson: null);
        var refused = Decide(Glm("glm", "0.01"));
        Assert.Equal((SitePolicy.LifetimeBudgetRule, false), (refused.Rule, refused.Accept));
        Assert.Equal("lifetime_budget", Audited("glm")["rule"]!.GetValue<string>());
        Assert.Equal(0, Charges());
    }

    [Fact]
    public void Raising_max_sites_per_person_re_states_earlier_charges_and_lowering_it_never_counts_them_below_their_charge()
    {
        Policy("{HOPERAT: 10}", "30", maxSitesPerPerson: 2);
        Assert.True(Decide(Glm("glm", "0.1")).Accept);
        Assert.Equal(0.4, Spent(null, null), 12);

        Policy("{HOPERAT: 10}", "30", maxSitesPerPerson: null); // the field removed: new charges per hospital record, the 2² charge stays
        Assert.Equal(0.4, Spent(null, null), 12);
        Assert.False(_node.LoadPolicy().PrivacyUnit.IsPerson);

        Policy("{HOPERAT: 10}", "30", maxSitesPerPerson: 3); // the same releases, about people now assumed at up to 3 hospitals
        Assert.Equal(0.9, Spent(null, null), 12);
        Assert.Equal(0.9, PrivacyLedgerReport.Read(_node.Store, _node.LoadPolicy(), Year).Single(p => p.Purpose == "HOPERAT").PeriodSpent, 12);
    }

    [Theory]
    [InlineData(null, "hospital record", "Per hospital record", 0.1)]
    [InlineData(3, "person", "Per person", 0.9)]
    public async Task The_status_page_and_v1_status_state_the_privacy_unit_and_the_lifetime_spend_against_the_lifetime_budget(int? maxSitesPerPerson, string unit, string statement, double spent)
    {
        Policy("{HOPERAT: 1.0}", "2.0", maxSitesPerPerson);
        Assert.True(Decide(Glm("glm", "0.1")).Accept);

        var url = $"http://127.0.0.1:{FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort()}";
        var app = NodeHost.Build([], o =>
        {
            o.NodeDir = _node.Path;
            o.AdminUrl = url;
            o.RetryDelayMilliseconds = 60_000;
        });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri(url) };
            using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status"))
            {
                request.Headers.Authorization = new("Bearer", _adminToken);
                var status = JsonNode.Parse(await (await http.SendAsync(request)).Content.ReadAsStringAsync())!;
                Assert.Equal(unit, status["privacy_unit"]!["unit"]!.GetValue<string>());
                Assert.Equal(maxSitesPerPerson, status["privacy_unit"]!["max_sites_per_person"]?.GetValue<int>());
                Assert.StartsWith(statement, status["privacy_unit"]!["statement"]!.GetValue<string>(), StringComparison.Ordinal);
                Assert.Equal(spent, status["privacy_lifetime"]!["rho_spent"]!.GetValue<double>(), 12);
                Assert.Equal(2.0, status["privacy_lifetime"]!["rho_budget"]!.GetValue<double>());
                Assert.Equal(2.0 - spent, status["privacy_lifetime"]!["rho_remaining"]!.GetValue<double>(), 12);
            }

            // The page for people: signed in with the admin token through its form, as hospital IT does in a browser.
            var signIn = await http.GetStringAsync("/status");
            var antiforgery = HiddenField().Match(signIn);
            using var form = new FormUrlEncodedContent(new Dictionary<string, string> { [antiforgery.Groups["name"].Value] = antiforgery.Groups["value"].Value, ["token"] = _adminToken });
            var page = await (await http.PostAsync("/status/session", form)).Content.ReadAsStringAsync();
            Assert.Matches($"id=\"privacy-unit\"><strong>Privacy unit: {unit}.</strong> {statement}", page);
            Assert.Matches(FormattableString.Invariant($"id=\"lifetime-spent\">{spent} \\(ε"), page);
            Assert.Contains("id=\"lifetime-budget\">2 (ε", page, StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]+)\" value=\"(?<value>[^\"]+)\">")]
    private static partial Regex HiddenField();

    public void Dispose()
    {
        _node.Dispose();
        _federation.Dispose();
    }
}
