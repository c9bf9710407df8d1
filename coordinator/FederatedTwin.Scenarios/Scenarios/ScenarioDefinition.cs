using FederatedTwin.Scenarios.Mssp;
using FederatedTwin.Scenarios.Twin;

namespace FederatedTwin.Scenarios.Scenarios;

/// <summary>MSSP terms of a scenario: settled each performance year on the twin's Medicare-eligible part.</summary>
public sealed record MsspTerms(MsspTrack Track, AssignedBeneficiaries Assigned, decimal BenchmarkPerBeneficiaryYear, bool QualityStandardMet,
    MsrMlrChoice? MsrMlr, decimal? ParticipantRevenue, bool LowRevenue, decimal? QualityScore);

/// <summary>A parsed, validated scenario file.</summary>
public sealed record ScenarioDefinition(
    string Name,
    uint Seed,
    int Population,
    int StartYear,
    int Horizon,
    int Replicates,
    IReadOnlyList<TwinIntervention> Interventions,
    MsspTerms? Mssp);
