using System.Globalization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Studies;

/// <summary>
/// What every round of a study carries besides the study's own parameters, derived from the study alone: its purpose of
/// use, and as the algorithm needs them min_nodes, the study's planned rounds, h (dp_min_honest_nodes) and the census
/// vector. The coordinator writes them into each round (<see cref="Request"/>); every node derives them again from the study
/// it accepted and requires exactly these values, so a coordinator cannot change a study's purpose or noise in one round.
/// This type is the one owner of their parameter names; the wire (<see cref="RoundRequest"/>) carries them as strings.
/// </summary>
public sealed record RoundBasis(string PurposeOfUse, int? MinNodes = null, int? PlannedRounds = null, int? MinHonestNodes = null, string? Vector = null)
{
    public const string PurposeParameter = "purpose_of_use";

    /// <summary>The study's min_nodes, which sizes the GLM's and FedAvg's codec and under DP the default h.</summary>
    public const string MinNodesParameter = "min_nodes";

    /// <summary>The study's planned rounds, over which a DP FedAvg study's ρ is split.</summary>
    public const string PlannedRoundsParameter = "fedavg_rounds";

    /// <summary>The census vector a federated sum counts.</summary>
    public const string VectorParameter = "vector";

    /// <summary>
    /// The parameters as the round carries them, in the order the coordinator has always written them (the vector, the purpose,
    /// min_nodes, the planned rounds, then h).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters
    {
        get
        {
            var p = new List<KeyValuePair<string, string>>();
            if (Vector is not null)
            {
                p.Add(new(VectorParameter, Vector));
            }

            p.Add(new(PurposeParameter, PurposeOfUse));
            Add(p, MinNodesParameter, MinNodes);
            Add(p, PlannedRoundsParameter, PlannedRounds);
            Add(p, Privacy.StudyPrivacy.MinHonestNodesParameter, MinHonestNodes);
            return p;
        }
    }

    /// <summary>
    /// The round request: the study's parameters, these derived ones over them, then the algorithm's per-round state (a GLM
    /// request, FedAvg's weights; <see cref="IRoundState"/>), whose keys the study's parameters may not already hold.
    /// </summary>
    public RoundRequest Request(StudySpec study, int valueCount, IRoundState? state = null)
    {
        ArgumentNullException.ThrowIfNull(study);
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var (key, value) in Parameters)
        {
            parameters[key] = value;
        }

        foreach (var (key, value) in state?.Parameters ?? [])
        {
            parameters[key] = value;
        }

        return new RoundRequest(study.Algorithm, valueCount, parameters);
    }

    /// <summary>
    /// The basis of a study whose rounds are sized by min_nodes and, under DP, by h (each node's noise share and the scales):
    /// the GLM, the composition and the observed outcome totals.
    /// </summary>
    public static RoundBasis WithMinNodesAndHonestNodes(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return new RoundBasis(study.PurposeOfUse.Code, MinNodes: study.MinNodes, MinHonestNodes: Privacy.StudyPrivacy.RoundMinHonestNodesOf(study));
    }

    /// <summary>The purpose of use a round names (every round names one).</summary>
    public static string PurposeOf(RoundRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Parameters.GetValueOrDefault(PurposeParameter) ?? throw new InvalidOperationException("The round names no purpose of use.");
    }

    private static void Add(List<KeyValuePair<string, string>> p, string name, int? value)
    {
        if (value is { } v)
        {
            p.Add(new(name, v.ToString(CultureInfo.InvariantCulture)));
        }
    }
}

/// <summary>
/// An algorithm's per-round state as a round carries it (the GLM's request or evaluation coefficients, FedAvg's global
/// weights or DP point): typed on both sides, written to the wire's string parameters only here.
/// </summary>
public interface IRoundState
{
    /// <summary>The state's round parameters (names the algorithm's state type owns).</summary>
    IReadOnlyList<KeyValuePair<string, string>> Parameters { get; }
}
