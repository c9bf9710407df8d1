using System.Globalization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Protocol.Privacy;

/// <summary>The privacy a study declares it spends at each node: parameters.dp_rho (zCDP ρ), read one way by nodes and coordinator.</summary>
public static class StudyPrivacy
{
    public const string RhoParameter = "dp_rho";

    /// <summary>The declared ρ; 0 when the study adds no noise. A malformed or non-positive value is an error naming the field.</summary>
    public static double Rho(IReadOnlyDictionary<string, string>? parameters) =>
        parameters?.GetValueOrDefault(RhoParameter) is not { } text ? 0
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var rho) && rho > 0 && double.IsFinite(rho) ? rho
        : throw new StudyFileException("parameters." + RhoParameter, "must be a positive zCDP rho");
}
