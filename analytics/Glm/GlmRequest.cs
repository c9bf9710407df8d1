using FederatedTwin.Crypto.Codec;

namespace FederatedTwin.Analytics.Glm;

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
/// <param name="LineSearchBase">With <paramref name="Steps"/>: the last evaluated β̃, from which <see cref="Beta"/> is the full Newton step.</param>
/// <param name="Steps">Line search in one round: nodes evaluate every block at β̃_t = base + t·(β̃ − base) for each t, in order.</param>
public sealed record GlmRequest(
    GlmRoundKind Kind,
    int Round,
    IReadOnlyList<FixedPointBlock> Layout,
    long TotalRows,
    GlmStandardization? Standardization,
    IReadOnlyList<double>? Beta,
    double? NullIntercept,
    IReadOnlyList<double>? LineSearchBase = null,
    IReadOnlyList<double>? Steps = null)
{
    /// <summary>Candidate points of this round: 1 without a line search.</summary>
    public int Candidates => Steps?.Count ?? 1;

    /// <summary>β̃ of candidate <paramref name="c"/>.</summary>
    public double[] CandidateBeta(int c)
    {
        var beta = Beta ?? throw new InvalidOperationException("The request carries no β.");
        if (Steps is null || LineSearchBase is null)
        {
            return [.. beta];
        }

        var t = Steps[c];
        return [.. beta.Select((b, j) => LineSearchBase[j] + (t * (b - LineSearchBase[j])))];
    }

    /// <summary>Length of the node's vector.</summary>
    public int Length => Layout.Sum(b => b.Length);
}
