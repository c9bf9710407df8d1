using FederatedTwin.Analytics.Studies;
using FederatedTwin.Node;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

public sealed class PolicyTests
{
    private static readonly string Key = Convert.ToBase64String(new byte[32]);

    private static SitePolicy Parse(string purposes = "[HOPERAT]", string algorithms = "[federated-sum]", string min = "3", string dp = "dp_may_be_off: true") => SitePolicy.Parse($"""
        version: 1
        trusted_coordinators:
          - name: aco
            public_key: {Key}
        purposes_allowed: {purposes}
        algorithms_allowed: {algorithms}
        minimum_nodes: {min}
        {dp}
        """);

    private static StudySpec Study(string purpose = "HOPERAT", string algorithm = "federated-sum", int min = 3) =>
        new(new StudyId("s"), algorithm, new PurposeOfUse(purpose), min, 10, 1, 30);

    [Fact]
    public void The_default_policy_refuses_every_study()
    {
        var policy = SitePolicy.Parse(SitePolicy.DefaultYaml);
        var decision = policy.Decide(Study());
        Assert.False(decision.Accept);
        Assert.Equal("purposes_allowed", decision.Rule);
        Assert.Empty(policy.TrustedCoordinators);
    }

    [Theory]
    [InlineData("HRESCH", "federated-sum", 3, "purposes_allowed")]
    [InlineData("HOPERAT", "glm", 3, "algorithms_allowed")]
    [InlineData("HOPERAT", "federated-sum", 2, "minimum_nodes")]
    [InlineData("HOPERAT", "federated-sum", 3, "all_rules_passed")]
    public void The_first_rule_that_refuses_decides(string purpose, string algorithm, int min, string rule)
    {
        var decision = Parse().Decide(Study(purpose, algorithm, min));
        Assert.Equal(rule, decision.Rule);
        Assert.Equal(rule == "all_rules_passed", decision.Accept);
    }

    [Theory]
    [InlineData(null, 0.0, "dp_may_be_off")]
    [InlineData("0.3", 0.0, "all_rules_passed")]
    [InlineData("0.3", 0.3, "privacy_budgets")]
    [InlineData("0.2", 0.3, "all_rules_passed")]
    public void Differential_privacy_is_required_and_each_study_is_charged_to_the_purposes_yearly_budget(string? rho, double spent, string rule)
    {
        var policy = Parse(algorithms: "[federated-glm]", dp: "dp_may_be_off: false\nprivacy_budgets:\n  HOPERAT: 0.5\nlifetime_privacy_budget: 10");
        var study = Study(algorithm: "federated-glm") with { Parameters = rho is null ? null : new Dictionary<string, string> { ["dp_rho"] = rho } };
        var decision = policy.Decide(study, new SpentSoFar(spent, spent));
        Assert.Equal(rule, decision.Rule);
        Assert.Equal(rule == "all_rules_passed", decision.Accept);
    }

    [Theory]
    [InlineData("federated-glm", "0.3", 0.0, "all_rules_passed")]
    [InlineData("federated-glm", "0.3", 0.3, "privacy_budgets")]
    [InlineData("federated-fedavg", "0.3", 0.0, "all_rules_passed")]
    [InlineData("federated-fedavg", "0.3", 0.3, "privacy_budgets")]
    [InlineData("federated-fedavg", null, 0.0, "all_rules_passed")]
    [InlineData("federated-sum", "0.3", 0.0, "dp_supported")]
    public void A_glm_or_dp_fedavg_is_charged_to_the_budget_and_an_algorithm_without_noise_cannot_claim_dp(string algorithm, string? rho, double spent, string rule)
    {
        var policy = Parse(algorithms: "[federated-glm, federated-fedavg, federated-sum]", dp: "dp_may_be_off: true\nprivacy_budgets:\n  HOPERAT: 0.5\nlifetime_privacy_budget: 10");
        var study = Study(algorithm: algorithm) with { Parameters = rho is null ? null : new Dictionary<string, string> { ["dp_rho"] = rho } };
        var decision = policy.Decide(study, new SpentSoFar(spent, spent));
        Assert.Equal(rule, decision.Rule);
        Assert.Equal(rule == "all_rules_passed", decision.Accept);
    }

    [Theory]
    [InlineData(3, null, 1, true)]   // h defaults to min_nodes − 1 = 2: two honest of three with one colluder
    [InlineData(3, "2", 1, true)]
    [InlineData(3, "3", 1, false)]   // shares sized for three honest nodes: one colluder would thin the noise to 2/3
    [InlineData(3, "2", 2, false)]   // a site that assumes two colluders needs h ≤ 1
    [InlineData(3, "1", 2, true)]
    [InlineData(5, null, 2, false)]  // the default h = 4 relies on four of five; this site expects two colluders
    [InlineData(3, "0", 0, false)]   // not 1..min_nodes: refused by the same rule
    public void A_dp_study_whose_noise_would_not_survive_the_colluders_the_site_assumes_is_refused(int minNodes, string? h, int colluders, bool accepted)
    {
        var policy = Parse(algorithms: "[federated-glm]", min: "3", dp: $"dp_may_be_off: false\ndp_colluding_nodes: {colluders}\nprivacy_budgets:\n  HOPERAT: 5\nlifetime_privacy_budget: 10");
        var parameters = new Dictionary<string, string> { ["dp_rho"] = "1" };
        if (h is not null)
        {
            parameters[FederatedTwin.Analytics.Privacy.StudyPrivacy.MinHonestNodesParameter] = h;
        }

        var decision = policy.Decide(Study(algorithm: "federated-glm", min: minNodes) with { Parameters = parameters });
        Assert.Equal(accepted ? "all_rules_passed" : "dp_colluding_nodes", decision.Rule);
        Assert.Equal(1, Parse().DpColludingNodes); // the default: one colluding hospital
    }

    [Fact]
    public void Outcomes_and_the_minimum_cell_size_are_rules_too()
    {
        var policy = Parse(algorithms: "[federated-glm, federated-composition]", dp: "dp_may_be_off: true\noutcomes_allowed: [admission_next_year]\nminimum_cell_size: 20");
        StudySpec Glm(string outcome) => Study(algorithm: "federated-glm") with { Parameters = new Dictionary<string, string> { ["outcome"] = outcome } };
        StudySpec Composition(string? cell) => Study(algorithm: "federated-composition") with { Parameters = cell is null ? null : new Dictionary<string, string> { ["min_cell_size"] = cell } };
        Assert.True(policy.Decide(Glm("admission_next_year")).Accept);
        Assert.Equal("outcomes_allowed", policy.Decide(Glm("death_next_year")).Rule);
        Assert.Equal("minimum_cell_size", policy.Decide(Composition(null)).Rule); // the default 11 is below this site's 20
        Assert.True(policy.Decide(Composition("25")).Accept);
    }

    [Fact]
    public void A_census_publishes_counts_so_its_minimum_cell_size_is_held_to_the_sites()
    {
        var policy = Parse(dp: "dp_may_be_off: true\nminimum_cell_size: 20");
        StudySpec Census(string? cell) => Study() with { Parameters = cell is null ? null : new Dictionary<string, string> { ["min_cell_size"] = cell } };
        Assert.Equal("minimum_cell_size", policy.Decide(Census(null)).Rule); // the default 11 is below this site's 20
        Assert.Equal("minimum_cell_size", policy.Decide(Census("eleven")).Rule); // unreadable: refused, never taken as the default
        Assert.True(policy.Decide(Census("20")).Accept);
    }

    [Fact]
    public void Observed_outcome_totals_publish_patient_counts_so_their_minimum_cell_size_is_held_to_the_sites()
    {
        // federated-outcomes suppresses a year whose patient-years, admitted or deaths fall under the study's min_cell_size:
        // a study declaring a smaller one than the site's must be refused by the node, as a census or composition is.
        var policy = Parse(algorithms: "[federated-outcomes]", dp: "dp_may_be_off: false\nprivacy_budgets:\n  HOPERAT: 5\nlifetime_privacy_budget: 50\nminimum_cell_size: 20");
        StudySpec Outcomes(string? cell)
        {
            var p = new Dictionary<string, string> { ["from_year"] = "2023", ["to_year"] = "2024", ["dp_rho"] = "1" };
            if (cell is not null)
            {
                p["min_cell_size"] = cell;
            }

            return Study(algorithm: "federated-outcomes") with { Parameters = p };
        }

        Assert.Equal("minimum_cell_size", policy.Decide(Outcomes(null)).Rule); // the default 11 is below this site's 20
        Assert.Equal("minimum_cell_size", policy.Decide(Outcomes("3")).Rule);
        Assert.True(policy.Decide(Outcomes("20")).Accept, policy.Decide(Outcomes("20")).Reason);
    }

    [Fact]
    public void By_default_a_site_joins_no_exact_study_and_sends_no_exact_small_count()
    {
        var policy = SitePolicy.Parse(SitePolicy.DefaultYaml);
        Assert.False(policy.DpMayBeOff);
        Assert.False(policy.ExactSmallCounts);
        Assert.False(Parse().ExactSmallCounts); // a policy that does not say so does not allow it
        Assert.True(Parse(dp: "dp_may_be_off: true\nexact_small_counts: true").ExactSmallCounts);
    }

    [Theory]
    [InlineData("sensitive_allowed:\n  HRESCH: [tattoos]", "sensitive_allowed.HRESCH")]
    [InlineData("sensitive_allowed:\n  NOTACODE: [hiv]", "sensitive_allowed")]
    [InlineData("retention_years: 2", "retention_years")]
    [InlineData("minimum_cell_size: 0", "minimum_cell_size")]
    [InlineData("dp_colluding_nodes: -1", "dp_colluding_nodes")]
    public void Governance_fields_are_validated_naming_the_field(string yaml, string field) =>
        Assert.Contains(field, Assert.Throws<SitePolicyException>(() => Parse(dp: yaml)).Message, StringComparison.Ordinal);

    [Fact]
    public void A_malformed_dp_rho_is_refused_not_read_as_no_noise()
    {
        var study = Study() with { Parameters = new Dictionary<string, string> { ["dp_rho"] = "lots" } };
        var decision = Parse().Decide(study); // this site allows exact aggregates: a misread rho would be accepted
        Assert.False(decision.Accept);
        Assert.Equal("privacy_budgets", decision.Rule);
    }

    [Fact]
    public void A_purpose_without_a_budget_cannot_spend_any_privacy()
    {
        var study = Study(algorithm: "federated-glm") with { Parameters = new Dictionary<string, string> { ["dp_rho"] = "0.01" } };
        Assert.Equal("privacy_budgets", Parse(algorithms: "[federated-glm]", dp: "dp_may_be_off: true\nlifetime_privacy_budget: 10").Decide(study).Rule);
    }

    private static StudySpec Noisy(string rho, string purpose = "HOPERAT") =>
        Study(purpose, algorithm: "federated-glm") with { Parameters = new Dictionary<string, string> { ["dp_rho"] = rho } };

    [Theory]
    [InlineData("0.3", 0.0, 1.6, "all_rules_passed")] // 1.6 + 0.3 ≤ 2
    [InlineData("0.3", 0.0, 1.8, "lifetime_budget")]  // this year's HOPERAT budget has room; the node's life has not
    [InlineData("0.3", 0.8, 0.8, "privacy_budgets")]  // the purpose's year is checked first
    public void A_study_is_charged_to_the_lifetime_budget_across_purposes_and_years_after_the_yearly_one(string rho, double thisYear, double lifetime, string rule)
    {
        var policy = Parse(purposes: "[HOPERAT, HPAYMT]", algorithms: "[federated-glm]", dp: "privacy_budgets:\n  HOPERAT: 1.0\n  HPAYMT: 1.0\nlifetime_privacy_budget: 2.0");
        var decision = policy.Decide(Noisy(rho), new SpentSoFar(thisYear, lifetime));
        Assert.Equal(rule, decision.Rule);
        Assert.Equal(rule == "all_rules_passed", decision.Accept);
        if (rule == "lifetime_budget")
        {
            Assert.Contains("1.8 of this node's lifetime 2", decision.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Without_a_lifetime_budget_a_site_joins_no_study_that_adds_noise_and_still_joins_exact_ones()
    {
        var policy = Parse(algorithms: "[federated-glm, federated-sum]", dp: "dp_may_be_off: true\nprivacy_budgets:\n  HOPERAT: 1.0");
        var refused = policy.Decide(Noisy("0.01"));
        Assert.Equal(("lifetime_budget", false), (refused.Rule, refused.Accept));
        Assert.Contains("sets no lifetime_privacy_budget", refused.Reason, StringComparison.Ordinal);
        Assert.True(policy.Decide(Study()).Accept);
    }

    [Fact]
    public void With_max_sites_per_person_a_study_is_charged_k_squared_rho_against_both_budgets()
    {
        // A person at up to 3 hospitals is 3 records of the same sum: the release costs them 3² ρ (group privacy).
        var policy = Parse(algorithms: "[federated-glm]", dp: "privacy_budgets:\n  HOPERAT: 1.0\nlifetime_privacy_budget: 2.0\nmax_sites_per_person: 3");
        Assert.Equal(new PrivacyUnit(3), policy.PrivacyUnit);
        Assert.Equal(0.9, policy.PrivacyUnit.Charge(0.1), 12);

        var fits = policy.Decide(Noisy("0.1"), new SpentSoFar(0.1, 1.1));
        Assert.True(fits.Accept, fits.Reason);
        Assert.Contains("zCDP rho 0.9 (3² × 0.1 per hospital record)", fits.Reason, StringComparison.Ordinal);

        // ρ 0.05 would fit this year's 1.0 with 0.6 spent per hospital record; its charge of 0.45 per person does not.
        var year = policy.Decide(Noisy("0.05"), new SpentSoFar(0.6, 0.6));
        Assert.Equal(("privacy_budgets", false), (year.Rule, year.Accept));
        Assert.Contains("3² × 0.05", year.Reason, StringComparison.Ordinal);
        var life = policy.Decide(Noisy("0.05"), new SpentSoFar(0, 1.6));
        Assert.Equal(("lifetime_budget", false), (life.Rule, life.Accept));

        // Without the field the same study is charged its ρ per hospital record.
        var perRecord = Parse(algorithms: "[federated-glm]", dp: "privacy_budgets:\n  HOPERAT: 1.0\nlifetime_privacy_budget: 2.0");
        Assert.False(perRecord.PrivacyUnit.IsPerson);
        Assert.True(perRecord.Decide(Noisy("0.05"), new SpentSoFar(0.6, 0.6)).Accept);
    }

    [Theory]
    [InlineData("[NOTACODE]", "[federated-sum]", "3", "purposes_allowed")]
    [InlineData("[HOPERAT]", "[federated-sum]", "1", "minimum_nodes")]
    [InlineData("[HOPERAT", "[federated-sum]", "3", "line")]
    public void A_bad_policy_is_refused_naming_the_field_or_line(string purposes, string algorithms, string min, string expected) =>
        Assert.Contains(expected, Assert.Throws<SitePolicyException>(() => Parse(purposes, algorithms, min)).Message, StringComparison.Ordinal);

    [Fact]
    public void A_trusted_coordinator_key_that_is_not_an_ed25519_key_is_refused() =>
        Assert.Contains("trusted_coordinators[0].public_key", Assert.Throws<SitePolicyException>(() => SitePolicy.Parse("""
            version: 1
            trusted_coordinators:
              - name: aco
                public_key: not-a-key
            minimum_nodes: 3
            """)).Message, StringComparison.Ordinal);

    [Fact]
    public async Task A_node_with_an_invalid_policy_refuses_to_start_and_says_why()
    {
        var e = await NodeService.RefusesToStart(await NodeService.WithPolicy("badpolicy", "version: 1\nminimum_nodes: 1\n"));
        Assert.Contains("site policy is invalid", e.Message, StringComparison.Ordinal);
        Assert.Contains("minimum_nodes", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://0.0.0.0:7480")]
    [InlineData("http://10.1.2.3:7480")]
    [InlineData("http://example.org:7480")]
    public async Task A_node_refuses_to_listen_beyond_loopback(string adminUrl)
    {
        var e = await NodeService.RefusesToStart(TestFederation.TempDir("nonloopback"), adminUrl);
        Assert.Contains("loopback", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_study_file_names_the_field_that_is_wrong()
    {
        Assert.Equal("purpose_of_use", Assert.Throws<StudyFileException>(() => StudyFile.Parse("id: a\nalgorithm: federated-sum\npurpose_of_use: FUN\n")).Field);
        Assert.Equal("min_nodes", Assert.Throws<StudyFileException>(() => StudyFile.Parse("id: a\nalgorithm: federated-sum\npurpose_of_use: HOPERAT\nmin_nodes: 1\n")).Field);
        var unknown = Assert.Throws<StudyFileException>(() => StudyFile.Parse("id: a\nalgorithm: x\npurpose_of_use: HOPERAT\ncolour: blue\n"));
        Assert.Equal(4, unknown.Line);
    }
}

public sealed class PolicyExampleTests
{
    private static string PoliciesDir() => Path.Combine(DeploymentTests.RepositoryRoot(), "policies");

    public static TheoryData<string> Examples() => [.. Directory.GetFiles(Path.Combine(PoliciesDir(), "examples"), "*.yaml").Select(f => Path.GetFileName(f))];

    [Theory]
    [MemberData(nameof(Examples))]
    public void Every_example_policy_is_valid_and_uses_only_fields_the_schema_defines(string file)
    {
        var yaml = File.ReadAllText(Path.Combine(PoliciesDir(), "examples", file));
        SitePolicy.Parse(yaml, file);
        using var schema = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(PoliciesDir(), "schema", "site-policy.schema.json")));
        var fields = schema.RootElement.GetProperty("properties").EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(yaml));
        foreach (var key in ((YamlDotNet.RepresentationModel.YamlMappingNode)stream.Documents[0].RootNode).Children.Keys)
        {
            Assert.Contains(key.ToString(), fields);
        }
    }

    [Fact]
    public void The_default_policy_a_node_writes_matches_the_deny_all_example()
    {
        var fromNode = SitePolicy.Parse(SitePolicy.DefaultYaml);
        var example = SitePolicy.Parse(File.ReadAllText(Path.Combine(PoliciesDir(), "examples", "deny-all.yaml")));
        Assert.Equal(example.PurposesAllowed, fromNode.PurposesAllowed);
        Assert.Equal(example.AlgorithmsAllowed, fromNode.AlgorithmsAllowed);
        Assert.Equal(example.MinimumNodes, fromNode.MinimumNodes);
        Assert.Equal((example.DpMayBeOff, example.ExactSmallCounts), (fromNode.DpMayBeOff, fromNode.ExactSmallCounts));
        Assert.Empty(fromNode.TrustedCoordinators);
    }
}
