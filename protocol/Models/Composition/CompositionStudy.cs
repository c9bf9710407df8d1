using System.Globalization;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Privacy;

namespace FederatedTwin.Protocol.Models.Composition;

/// <summary>
/// A population-composition study (DESIGN §8): each node counts its patients alive at the start of a year
/// into age band × sex × condition-count cells and per-condition prevalence cells (one row per patient, so
/// the L2 sensitivity is √12), adds its share of discrete Gaussian noise in the integer domain, and the
/// coordinator publishes the sum with small cells suppressed. Read the same way by coordinator and nodes.
/// </summary>
public sealed record CompositionStudy(int Year, double Rho, int MinimumCellSize, int MinNodes)
{
    public const string AlgorithmName = "federated-composition";

    public static int VectorLength => CompositionLayout.CompositionCells + CompositionLayout.PrevalenceCells;

    public static CompositionStudy Parse(StudySpec study) => Parse(study.Parameters ?? new Dictionary<string, string>(), study.MinNodes);

    public static CompositionStudy Parse(IReadOnlyDictionary<string, string> p, int minNodes)
    {
        var year = p.GetValueOrDefault("year") is { } y && int.TryParse(y, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 1900 and <= 2100
            ? n : throw new StudyFileException("parameters.year", "required: the census year (1900-2100)");
        var rho = StudyPrivacy.Rho(p);
        return new CompositionStudy(year, rho, CountTableRelease.StudyMinimumCellSize(p), minNodes);
    }

    /// <summary>
    /// The variance of the noise each node adds: the target σ² = Δ²/(2ρ) (Bun &amp; Steinke 2016) split so the
    /// study's minimum number of nodes alone reach it (Kairouz, Liu &amp; Steinke 2021); 0 without DP.
    /// </summary>
    public double PerNodeVariance => Rho == 0 ? 0 : NoiseShare.PerNodeVariance(Math.Pow(ZcdpAccountant.GaussianSigma(CompositionLayout.L2Sensitivity, new ZcdpRho(Rho)), 2), MinNodes);
}
