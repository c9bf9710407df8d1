using FederatedTwin.Analytics.Studies;
using System.Globalization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// The privacy a study declares it spends at each node — parameters.dp_rho (zCDP ρ) — and the minimum number of honest nodes
/// its noise is sized for — parameters.dp_min_honest_nodes (h) — read one way by nodes and coordinator.
/// </summary>
public static class StudyPrivacy
{
    public const string RhoParameter = "dp_rho";

    /// <summary>
    /// h: how many of a sum's participants the noise relies on being honest. Each node adds σ²/h (<see cref="NoiseShare"/>), so
    /// any h honest shares alone reach the target σ², and up to min_nodes − h colluding participants (who know, and can
    /// subtract, their own shares) leave the promised noise in place. Every DP round carries it, set to the study's value.
    /// </summary>
    public const string MinHonestNodesParameter = "dp_min_honest_nodes";

    /// <summary>The declared ρ; 0 when the study adds no noise. A malformed or non-positive value is an error naming the field.</summary>
    public static double Rho(IReadOnlyDictionary<string, string>? parameters) =>
        parameters?.GetValueOrDefault(RhoParameter) is not { } text ? 0
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var rho) && rho > 0 && double.IsFinite(rho) ? rho
        : throw new StudyFileException("parameters." + RhoParameter, "must be a positive zCDP rho");

    /// <summary>
    /// The study's h: parameters.dp_min_honest_nodes, a whole number from 1 to min_nodes; when a study omits it, min_nodes − 1
    /// (at least 1). Why that default: the coalition the threat model names first is the coordinator with one rostered
    /// hospital, and sizing the shares for min_nodes honest nodes would let that one colluder thin the honest noise to
    /// (m − 1)/m of the promise; min_nodes − 1 keeps the promise against it for a variance cost of m/(m − 1) (1.5× at m = 3).
    /// A site that assumes more colluders refuses the study by its policy's dp_colluding_nodes.
    /// </summary>
    public static int MinHonestNodes(IReadOnlyDictionary<string, string>? parameters, int minNodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minNodes);
        if (parameters?.GetValueOrDefault(MinHonestNodesParameter) is not { } text)
        {
            return Math.Max(1, minNodes - 1);
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var h) && h >= 1 && h <= minNodes
            ? h
            : throw new StudyFileException("parameters." + MinHonestNodesParameter, FormattableString.Invariant($"must be a whole number from 1 to min_nodes ({minNodes}): the honest nodes whose noise shares alone reach the target"));
    }

    /// <inheritdoc cref="MinHonestNodes(IReadOnlyDictionary{string, string}?, int)"/>
    public static int MinHonestNodes(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return MinHonestNodes(study.Parameters, study.MinNodes);
    }

    /// <summary>
    /// h as a DP round carries it: the round parameter the coordinator derives from the study (its value or the default) and
    /// every node holds to the study it accepted. A round without it sizes no noise: an error naming the parameter.
    /// </summary>
    public static int RoundMinHonestNodes(IReadOnlyDictionary<string, string> roundParameters)
    {
        ArgumentNullException.ThrowIfNull(roundParameters);
        return roundParameters.GetValueOrDefault(MinHonestNodesParameter) is { } text && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var h) && h >= 1
            ? h
            : throw new StudyFileException("parameters." + MinHonestNodesParameter, "a DP study's rounds carry the minimum of honest nodes its noise shares are sized for");
    }

    /// <summary>
    /// The h every round of a DP study carries besides the study's own parameters (<see cref="RoundBasis"/>); null for a study
    /// without dp_rho. The coordinator adds it to each round and the node expects exactly it (AcceptedStudy), so a coordinator
    /// cannot lower the noise by raising h in a round.
    /// </summary>
    public static int? RoundMinHonestNodesOf(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return Rho(study.Parameters) > 0 ? MinHonestNodes(study) : null;
    }
}
