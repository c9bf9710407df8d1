using FederatedTwin.Coordinator.Dashboard.Pages.Studies;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>What the studies pages say a study spends (no browser needed): its ρ per hospital record, the unit every node's ρ is declared in.</summary>
public sealed class StudyPrivacyTextTests
{
    private static StudySpec Study(IReadOnlyDictionary<string, string>? parameters) =>
        new(new StudyId("s"), "federated-composition", new PurposeOfUse("HOPERAT"), 3, 3, 1, 30) { Parameters = parameters };

    [Fact]
    public void A_noisy_study_declares_its_rho_per_hospital_record_at_each_node()
    {
        var noisy = Study(new Dictionary<string, string> { ["dp_rho"] = "0.25" });
        Assert.Equal("ρ = 0.25 zCDP per hospital record, at each node", IndexModel.DeclaredRho(noisy));
        Assert.True(IndexModel.IsNoisy(noisy));
    }

    [Fact]
    public void An_exact_study_declares_no_privacy_spend()
    {
        Assert.Equal("none (exact)", IndexModel.DeclaredRho(Study(null)));
        Assert.False(IndexModel.IsNoisy(Study(null)));
        Assert.False(IndexModel.IsNoisy(Study(new Dictionary<string, string> { ["dp_rho"] = "lots" })));
    }
}
