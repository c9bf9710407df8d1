using Dapper;
using FederatedTwin.Node;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Federation;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>
/// A site's own sensitive category (sensitive_codes in policy.yaml) is applied exactly like the built-in ones: its
/// records are flagged at ingest and left out of features unless the policy allows the category for the purpose;
/// a change of lists is refused for studies until the ingest has re-flagged the data.
/// </summary>
public sealed class CustomSensitiveCodesTests
{
    private const string Patient = "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1970-01-01\"}";

    // An emergency visit for genetic testing counselling (SNOMED CT 405824009 is not on any built-in list), and a routine one.
    private const string Genetic = "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"EMER\"},"
        + "\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"start\":\"2021-03-04T10:00:00Z\",\"end\":\"2021-03-04T12:00:00Z\"},"
        + "\"reasonCode\":[{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"405824009\"}]}]}";

    private const string Routine = "{\"resourceType\":\"Encounter\",\"id\":\"e2\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},"
        + "\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"start\":\"2021-05-04T10:00:00Z\",\"end\":\"2021-05-04T10:30:00Z\"}}";

    private const string WithGenetic = """
        version: 1
        minimum_nodes: 2
        consent_default:
          HRESCH: opt-out      # the test patient has no Consent resource
        sensitive_allowed:
          HRESCH: [genetic]
        sensitive_codes:
          genetic:
            description: genetic testing (state genetic privacy law)
            codes:
              - system: http://snomed.info/sct
                code: "405824009"
        """;

    [Fact]
    public void A_custom_category_is_excluded_unless_allowed_and_a_change_of_lists_needs_a_re_ingest()
    {
        var export = DataTestSupport.TempDir("custom-sensitive");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), Patient + "\n");
        File.WriteAllText(Path.Combine(export, "Encounter.000.ndjson"), Genetic + "\n" + Routine + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("custom-sensitive-node"));
        File.WriteAllText(node.PolicyPath, WithGenetic);
        Assert.Equal(0, DataTestSupport.Ingest(node, export).Quarantined);

        var policy = node.LoadPolicy();
        double? EdVisits(Policy.SitePolicy p, string purpose) => new FeatureBuilder(node.Store).ForStudy(p, purpose).Single(r => r.Values["year"] == 2021).Values["ed_visits"];
        Assert.Equal(1, EdVisits(policy, "HRESCH"));   // allowed for research
        Assert.Equal(0, EdVisits(policy, "HOPERAT"));  // excluded for operations
        Assert.Equal(1, new FeatureBuilder(node.Store).SensitiveExclusions()["genetic"]);
        var ingestAudit = node.Store.Read(c => c.QuerySingle<string>("SELECT detail FROM audit_log WHERE action='ingest_run' ORDER BY seq DESC LIMIT 1"));
        Assert.Contains(policy.SensitiveCodesFingerprint!, ingestAudit, StringComparison.Ordinal);

        // The officer drops the custom list: until the ingest runs again, the stored flags are not the policy's.
        File.WriteAllText(node.PolicyPath, "version: 1\nminimum_nodes: 2\n");
        var plain = node.LoadPolicy();
        Assert.Equal(3, new FeatureBuilder(node.Store).ResourcesFlaggedUnderOtherCodeLists(plain.SensitiveCodesFingerprint));
        var refused = Assert.Throws<ParticipationRefusedException>(() => EdVisits(plain, "HOPERAT"));
        Assert.Contains("run the ingest again", refused.Message, StringComparison.Ordinal);

        var rerun = DataTestSupport.Ingest(node, export);
        Assert.Equal(0, rerun.Unchanged); // every resource re-flagged under the new lists
        Assert.Equal(0, new FeatureBuilder(node.Store).ResourcesFlaggedUnderOtherCodeLists(plain.SensitiveCodesFingerprint));
        Assert.Equal(1, EdVisits(plain, "HOPERAT"));
        Assert.False(new FeatureBuilder(node.Store).SensitiveExclusions().ContainsKey("genetic"));

        // And back: the list returns, the visit is excluded again after the next ingest; a second run changes nothing.
        File.WriteAllText(node.PolicyPath, WithGenetic);
        DataTestSupport.Ingest(node, export);
        Assert.Equal(0, EdVisits(node.LoadPolicy(), "HOPERAT"));
        Assert.Equal(3, DataTestSupport.Ingest(node, export).Unchanged);
    }
}
