using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Census;

/// <summary>
/// A federated sum (<c>federated-sum</c>): every node contributes one named vector of exact counts (<see cref="LocalVectors"/>,
/// by default the census by age band and sex of parameters.year), and the coordinator publishes the sum as a count table with
/// the minimum cell size applied. Read the same way by the coordinator and by every node.
/// </summary>
public static class CensusStudy
{
    public const string AlgorithmName = "federated-sum";

    /// <summary>The vector the study counts: parameters.vector, by default the census.</summary>
    public static string Vector(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return study.Parameters?.GetValueOrDefault(RoundBasis.VectorParameter) ?? LocalVectors.PatientsByAgeBandAndSex;
    }

    /// <summary>The vector a round names (every round of a federated sum names one).</summary>
    public static string Vector(RoundRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Parameters.GetValueOrDefault(RoundBasis.VectorParameter) ?? throw new InvalidOperationException("The round names no vector.");
    }

    /// <summary>The census year a round names, as the study declares it in parameters.year.</summary>
    public static int Year(RoundRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return int.Parse(request.Parameters.GetValueOrDefault("year") ?? throw new InvalidOperationException("The round names no census year."), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>What every round carries besides the study's parameters: the vector and the purpose.</summary>
    public static RoundBasis Basis(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return new RoundBasis(study.PurposeOfUse.Code, Vector: Vector(study));
    }
}
