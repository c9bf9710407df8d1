using System.Text.Json;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.FedAvg;

/// <summary>
/// What one FedAvg round asks of the nodes besides the study itself: plain FedAvg sends the global weights (features…,
/// intercept; none in round 1), DP-FedSGD the point (intercept, x̃ coefficients) at which the nodes evaluate their clipped
/// gradient sums (<see cref="FedAvgPrivacy"/>). The coordinator writes it, each node reads it; the wire carries each vector as
/// JSON in one round parameter, and this type is the only code that names or parses those parameters.
/// </summary>
public sealed record FedAvgRound(IReadOnlyList<double>? Weights, IReadOnlyList<double>? Point) : IRoundState
{
    /// <summary>The parameter carrying the global weights for a round, as JSON; absent in round 1.</summary>
    private const string WeightsParameter = "fedavg_weights";

    /// <summary>The parameter carrying the DP gradient's point, as JSON.</summary>
    private const string PointParameter = "fedavg_dp_point";

    /// <summary>The round parameters a FedAvg round may add to its study's: the node allows no others.</summary>
    public static IReadOnlySet<string> Keys { get; } = new HashSet<string>([WeightsParameter, PointParameter], StringComparer.Ordinal);

    /// <summary>Plain FedAvg's first round: the nodes start from their own fit.</summary>
    public static FedAvgRound First { get; } = new(null, null);

    public IReadOnlyList<KeyValuePair<string, string>> Parameters =>
    [
        .. Weights is null ? [] : new[] { KeyValuePair.Create(WeightsParameter, JsonSerializer.Serialize(Weights)) },
        .. Point is null ? [] : new[] { KeyValuePair.Create(PointParameter, JsonSerializer.Serialize(Point)) },
    ];

    public static FedAvgRound Read(RoundRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new FedAvgRound(Vector(request, WeightsParameter), Vector(request, PointParameter));
    }

    private static double[]? Vector(RoundRequest request, string name) =>
        request.Parameters.GetValueOrDefault(name) is { } json
            ? JsonSerializer.Deserialize<double[]>(json) ?? throw new InvalidOperationException($"The round's {name} is empty.")
            : null;
}
