using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Algorithms;

/// <summary>The node side of a study algorithm: what this site computes from its own data when a round asks.</summary>
public interface ILocalAlgorithm
{
    string Name { get; }

    /// <summary>
    /// The round's statistics as fixed-point integers, ready to encrypt, with the named blocks they are laid out in, computed from
    /// <paramref name="data"/>: the data version the study pinned when the node accepted it (<see cref="Federation.AcceptedStudy.Data"/>),
    /// so every round of a study sees the same patients whatever was ingested meanwhile.
    /// </summary>
    LocalStatistics Compute(RoundRequest request, NodeDirectory node, Features.DataSnapshot data, int maxParties);

    /// <summary>
    /// How many values a round of this request returns, from its parameters alone (the layout the accepted study implies), so the
    /// node can refuse a request that names another count before it allocates or computes anything for it.
    /// </summary>
    int ValueCount(RoundRequest request, int maxParties);

    /// <summary>
    /// The zCDP ρ one round of this request spends at this node (0 when it adds no noise). The participant charges it to
    /// the privacy ledger per round and keeps the noised vector, so a retried attempt re-sends it instead of drawing
    /// fresh noise (which would spend the round's ρ again).
    /// </summary>
    double RoundRho(RoundRequest request, int maxParties) => 0;

    /// <summary>
    /// The round parameters the coordinator derives from the study for every round (besides the study's own parameters),
    /// with the values they must have for the accepted study: the node checks them (<see cref="Federation.AcceptedStudy"/>).
    /// The algorithm's analytics type owns them, so the coordinator writes and the node expects the same.
    /// </summary>
    RoundBasis Basis(StudySpec accepted) => new(accepted.PurposeOfUse.Code);

    /// <summary>The parameters that carry the coordinator's per-round state (a GLM request, FedAvg weights): the only keys a round may add.</summary>
    IReadOnlySet<string> StateKeys => new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// For a study with dp_rho: the rounds its ρ is split over, from the accepted study alone — the most rounds in which
    /// this node releases noisy statistics for it. Null: this algorithm adds no noise (a DP study of it is refused).
    /// </summary>
    int? PlannedRounds(StudySpec accepted, int maxParties) => null;

    /// <summary>
    /// What the accepted study releases and over whom (<see cref="Federation.ReleasedStatistic"/>), for the release ledger: an exact
    /// release of one of these over another set of hospitals than an earlier study's is refused (rule release_differencing). By
    /// default everything the algorithm releases for the purpose is one statistic, the conservative side.
    /// </summary>
    IReadOnlyList<Federation.ReleasedStatistic> ReleasedStatistics(StudySpec accepted) => [Federation.ReleasedStatistic.Whole(accepted.Algorithm, accepted.PurposeOfUse)];

    /// <summary>
    /// Whether the values are counts of patients at scale 1 when the study adds no noise (a census, the composition): the node then
    /// holds them to the site's minimum cell size unless its policy allows exact small counts (rule exact_small_counts).
    /// </summary>
    bool SendsCounts => false;
}

/// <summary>
/// What a node computed for one round: the fixed-point vector it encrypts and the codec blocks it is laid out in
/// (e.g. a GLM's xtwx, xtwz and deviance; composition and prevalence cells; a census). The blocks' names and lengths
/// describe the kind and size of what leaves the node, never its values: the audit trail and the compliance
/// report record them with each submission.
/// </summary>
public sealed record LocalStatistics(long[] Values, IReadOnlyList<FixedPointBlock> Blocks)
{
    public LocalStatistics(long[] values, FixedPointCodec codec)
        : this(values, (codec ?? throw new ArgumentNullException(nameof(codec))).Blocks)
    {
        if (codec.Length != values.Length)
        {
            throw new ArgumentException($"The codec lays out {codec.Length} values, not {values.Length}.", nameof(values));
        }
    }
}

/// <summary>The node side of the federated sum: the named local vector, as exact integer counts (scale 1).</summary>
public sealed class LocalFederatedSum : ILocalAlgorithm
{
    public string Name => CensusStudy.AlgorithmName;

    /// <summary>The coordinator names the vector (the study's, by default the census) and the purpose in every round.</summary>
    public RoundBasis Basis(StudySpec accepted) => CensusStudy.Basis(accepted);

    public int ValueCount(RoundRequest request, int maxParties) => LocalVectors.Labels(CensusStudy.Vector(request)).Count;

    /// <summary>The census: the named vector of the study's year, counted for its purpose.</summary>
    public IReadOnlyList<Federation.ReleasedStatistic> ReleasedStatistics(StudySpec accepted) =>
        [Federation.ReleasedStatistic.Census(CensusStudy.Vector(accepted), accepted.Parameters?.GetValueOrDefault("year"), accepted.PurposeOfUse)];

    public bool SendsCounts => true;

    public LocalStatistics Compute(RoundRequest request, NodeDirectory node, Features.DataSnapshot data, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(node);
        var vector = CensusStudy.Vector(request);
        var labels = LocalVectors.Labels(vector);
        if (labels.Count != request.ValueCount)
        {
            throw new InvalidOperationException($"The round asks for {request.ValueCount} values of {vector}; this node defines {labels.Count}.");
        }

        // A node with ingested FHIR data counts from its feature store; one without uses its local input file.
        var values = data.HasPatients && vector == LocalVectors.PatientsByAgeBandAndSex
            ? Census(request, node, data)
            : node.LoadSiteInput().Vectors.GetValueOrDefault(vector) ?? throw new InvalidOperationException($"This node has no local vector {vector}.");
        // One block named after the vector (e.g. patients_by_age_band_and_sex): census counts, scale 1.
        var codec = new FixedPointCodec([new FixedPointBlock(vector, values.Length, 1)], maxParties);
        return new LocalStatistics(codec.Encode(values.Select(v => (double)v).ToArray()), codec);
    }

    /// <summary>The census for the study's year and purpose, with the site policy's consent default for that purpose.</summary>
    private static long[] Census(RoundRequest request, NodeDirectory node, Features.DataSnapshot data)
    {
        var purpose = RoundBasis.PurposeOf(request);
        return data.PatientsByAgeBandAndSex(CensusStudy.Year(request), purpose, node.LoadPolicy().IsOptIn(purpose));
    }
}
