using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Node.Twins;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The federation's models in a node's own registry (issue 21): stored only with the coordinator's signature under the pinned key,
/// checked again when a twin reads them, released or not by the node's own reading of the document, the newest per outcome used.
/// </summary>
[Trait("Category", "Twin")]
public sealed class ModelDistributionTests
{
    /// <summary>A converged GLM registry document of the admission outcome, as the coordinator stores it.</summary>
    internal static string Document(string study, double heartFailure = 0.7, bool converged = true, string createdAt = "2026-01-01T00:00:00.0000000+00:00")
    {
        var model = new RegisteredModel(RegisteredModel.GlmId("admission_next_year", study), "glm", GlmFamily.Binomial, "admission_next_year", null,
            [new ModelTerm(ModelTerm.Intercept, -3, 0.1, -3.2, -2.8), new ModelTerm("age_band[65-74]", 0.5, 0.05, 0.4, 0.6), new ModelTerm("heart_failure", heartFailure, 0.1, 0.5, 0.9)],
            1, 900, 1000, 906, 4000, 3, 9, study, "HOPERAT", DateTimeOffset.Parse(createdAt, System.Globalization.CultureInfo.InvariantCulture), new ModelPrivacy(false, null));
        var document = JsonNode.Parse(model.ToJson())!.AsObject();
        document["link"] = "logit";
        document["converged"] = converged;
        if (!converged)
        {
            document["release_refused"] = "the fit did not converge in 25 IRLS rounds";
        }

        return document.ToJsonString();
    }

    internal static SignedModel Signed(Ed25519Identity key, string study, string? document = null, string releasedAt = "2026-01-01T00:00:00.0000000+00:00") =>
        SignedModel.Sign(key, RegisteredModel.GlmId("admission_next_year", study), "glm", study, "admission_next_year", releasedAt, document ?? Document(study));

    private static (NodeDirectory Node, Ed25519Identity Coordinator) Node(string name)
    {
        var coordinator = Ed25519Identity.Generate();
        var node = NodeDirectory.OpenOrInitialize(Path.Combine(TestFederation.TempDir("models-" + name), "node"));
        File.WriteAllText(node.PolicyPath, LocalFederation.DemoPolicy(coordinator.PublicKey, "HOPERAT"));
        return (node, coordinator);
    }

    private static List<(string Action, JsonObject Detail)> Audit(NodeDirectory node) =>
        [.. node.Store.Read(c => c.Query<(string action, string detail)>("SELECT action, detail FROM audit_log ORDER BY seq").ToList())
            .Select(e => (e.action, JsonNode.Parse(e.detail)!.AsObject()))];

    [Fact]
    public void A_signed_model_is_kept_and_used_and_one_signed_by_another_key_is_refused_with_the_rule()
    {
        var (node, coordinator) = Node("signed");
        using var _ = node;
        using var other = Ed25519Identity.Generate();
        var result = NodeModelRegistry.Store(node, new ModelCatalog([Signed(coordinator, "good"), Signed(other, "forged")]), coordinator.PublicKey, DateTimeOffset.UtcNow);
        Assert.Equal((2, 1, 1), (result.Offered, result.Stored, result.Refused));

        var released = NodeModelRegistry.Released(node);
        var model = Assert.Single(released.Models);
        Assert.Equal("glm/admission_next_year/good", model.Id);
        Assert.Equal(0.7, model.Coefficient("heart_failure"));
        var refusal = Assert.Single(Audit(node), e => e.Action == AuditActions.ModelRefused);
        Assert.Equal(NodeModelRegistry.SignatureRule, refusal.Detail["rule"]!.GetValue<string>());
        Assert.Equal("glm/admission_next_year/forged", refusal.Detail["model_id"]!.GetValue<string>());
        Assert.Contains(Audit(node), e => e.Action == AuditActions.ModelReceived && e.Detail["model_id"]!.GetValue<string>() == "glm/admission_next_year/good");
        coordinator.Dispose();
    }

    [Fact]
    public void A_model_changed_at_rest_in_node_db_is_refused_when_a_twin_reads_it()
    {
        var (node, coordinator) = Node("at-rest");
        using var _ = node;
        NodeModelRegistry.Store(node, new ModelCatalog([Signed(coordinator, "good")]), coordinator.PublicKey, DateTimeOffset.UtcNow);
        Assert.Single(NodeModelRegistry.Released(node).Models);

        // A local user with write access to node.db raises the heart-failure coefficient of the stored document.
        node.Store.Write((c, t) => c.Execute("UPDATE federation_models SET document = @d", new { d = Document("good", heartFailure: 3.5) }, t));
        var released = NodeModelRegistry.Released(node);
        Assert.Empty(released.Models);
        var listing = Assert.Single(released.Listing);
        Assert.False(listing.Released);
        Assert.Contains(NodeModelRegistry.SignatureRule, listing.Reason, StringComparison.Ordinal);
        var refusal = Assert.Single(Audit(node), e => e.Action == AuditActions.ModelRefused);
        Assert.Equal("store", refusal.Detail["source"]!.GetValue<string>());
        coordinator.Dispose();
    }

    [Fact]
    public void A_document_signed_under_another_id_is_refused_an_unconverged_fit_is_kept_but_not_used_and_the_newest_released_model_of_an_outcome_is_used()
    {
        var (node, coordinator) = Node("release");
        using var _ = node;
        var relabelled = SignedModel.Sign(coordinator, RegisteredModel.GlmId("admission_next_year", "relabelled"), "glm", "relabelled", "admission_next_year",
            "2026-01-01T00:00:00.0000000+00:00", Document("other-study"));
        NodeModelRegistry.Store(node, new ModelCatalog([
            Signed(coordinator, "older", Document("older", createdAt: "2025-06-01T00:00:00.0000000+00:00"), "2025-06-01T00:00:00.0000000+00:00"),
            Signed(coordinator, "newer", Document("newer", heartFailure: 0.9, createdAt: "2026-02-01T00:00:00.0000000+00:00"), "2026-02-01T00:00:00.0000000+00:00"),
            Signed(coordinator, "slow", Document("slow", converged: false)),
            relabelled]), coordinator.PublicKey, DateTimeOffset.UtcNow);

        Assert.Contains(Audit(node), e => e.Action == AuditActions.ModelRefused && e.Detail["rule"]!.GetValue<string>() == NodeModelRegistry.DocumentRule);
        var released = NodeModelRegistry.Released(node);
        Assert.Equal("glm/admission_next_year/newer", Assert.Single(released.Models).Id);
        Assert.Equal("glm/admission_next_year/newer", released.Listing.Single(l => l.StudyId == "older").SupersededBy);
        var slow = released.Listing.Single(l => l.StudyId == "slow");
        Assert.False(slow.Released);
        Assert.Contains("converge", slow.Reason, StringComparison.Ordinal);

        // A second fetch of the same catalog stores nothing twice.
        var again = NodeModelRegistry.Store(node, new ModelCatalog([Signed(coordinator, "slow", Document("slow", converged: false))]), coordinator.PublicKey, DateTimeOffset.UtcNow);
        Assert.Equal(1, again.AlreadyHeld);
        coordinator.Dispose();
    }

    [Fact]
    public void A_catalog_from_a_key_the_site_policy_does_not_trust_is_refused_whole()
    {
        var (node, coordinator) = Node("untrusted");
        using var _ = node;
        using var other = Ed25519Identity.Generate();
        Assert.Throws<FederatedTwin.Node.Federation.CoordinatorRefusedException>(() =>
            NodeModelRegistry.Store(node, new ModelCatalog([Signed(other, "x")]), other.PublicKey, DateTimeOffset.UtcNow));
        Assert.Empty(NodeModelRegistry.Released(node).Listing);
        coordinator.Dispose();
    }
}
