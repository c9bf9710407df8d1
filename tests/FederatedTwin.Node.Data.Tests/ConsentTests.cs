using Dapper;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>FHIR R4 Consent evaluated at ingest into a state per purpose of use and year.</summary>
public sealed class ConsentTests
{
    private const string Patient = "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"male\",\"birthDate\":\"1960-01-01\"}";

    private static string Consent(string id, string dateTime, string type, string[] purposes, string? start = null, string? end = null, string nested = "", string status = "active", string scope = "research")
    {
        var purpose = string.Join(",", purposes.Select(p => $"{{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":\"{p}\"}}"));
        var period = start is null ? string.Empty : $",\"period\":{{\"start\":\"{start}\"{(end is null ? string.Empty : $",\"end\":\"{end}\"")}}}";
        return $"{{\"resourceType\":\"Consent\",\"id\":\"{id}\",\"status\":\"{status}\",\"scope\":{{\"coding\":[{{\"system\":\"http://terminology.hl7.org/CodeSystem/consentscope\",\"code\":\"{scope}\"}}]}},"
            + $"\"category\":[{{\"coding\":[{{\"system\":\"http://loinc.org\",\"code\":\"57016-8\"}}]}}],\"patient\":{{\"reference\":\"Patient/p1\"}},\"dateTime\":\"{dateTime}\","
            + $"\"provision\":{{\"type\":\"{type}\"{period}{(purposes.Length > 0 ? $",\"purpose\":[{purpose}]" : string.Empty)}{nested}}}}}";
    }

    private static Dictionary<(string, int), string> States(params string[] consents)
    {
        var export = DataTestSupport.TempDir("consent");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), Patient + "\n");
        File.WriteAllText(Path.Combine(export, "Consent.000.ndjson"), string.Join("\n", consents) + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("consent-node"));
        var summary = DataTestSupport.Ingest(node, export);
        Assert.Equal(0, summary.Quarantined);
        return node.Store.Read(c => c.Query<(string purpose, int year, string state)>("SELECT purpose, year, state FROM consent_states").ToDictionary(r => (r.purpose, r.year), r => r.state));
    }

    [Fact]
    public void A_research_opt_out_denies_research_from_its_start_and_nothing_else()
    {
        var states = States(Consent("k1", "2021-06-01T00:00:00Z", "deny", ["HRESCH"], start: "2021-06-01T00:00:00Z"));
        Assert.Equal("deny", states[("HRESCH", 2021)]);
        Assert.Equal("deny", states[("HRESCH", 2030)]);
        Assert.False(states.ContainsKey(("HRESCH", 2020)));
        Assert.False(states.ContainsKey(("HOPERAT", 2021)));
    }

    [Fact]
    public void A_bounded_period_limits_the_provision_to_its_years()
    {
        var states = States(Consent("k1", "2020-01-01T00:00:00Z", "deny", ["HRESCH"], start: "2020-01-01T00:00:00Z", end: "2021-12-31T00:00:00Z"));
        Assert.Equal("deny", states[("HRESCH", 2020)]);
        Assert.Equal("deny", states[("HRESCH", 2021)]);
        Assert.False(states.ContainsKey(("HRESCH", 2022)));
    }

    [Fact]
    public void A_permit_with_a_nested_deny_for_one_purpose_denies_only_that_purpose()
    {
        var nested = ",\"provision\":[{\"type\":\"deny\",\"purpose\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActReason\",\"code\":\"HRESCH\"}]}]";
        var states = States(Consent("k1", "2020-01-01T00:00:00Z", "permit", [], nested: nested, scope: "patient-privacy"));
        Assert.Equal("permit", states[("HOPERAT", 2022)]);
        Assert.Equal("deny", states[("HRESCH", 2022)]);
    }

    [Fact]
    public void The_latest_active_consent_wins_so_a_later_permit_revokes_an_opt_out()
    {
        var optOut = Consent("k1", "2020-03-01T00:00:00Z", "deny", ["HRESCH"]);
        var optBackIn = Consent("k2", "2022-03-01T00:00:00Z", "permit", ["HRESCH"]);
        Assert.Equal("permit", States(optOut, optBackIn)[("HRESCH", 2021)]);
        Assert.Equal("deny", States(optOut, Consent("k2", "2022-03-01T00:00:00Z", "permit", ["HRESCH"], status: "inactive"))[("HRESCH", 2021)]);
    }

    [Fact]
    public void Two_consents_in_the_same_year_resolve_to_deny()
    {
        var states = States(Consent("k1", "2022-01-01T00:00:00Z", "permit", ["HRESCH"]), Consent("k2", "2022-12-01T00:00:00Z", "deny", ["HRESCH"]));
        Assert.Equal("deny", states[("HRESCH", 2023)]);
    }

    /// <summary>
    /// Three patients in 2022: one permitted research, one refused it, one has no Consent. The site
    /// policy's consent default decides only the third: opt-in leaves them out, opt-out counts them;
    /// an explicit permit or deny is never overridden by the default.
    /// </summary>
    [Theory]
    [InlineData("opt-in", 1)]
    [InlineData("opt-out", 2)]
    public void The_policy_consent_default_decides_only_patients_without_a_deciding_consent(string mode, long expected)
    {
        var export = DataTestSupport.TempDir("consent-default");
        var patients = new[] { "p1", "p2", "p3" }.Select(id => $"{{\"resourceType\":\"Patient\",\"id\":\"{id}\",\"gender\":\"female\",\"birthDate\":\"1970-03-04\"}}");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), string.Join("\n", patients) + "\n");
        var permit = Consent("k1", "2020-01-01T00:00:00Z", "permit", ["HRESCH"]);
        var deny = Consent("k2", "2020-01-01T00:00:00Z", "deny", ["HRESCH"]).Replace("Patient/p1", "Patient/p2", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(export, "Consent.000.ndjson"), permit + "\n" + deny + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("consent-default-node"));
        Assert.Equal(0, DataTestSupport.Ingest(node, export).Quarantined);
        File.WriteAllText(node.PolicyPath, $"version: 1\nminimum_nodes: 2\nconsent_default:\n  HRESCH: {mode}\n");

        var policy = node.LoadPolicy();
        var counts = Features.Census.PatientsByAgeBandAndSex(node.Store, 2022, "HRESCH", policy.IsOptIn("HRESCH"));

        // Age 52 in 2022: band 50-64 (index 3), female (index 0).
        Assert.Equal(expected, counts[(3 * 2) + 0]);
        Assert.Equal(expected, counts.Sum());
    }

    [Fact]
    public void Without_a_consent_default_research_is_opt_in_and_operations_opt_out()
    {
        var policy = Policy.SitePolicy.Parse("version: 1\nminimum_nodes: 2\n");
        Assert.True(policy.IsOptIn("HRESCH"));
        Assert.False(policy.IsOptIn("HOPERAT"));
        Assert.False(Policy.SitePolicy.Parse("version: 1\nminimum_nodes: 2\nconsent_default:\n  HRESCH: opt-out\n").IsOptIn("HRESCH"));
        var error = Assert.Throws<Policy.SitePolicyException>(() => Policy.SitePolicy.Parse("version: 1\nminimum_nodes: 2\nconsent_default:\n  HRESCH: maybe\n"));
        Assert.Contains("consent_default.HRESCH", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// An emergency visit for alcohol dependence (ICD-10-CM F10.20: 42 CFR Part 2) is left out of every
    /// purpose's features unless the site policy allows the sud category for that purpose.
    /// </summary>
    [Fact]
    public void A_sensitive_category_reaches_the_features_only_for_a_purpose_the_policy_allows_it()
    {
        var export = DataTestSupport.TempDir("sensitive-allowed");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), Patient + "\n");
        const string Encounter = "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"EMER\"},"
            + "\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"start\":\"2021-03-04T10:00:00Z\",\"end\":\"2021-03-04T12:00:00Z\"},"
            + "\"reasonCode\":[{\"coding\":[{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"F10.20\"}]}]}";
        const string Routine = "{\"resourceType\":\"Encounter\",\"id\":\"e2\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},"
            + "\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"start\":\"2021-05-04T10:00:00Z\",\"end\":\"2021-05-04T10:30:00Z\"}}";
        File.WriteAllText(Path.Combine(export, "Encounter.000.ndjson"), Encounter + "\n" + Routine + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("sensitive-allowed-node"));
        Assert.Equal(0, DataTestSupport.Ingest(node, export).Quarantined);
        File.WriteAllText(node.PolicyPath, "version: 1\nminimum_nodes: 2\nsensitive_allowed:\n  HRESCH: [sud]\n");
        var policy = node.LoadPolicy();
        double? EdVisits(string purpose) => new Features.FeatureBuilder(node.Store).ForPurpose(purpose, optIn: false, policy.SensitiveAllowedFor(purpose))
            .Single(r => r.Values["year"] == 2021).Values["ed_visits"];

        Assert.Equal(1, EdVisits("HRESCH"));
        Assert.Equal(0, EdVisits("HOPERAT"));
        Assert.Equal(1, new Features.FeatureBuilder(node.Store).SensitiveExclusions()["sud"]);
    }
}
