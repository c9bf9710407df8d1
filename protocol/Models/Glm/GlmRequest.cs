using FederatedTwin.Protocol.Crypto.Codec;

namespace FederatedTwin.Protocol.Models.Glm;

/// <summary>
/// What the coordinator broadcasts for one aggregation round. <see cref="Layout"/> is the codec layout of the
/// vector every node returns (<see cref="GlmLayout.For"/> of the same spec, kind and row count, which a node
/// may recompute to check it). Coefficients are on the standardized scale.
/// </summary>
/// <param name="Kind">Moments, R's start values, or an iteration at <see cref="Beta"/>.</param>
/// <param name="Round">1-based aggregation number (the moments round is 1).</param>
/// <param name="Layout">Blocks and scales of the node's vector.</param>
/// <param name="TotalRows">Global rows of positive weight from the moments round; 0 in the moments round.</param>
/// <param name="Standardization">Feature centring and scaling; absent in the moments round.</param>
/// <param name="Beta">Current β̃ for <see cref="GlmRoundKind.Iterate"/>; absent otherwise.</param>
/// <param name="NullIntercept">Start round only: the null model's intercept on the link scale (μ_null = g⁻¹(α + offset)).</param>
public sealed record GlmRequest(
    GlmRoundKind Kind,
    int Round,
    IReadOnlyList<FixedPointBlock> Layout,
    long TotalRows,
    GlmStandardization? Standardization,
    IReadOnlyList<double>? Beta,
    double? NullIntercept)
{
    /// <summary>Length of the node's vector.</summary>
    public int Length => Layout.Sum(b => b.Length);
}
