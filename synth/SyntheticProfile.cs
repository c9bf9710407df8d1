namespace FederatedTwin.Synthetic;

/// <summary>
/// A hospital's case mix for the generator. Sites differ in who they serve (age, sex, chronic
/// conditions), how much care they give and what it costs, so that a federation of generated sites
/// is non-IID as real ones are; the outcome models (<see cref="GroundTruth"/>) are the same everywhere,
/// so federated training can be checked against them.
/// </summary>
public sealed record SyntheticProfile(
    string Name,
    double MeanAge,
    double AgeSpread,
    double FemaleShare,
    double PrevalenceMultiplier,
    double UtilizationMultiplier,
    double CostMultiplier,
    double ResearchOptOutRate,
    double SubstanceUseRate)
{
    public static readonly IReadOnlyList<SyntheticProfile> All =
    [
        new("urban-academic", MeanAge: 52, AgeSpread: 20, FemaleShare: 0.53, PrevalenceMultiplier: 1.0, UtilizationMultiplier: 1.1, CostMultiplier: 1.35, ResearchOptOutRate: 0.08, SubstanceUseRate: 0.03),
        new("rural-community", MeanAge: 61, AgeSpread: 17, FemaleShare: 0.51, PrevalenceMultiplier: 1.25, UtilizationMultiplier: 0.85, CostMultiplier: 0.9, ResearchOptOutRate: 0.15, SubstanceUseRate: 0.04),
        new("safety-net", MeanAge: 46, AgeSpread: 19, FemaleShare: 0.56, PrevalenceMultiplier: 1.4, UtilizationMultiplier: 1.3, CostMultiplier: 1.0, ResearchOptOutRate: 0.05, SubstanceUseRate: 0.08),
    ];

    public static SyntheticProfile Named(string name) =>
        All.FirstOrDefault(p => p.Name == name) ?? throw new ArgumentException($"Unknown profile '{name}'; known: {string.Join(", ", All.Select(p => p.Name))}.", nameof(name));
}
