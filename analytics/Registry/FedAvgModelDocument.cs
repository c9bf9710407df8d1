namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// A FedAvg (McMahan et al. 2017) or DP-FedSGD logistic model as the coordinator's registry stores it: coefficients only
/// (no inference), the rows and rounds behind them, the local optimizer of the exact variant (null under DP) and its privacy.
/// The twin does not evaluate it (<see cref="ModelRegistry.OtherKinds"/>).
/// </summary>
public sealed record FedAvgModelDocument(
    string Id,
    string Kind,
    string Family,
    string Link,
    string Outcome,
    string? Offset,
    IReadOnlyList<ModelTermDocument> Terms,
    long Rows,
    int Rounds,
    int? LocalIterations,
    double? L2,
    string StudyId,
    string PurposeOfUse,
    string CreatedAt,
    ModelPrivacyDocument Privacy) : IRegistryDocument
{
    /// <summary>The <see cref="Kind"/> of every FedAvg document.</summary>
    public const string FedAvgKind = "fedavg";

    /// <inheritdoc/>
    public string ToJson() => RegistryJson.Serialize(this);

    /// <summary>Parses a stored FedAvg document (<see cref="FormatException"/> if it is not one).</summary>
    public static FedAvgModelDocument FromJson(string json) => RegistryJson.Deserialize<FedAvgModelDocument>(json, "a FedAvg registry document");
}
