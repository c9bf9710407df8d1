using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Node;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The site policy is validated against policies/schema/site-policy.schema.json at run time (the node's copy is
/// embedded from that file): every field's bad value is refused naming the field and the line it is on.
/// </summary>
public sealed class PolicySchemaTests
{
    // Line numbers below count from this text: the field under test is always appended as line 3 and on.
    private const string Head = "version: 1\nminimum_nodes: 3\n";

    [Theory]
    [InlineData("version: 2\nminimum_nodes: 3", "version", 1)]
    [InlineData("version: one\nminimum_nodes: 3", "version", 1)]
    [InlineData("version: 1\nminimum_nodes: 1", "minimum_nodes", 2)]
    [InlineData("version: 1\nminimum_nodes: three", "minimum_nodes", 2)]
    [InlineData("version: 1\nminimum_nodes: 2.5", "minimum_nodes", 2)]
    [InlineData("trusted_coordinators: yes", "trusted_coordinators", 3)]
    [InlineData("trusted_coordinators:\n  - name: aco\n    public_key: not-a-key", "trusted_coordinators[0].public_key", 5)]
    [InlineData("trusted_coordinators:\n  - public_key: 3xXp9QpYQvT0bq1kDuV4M6aGk0m7tW8yDq4R7lq0jP0=", "trusted_coordinators[0]", 4)]
    [InlineData("trusted_coordinators:\n  - name: \"\"\n    public_key: 3xXp9QpYQvT0bq1kDuV4M6aGk0m7tW8yDq4R7lq0jP0=", "trusted_coordinators[0].name", 4)]
    [InlineData("trusted_coordinators:\n  - name: aco\n    public_key: 3xXp9QpYQvT0bq1kDuV4M6aGk0m7tW8yDq4R7lq0jP0=\n    url: http://x", "trusted_coordinators[0].url", 6)]
    [InlineData("purposes_allowed: [HOPERAT, FUN]", "purposes_allowed[1]", 3)]
    [InlineData("purposes_allowed: [HOPERAT, HOPERAT]", "purposes_allowed", 3)]
    [InlineData("purposes_allowed: HOPERAT", "purposes_allowed", 3)]
    [InlineData("algorithms_allowed: [federated-sum, 7]", "algorithms_allowed[1]", 3)]
    [InlineData("consent_default:\n  HOPERAT: opt-in\n  HRESCH: maybe", "consent_default.HRESCH", 5)]
    [InlineData("consent_default:\n  NOTACODE: opt-in", "consent_default.NOTACODE", 4)]
    [InlineData("dp_may_be_off: perhaps", "dp_may_be_off", 3)]
    [InlineData("privacy_budgets:\n  HOPERAT: -0.5", "privacy_budgets.HOPERAT", 4)]
    [InlineData("privacy_budgets:\n  HOPERAT: lots", "privacy_budgets.HOPERAT", 4)]
    [InlineData("privacy_budgets:\n  NOTACODE: 1", "privacy_budgets.NOTACODE", 4)]
    [InlineData("max_sites_per_person: 0", "max_sites_per_person", 3)]
    [InlineData("max_sites_per_person: 2.5", "max_sites_per_person", 3)]
    [InlineData("max_sites_per_person: several", "max_sites_per_person", 3)]
    [InlineData("lifetime_privacy_budget: -4", "lifetime_privacy_budget", 3)]
    [InlineData("lifetime_privacy_budget: plenty", "lifetime_privacy_budget", 3)]
    [InlineData("lifetime_privacy_budget:\n  epsilon: 8", "lifetime_privacy_budget", 3)]
    [InlineData("lifetime_privacy_budget:\n  epsilon: 8\n  delta: 1.0e-6\n  years: 10", "lifetime_privacy_budget.years", 6)]
    [InlineData("sensitive_allowed:\n  HRESCH: hiv", "sensitive_allowed.HRESCH", 4)]
    [InlineData("sensitive_allowed:\n  NOTACODE: [hiv]", "sensitive_allowed.NOTACODE", 4)]
    [InlineData("sensitive_allowed:\n  HRESCH: [HIV]", "sensitive_allowed.HRESCH[0]", 4)]
    [InlineData("sensitive_codes:\n  hiv:\n    codes:\n      - system: http://snomed.info/sct\n        code: \"1\"", "sensitive_codes.hiv", 4)]
    [InlineData("sensitive_codes:\n  genetic: {}", "sensitive_codes.genetic", 4)]
    [InlineData("sensitive_codes:\n  genetic:\n    codes:\n      - system: http://snomed.info/sct", "sensitive_codes.genetic.codes[0]", 6)]
    [InlineData("sensitive_codes:\n  genetic:\n    file: genetic.csv", "sensitive_codes.genetic", 4)]
    [InlineData("sensitive_codes:\n  genetic:\n    file: /etc/passwd.csv\n    sha256: 0000000000000000000000000000000000000000000000000000000000000000", "sensitive_codes.genetic.file", 5)]
    [InlineData("outcomes_allowed: [Admission]", "outcomes_allowed[0]", 3)]
    [InlineData("minimum_cell_size: 0", "minimum_cell_size", 3)]
    [InlineData("retention_years: 2", "retention_years", 3)]
    [InlineData("retention_years: \"7\"", "retention_years", 3)]
    [InlineData("colour: blue", "colour", 3)]
    public void Every_field_with_a_bad_value_is_refused_naming_the_field_and_its_line(string yaml, string field, int line)
    {
        var text = (yaml.StartsWith("version", StringComparison.Ordinal) ? yaml : Head + yaml) + "\n";
        var errors = SitePolicySchema.Validate(text, "site.yaml");
        Assert.Contains(errors, e => e.Field == field && e.Line == line);
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse(text, "site.yaml"));
        Assert.Contains($"line {line}: {field}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version: 111111111111111111111111111111112111211\nminimum_nodes: 3\n", 1)]
    [InlineData("version: 1\nminimum_nodes: -9e40\n", 2)]
    public void A_number_beyond_any_setting_is_refused_with_its_line_not_a_validator_crash(string text, int line)
    {
        // Found by the policy-yaml fuzz target (fuzz/regressions/policy-yaml): the schema validator compares numbers as decimals and
        // threw FormatException on one beyond decimal's range.
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse(text, "site.yaml"));
        Assert.Contains($"site.yaml, line {line}: a number beyond", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_budget_in_epsilon_and_delta_is_charged_as_the_largest_rho_within_it()
    {
        var policy = SitePolicy.Parse(Head + "privacy_budgets:\n  HOPERAT: 0.5\n  PUBHLTH: {epsilon: 3, delta: 1.0e-6}\n");
        Assert.Equal(0.5, policy.PrivacyBudgets["HOPERAT"]);
        var rho = policy.PrivacyBudgets["PUBHLTH"];
        Assert.True(FederatedTwin.Analytics.Privacy.ZcdpAccountant.EpsilonCanonneKamathSteinke(new(rho), 1e-6) <= 3);
        Assert.True(FederatedTwin.Analytics.Privacy.ZcdpAccountant.EpsilonCanonneKamathSteinke(new(rho * 1.001), 1e-6) > 3);
        Assert.InRange(rho, 0.147, 0.25); // above the Bun–Steinke inverse (0.1473), as the tighter conversion allows

        var errors = SitePolicySchema.Validate(Head + "privacy_budgets:\n  PUBHLTH: {epsilon: 3, delta: 0.5}\n");
        Assert.Contains(errors, e => e.Line == 4 && e.Field.StartsWith("privacy_budgets.PUBHLTH", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("privacy_budgets:\n  HOPERAT: -0.5", "line 4: privacy_budgets.HOPERAT: must be at least 0 (got -0.5)")]
    [InlineData("privacy_budgets:\n  HOPERAT: lots", "line 4: privacy_budgets.HOPERAT: must be number or object (got \"lots\")")]
    [InlineData("privacy_budgets:\n  HOPERAT: {epsilon: 3}", "line 4: privacy_budgets.HOPERAT: required field(s) missing: delta")]
    [InlineData("lifetime_privacy_budget: -4", "line 3: lifetime_privacy_budget: must be at least 0 (got -4)")]
    [InlineData("lifetime_privacy_budget: plenty", "line 3: lifetime_privacy_budget: must be number or object (got \"plenty\")")]
    [InlineData("max_sites_per_person: 0", "line 3: max_sites_per_person: must be at least 1 (got 0)")]
    public void A_budget_of_a_number_or_an_epsilon_delta_pair_is_refused_with_what_the_value_of_its_kind_must_be(string yaml, string error)
    {
        // A value fails every alternative of the schema's oneOf; only the alternative of its own type is worth reading.
        var errors = SitePolicySchema.Validate(Head + yaml + "\n");
        Assert.Equal([error], errors.Select(e => e.ToString()));
    }

    [Fact]
    public void The_lifetime_budget_and_the_privacy_unit_are_read_as_stated()
    {
        var rho = SitePolicy.Parse(Head + "lifetime_privacy_budget: 4\n");
        Assert.Equal(4, rho.LifetimeBudget!.Rho);
        Assert.Null(rho.LifetimeBudget.Stated);
        Assert.False(rho.PrivacyUnit.IsPerson); // no max_sites_per_person: per hospital record
        Assert.Equal(1, rho.PrivacyUnit.GroupSize);

        var pair = SitePolicy.Parse(Head + "lifetime_privacy_budget: {epsilon: 10, delta: 1.0e-6}\nmax_sites_per_person: 2\n");
        Assert.Equal(new FederatedTwin.Analytics.Privacy.EpsilonDelta(10, 1e-6), pair.LifetimeBudget!.Stated);
        Assert.True(FederatedTwin.Analytics.Privacy.ZcdpAccountant.EpsilonCanonneKamathSteinke(new(pair.LifetimeBudget.Rho), 1e-6) <= 10);
        Assert.True(FederatedTwin.Analytics.Privacy.ZcdpAccountant.EpsilonCanonneKamathSteinke(new(pair.LifetimeBudget.Rho * 1.001), 1e-6) > 10);
        Assert.Equal((true, 2, 4.0), (pair.PrivacyUnit.IsPerson, pair.PrivacyUnit.GroupSize, pair.PrivacyUnit.GroupFactor));

        var errors = SitePolicySchema.Validate(Head + "lifetime_privacy_budget: {epsilon: 10, delta: 0.01}\n");
        Assert.Contains(errors, e => e.Line == 3 && e.Field.StartsWith("lifetime_privacy_budget", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_required_field_is_named()
    {
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse("version: 1\npurposes_allowed: [HOPERAT]\n", "site.yaml"));
        Assert.Contains("minimum_nodes", error.Message, StringComparison.Ordinal);
        Assert.Contains("required", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version: 1\nminimum_nodes: 3\npurposes_allowed: [HOPERAT\n", 4)]
    [InlineData("version: 1\nminimum_nodes: 3\nconsent_default:\n  HOPERAT: opt-in\n   HRESCH: opt-in\n", 5)]
    [InlineData("version: 1\nminimum_nodes: 3\nminimum_nodes: 4\n", 3)]
    [InlineData("version: 1\nminimum_nodes: 3\n  purposes_allowed: [HOPERAT]\n", 3)]
    public void Yaml_that_cannot_be_read_is_refused_naming_its_line(string yaml, int line)
    {
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse(yaml, "site.yaml"));
        Assert.Contains($"site.yaml, line {line}:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_violation_is_reported_not_only_the_first()
    {
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse("version: 1\nminimum_nodes: 1\nretention_years: 3\n", "site.yaml"));
        Assert.Equal([2, 3], error.Errors.Select(e => e.Line));
        Assert.Equal(["minimum_nodes", "retention_years"], error.Errors.Select(e => e.Field));
    }

    [Fact]
    public void The_embedded_schema_is_the_file_in_policies_schema()
    {
        var file = File.ReadAllText(Path.Combine(DeploymentTests.RepositoryRoot(), "policies", "schema", "site-policy.schema.json"));
        Assert.Equal(file.ReplaceLineEndings("\n"), SitePolicySchema.Text.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void The_schemas_purposes_of_use_are_the_protocols()
    {
        using var schema = System.Text.Json.JsonDocument.Parse(SitePolicySchema.Text);
        var codes = schema.RootElement.GetProperty("properties").GetProperty("purposes_allowed").GetProperty("items").GetProperty("enum").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        Assert.True(codes.SetEquals(PurposeOfUse.Known), $"schema: {string.Join(",", codes)}; protocol: {string.Join(",", PurposeOfUse.Known)}");
        var builtIn = schema.RootElement.GetProperty("properties").GetProperty("sensitive_codes").GetProperty("propertyNames").GetProperty("not").GetProperty("enum").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        Assert.True(builtIn.SetEquals(SitePolicy.SensitiveCategories), "the schema's reserved category names are sensitive-codes.csv's categories");
    }

    [Fact]
    public void A_custom_code_list_file_is_read_only_with_the_sha256_the_policy_pins()
    {
        var dir = TestFederation.TempDir("codelist");
        const string Csv = "# genetic testing results (state genetic privacy law)\nsystem,code\nhttp://snomed.info/sct,405824009\nhttp://hl7.org/fhir/sid/icd-10-cm,Z15*\n";
        File.WriteAllText(Path.Combine(dir, "genetic.csv"), Csv);
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Csv)));
        string Policy(string pin) => $"version: 1\nminimum_nodes: 3\nsensitive_allowed:\n  HRESCH: [genetic]\nsensitive_codes:\n  genetic:\n    file: genetic.csv\n    sha256: {pin}\n    codes:\n      - system: http://loinc.org\n        code: 21636-6\n";
        File.WriteAllText(Path.Combine(dir, "policy.yaml"), Policy(sha));

        var policy = SitePolicy.Load(Path.Combine(dir, "policy.yaml"));
        Assert.Equal(3, policy.CustomSensitiveCodes["genetic"].Count);
        Assert.Equal("genetic", policy.SensitiveCodes.Match("http://snomed.info/sct", "405824009"));
        Assert.Equal("genetic", policy.SensitiveCodes.Match("http://hl7.org/fhir/sid/icd-10-cm", "Z15.01"));
        Assert.Equal("genetic", policy.SensitiveCodes.Match("http://loinc.org", "21636-6"));
        Assert.Equal("sud", policy.SensitiveCodes.Match("http://hl7.org/fhir/sid/icd-10-cm", "F10.20")); // built-in lists still apply
        Assert.Contains("genetic", policy.SensitiveAllowedFor("HRESCH"));
        Assert.NotNull(policy.SensitiveCodesFingerprint);

        File.WriteAllText(Path.Combine(dir, "genetic.csv"), Csv + "http://snomed.info/sct,1234\n"); // edited after the policy was approved
        var changed = Assert.Throws<SitePolicyException>(() => SitePolicy.Load(Path.Combine(dir, "policy.yaml")));
        Assert.Contains("sensitive_codes.genetic.sha256", changed.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(dir, "genetic.csv"), "code,system\nx,y\n");
        File.WriteAllText(Path.Combine(dir, "policy.yaml"), Policy(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "genetic.csv"))))));
        Assert.Contains("genetic.csv, line 1", Assert.Throws<SitePolicyException>(() => SitePolicy.Load(Path.Combine(dir, "policy.yaml"))).Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(dir, "policy.yaml"), Policy(sha).Replace("file: genetic.csv", "file: ../genetic.csv", StringComparison.Ordinal));
        Assert.Contains("inside the policy's directory", Assert.Throws<SitePolicyException>(() => SitePolicy.Load(Path.Combine(dir, "policy.yaml"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_custom_list_cannot_take_a_code_out_of_a_built_in_category()
    {
        var policy = SitePolicy.Parse("""
            version: 1
            minimum_nodes: 3
            sensitive_codes:
              local:
                codes:
                  - system: http://hl7.org/fhir/sid/icd-10-cm
                    code: F10.20
                  - system: http://snomed.info/sct
                    code: "86406008"
            """);
        Assert.Equal("sud", policy.SensitiveCodes.Match("http://hl7.org/fhir/sid/icd-10-cm", "F10.20"));
        Assert.Equal("hiv", policy.SensitiveCodes.Match("http://snomed.info/sct", "86406008"));

        // A record coded both ways keeps the built-in category, whichever coding comes first.
        var site = SitePolicy.Parse(Head + "sensitive_codes:\n  local:\n    codes:\n      - {system: http://snomed.info/sct, code: \"1234\"}\n");
        Assert.Equal("sud", site.SensitiveCodes.MatchAny([("http://snomed.info/sct", "1234"), ("http://hl7.org/fhir/sid/icd-10-cm", "F11.20")]));
        Assert.Equal("local", site.SensitiveCodes.MatchAny([("http://snomed.info/sct", "1234"), ("http://loinc.org", "x")]));
    }

    [Fact]
    public void An_allowed_category_must_be_built_in_or_defined()
    {
        var error = Assert.Throws<SitePolicyException>(() => SitePolicy.Parse("version: 1\nminimum_nodes: 3\nsensitive_allowed:\n  HRESCH: [genetic]\n", "site.yaml"));
        Assert.Contains("site.yaml, line 4: sensitive_allowed.HRESCH: unknown category genetic", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_with_a_policy_that_fails_the_schema_refuses_to_start_naming_line_and_field()
    {
        var e = await NodeService.RefusesToStart(await NodeService.WithPolicy("schemapolicy", "version: 1\nminimum_nodes: 3\nprivacy_budgets:\n  HOPERAT: -1\n"));
        Assert.Contains("line 4: privacy_budgets.HOPERAT", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ftwin_policy_check_uses_the_same_validation()
    {
        var dir = TestFederation.TempDir("policycheck");
        var file = Path.Combine(dir, "policy.yaml");
        File.WriteAllText(file, "version: 1\nminimum_nodes: 3\npurposes_allowed: [HOPERAT]\nretention_years: 5\n");
        var (code, output) = RunFtwin("policy", "check", file);
        Assert.Equal(2, code);
        Assert.Contains("line 4: retention_years: must be at least 6", output, StringComparison.Ordinal);

        File.WriteAllText(file, "version: 1\nminimum_nodes: 3\npurposes_allowed: [HOPERAT]\nsensitive_codes:\n  genetic:\n    codes:\n      - {system: http://snomed.info/sct, code: \"405824009\"}\n");
        (code, output) = RunFtwin("policy", "check", file);
        Assert.Equal(0, code);
        Assert.Contains("custom sensitive categories genetic (1 codes)", output, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Output) RunFtwin(params string[] args)
    {
        var log = Path.Combine(TestFederation.TempDir("ftwin"), "ftwin.log");
        using var process = FederatedTwin.Cli.Demo.ChildProcess.StartFtwin(args, log);
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "ftwin did not finish in 60 s");
        return (process.ExitCode, File.ReadAllText(log));
    }
}
