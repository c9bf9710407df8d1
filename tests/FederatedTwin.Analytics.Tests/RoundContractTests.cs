using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// The typed round contracts (<see cref="RoundBasis"/>, <see cref="GlmRound"/>, <see cref="FedAvgRound"/>) against the wire
/// spelling nodes of every earlier version read: names, values and order are written out here by hand, so a rename in the
/// types fails these tests instead of silently changing what goes on the wire.
/// </summary>
public sealed class RoundContractTests
{
    private static StudySpec Study(string algorithm, params (string Key, string Value)[] parameters) =>
        new(new StudyId("s"), algorithm, new PurposeOfUse("HOPERAT"), 4, 5, 3, 30) { Parameters = parameters.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal) };

    private static string[] Spelled(RoundBasis basis) => [.. basis.Parameters.Select(p => $"{p.Key}={p.Value}")];

    [Fact]
    public void Every_algorithm_derives_the_round_parameters_it_always_wrote_in_the_same_order()
    {
        Assert.Equal(["purpose_of_use=HOPERAT", "min_nodes=4"], Spelled(GlmStudy.Basis(Study("federated-glm"))));
        Assert.Equal(["purpose_of_use=HOPERAT", "min_nodes=4", "dp_min_honest_nodes=3"], Spelled(GlmStudy.Basis(Study("federated-glm", ("dp_rho", "1")))));
        Assert.Equal(["purpose_of_use=HOPERAT", "min_nodes=4", "dp_min_honest_nodes=2"], Spelled(CompositionStudy.Basis(Study("federated-composition", ("dp_rho", "1"), ("dp_min_honest_nodes", "2")))));
        Assert.Equal(["purpose_of_use=HOPERAT", "min_nodes=4", "fedavg_rounds=3", "dp_min_honest_nodes=3"], Spelled(FedAvgStudy.Basis(Study("federated-fedavg", ("dp_rho", "1")))));
        Assert.Equal(["vector=patients_by_age_band_and_sex", "purpose_of_use=HOPERAT"], Spelled(CensusStudy.Basis(Study("federated-sum"))));
    }

    [Fact]
    public void A_round_request_is_the_studys_parameters_with_the_derived_ones_over_them_and_then_the_state()
    {
        var study = Study("federated-glm", ("family", "binomial"), ("min_nodes", "99"));
        var request = GlmStudy.Basis(study).Request(study, 7, new GlmRound.Evaluate([0.5, -1]));
        Assert.Equal("federated-glm", request.Algorithm);
        Assert.Equal(7, request.ValueCount);
        Assert.Equal("binomial", request.Parameters["family"]);
        Assert.Equal("4", request.Parameters["min_nodes"]); // the study's min_nodes, not a parameter of the same name
        Assert.Equal("HOPERAT", RoundBasis.PurposeOf(request));
        Assert.Equal("[0.5,-1]", request.Parameters["glm_evaluation"]);
        Assert.Equal(["family", "min_nodes", "purpose_of_use", "glm_evaluation"], request.Parameters.Keys);
    }

    [Fact]
    public void A_glm_request_crosses_the_wire_with_its_layout_and_a_non_finite_beta_intact()
    {
        var spec = new GlmSpec(GlmFamily.Binomial, ["a", "b"], new GlmBounds(1000, 10), 4);
        var sent = new GlmRequest(GlmRoundKind.Iterate, 3, GlmLayout.Irls(spec, 100, start: false), 100, null, [0.25, double.NaN, double.PositiveInfinity], null);
        var study = Study("federated-glm");
        var request = GlmStudy.Basis(study).Request(study, sent.Length, new GlmRound.Iterate(sent));
        Assert.Contains("glm_request", request.Parameters.Keys);
        var received = Assert.IsType<GlmRound.Iterate>(GlmRound.Read(request)).Request;
        Assert.Equal(sent.Kind, received.Kind);
        Assert.Equal(sent.Round, received.Round);
        Assert.Equal(sent.Layout, received.Layout);
        Assert.Equal(sent.Beta, received.Beta); // NaN and ∞ arrive as such, so the node refuses them rather than computing at 0
    }

    [Fact]
    public void A_round_without_glm_state_is_an_error_and_the_state_keys_are_exactly_the_wires()
    {
        Assert.Throws<InvalidOperationException>(() => GlmRound.Read(new RoundRequest("federated-glm", 1, new Dictionary<string, string>())));
        Assert.Throws<InvalidOperationException>(() => RoundBasis.PurposeOf(new RoundRequest("federated-glm", 1, new Dictionary<string, string>())));
        Assert.Equal(["glm_evaluation", "glm_request"], GlmRound.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["fedavg_dp_point", "fedavg_weights"], FedAvgRound.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FedAvg_sends_nothing_in_its_first_round_then_weights_or_a_dp_point()
    {
        var study = Study("federated-fedavg");
        Assert.Empty(FedAvgRound.First.Parameters);
        var first = FedAvgStudy.Basis(study).Request(study, 3, FedAvgRound.First);
        Assert.Equal(new FedAvgRound(null, null), FedAvgRound.Read(first));
        var weights = FedAvgStudy.Basis(study).Request(study, 3, new FedAvgRound([1.5, -2, 0], null));
        Assert.Equal("[1.5,-2,0]", weights.Parameters["fedavg_weights"]);
        Assert.Equal([1.5, -2, 0], FedAvgRound.Read(weights).Weights);
        var point = FedAvgStudy.Basis(study).Request(study, 3, new FedAvgRound(null, [0.1, 0.2]));
        Assert.Equal("[0.1,0.2]", point.Parameters["fedavg_dp_point"]);
        Assert.Null(FedAvgRound.Read(point).Weights);
        Assert.Equal([0.1, 0.2], FedAvgRound.Read(point).Point);
    }
}
