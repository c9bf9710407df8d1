using System.Text.Json.Nodes;
using FederatedTwin.Node;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Audit.Tests;

/// <summary>`ftwin node features export` writes de-identified patient-level rows out of the store: the trail records that it happened, its scope and size.</summary>
public sealed class FeatureExportAuditTests
{
    [Fact]
    public void A_feature_export_is_audited_with_its_scope_and_size_never_its_rows()
    {
        var dir = AuditTestSupport.TempDir("features-export");
        NodeDirectory.OpenOrInitialize(dir).Dispose();
        var (code, stdout, stderr) = AuditTestSupport.Ftwin("node", "features", "export", "--node-dir", dir);
        Assert.True(code == 0, stderr);
        var header = stdout.Split('\n')[0].Trim();
        var entry = Assert.Single(AuditTestSupport.NodeEntries(dir), e => e.Action == AuditActions.FeaturesExported);
        var detail = JsonNode.Parse(entry.Detail)!;
        Assert.Equal("all", detail["scope"]!.GetValue<string>());
        Assert.Equal(0, detail["rows"]!.GetValue<long>()); // a new node has no patient-years: only the header line
        Assert.Equal(header.Split(',').Length, detail["columns"]!.GetValue<int>());
        Assert.Equal("R", AuditActions.Coding(AuditActions.FeaturesExported).FhirAction);
    }
}
