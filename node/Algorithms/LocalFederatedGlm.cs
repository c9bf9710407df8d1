using FederatedTwin.Node.Features;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Algorithms;

/// <summary>
/// The node side of the exact federated GLM: this site's patient-years (consent applied for the study's
/// purpose, sensitive records already left out of the features, complete cases only) reduced to the
/// round's sums — moments, or X'WX, X'Wz and deviance at the coordinator's coefficients — and encoded
/// in the fixed-point layout both sides derive from the study (analytics/Glm/GlmNode).
/// </summary>
public sealed class LocalFederatedGlm : ILocalAlgorithm
{
    public string Name => GlmStudy.AlgorithmName;

    /// <summary>h (dp_min_honest_nodes) sizes each node's noise share (σ²/h) and the count blocks' scale: it must be the accepted study's.</summary>
    public RoundBasis Basis(StudySpec accepted) => GlmStudy.Basis(accepted);

    /// <summary>The IRLS request or the evaluation's coefficients; GlmNode checks the request's layout against the study's spec.</summary>
    public IReadOnlySet<string> StateKeys => GlmRound.Keys;

    /// <summary>Under DP: 1 moments round, max_iterations Newton rounds and, with a holdout, the evaluation round (GlmPrivacy.Rounds).</summary>
    public int? PlannedRounds(StudySpec accepted, int maxParties) => GlmStudy.Parse(accepted, maxParties).Spec.Privacy?.Rounds;

    /// <summary>The model's rows: its outcome and features over the purpose's patient-years (round 1 releases their moments).</summary>
    public IReadOnlyList<Federation.ReleasedStatistic> ReleasedStatistics(StudySpec accepted) => [Federation.ReleasedStatistic.ModelRows(Name, accepted.Parameters, accepted.PurposeOfUse)];

    /// <summary>The evaluation's layout, or the IRLS request's (whose layout GlmNode holds to the study's spec when it computes).</summary>
    public int ValueCount(RoundRequest request, int maxParties) => GlmRound.Read(request).ValueCount(GlmStudy.Parse(request.Parameters, maxParties));

    public LocalStatistics Compute(RoundRequest request, NodeDirectory node, DataSnapshot data, int maxParties)
    {
        var glm = GlmStudy.Parse(request.Parameters, maxParties);
        var purpose = RoundBasis.PurposeOf(request);
        return GlmRound.Read(request) switch
        {
            GlmRound.Evaluate evaluate => Release(glm, GlmEvaluation.Layout(glm), GlmEvaluation.Encode(glm, [.. evaluate.Coefficients], Rows(node, data, glm, purpose, heldOut: true)), maxParties, new CryptographicRandomBits()),
            GlmRound.Iterate iterate => Release(glm, iterate.Request.Layout, GlmNode.Encode(glm.Spec, iterate.Request, Rows(node, data, glm, purpose)), maxParties, new CryptographicRandomBits()),
            _ => throw new InvalidOperationException("The round carries no GLM request."),
        };
    }

    /// <summary>Under DP, the ρ of one round (the study's ρ over its planned rounds), charged per round to the ledger.</summary>
    public double RoundRho(RoundRequest request, int maxParties) =>
        GlmStudy.Parse(request.Parameters, maxParties).Spec.Privacy?.RoundRho ?? 0;

    /// <summary>
    /// What this node sends for a round's sums (<see cref="GlmNode.Encode"/>, or the evaluation's): the fixed-point integers of
    /// the round's layout (under DP each patient's clipped contribution rounded to the grid and summed exactly) and, under DP,
    /// this node's discrete Gaussian share per block (σ_b²/h, GlmPrivacy) added before encryption; the exact sums never leave
    /// the node. Production passes <see cref="CryptographicRandomBits"/>; the privacy audit (`ftwin bench privacy-audit`) calls
    /// the same method.
    /// </summary>
    public static LocalStatistics Release(GlmStudy glm, IReadOnlyList<FixedPointBlock> layout, long[] encoded, int maxParties, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(glm);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(encoded);
        ArgumentNullException.ThrowIfNull(random);
        var codec = new FixedPointCodec(layout, maxParties);
        var sent = (long[])encoded.Clone(); // the caller's exact sums stay exact (the audit releases the same sums many times)
        if (glm.Spec.Privacy is { } dp)
        {
            GlmPrivacy.AddNoise(sent, layout, dp.NodeVariances(layout, block => dp.Clip(glm.Spec, block)), random);
        }

        return new LocalStatistics(sent, codec);
    }

    /// <summary>
    /// The design rows: patient-years with an observed outcome and a value in every named column (for an onset outcome,
    /// only those at risk: without the condition), of the training or the held-out patients.
    /// </summary>
    public static GlmData Rows(NodeDirectory node, GlmStudy glm, string purpose, bool heldOut = false)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Rows(node, DataSnapshot.Current(node.Store), glm, purpose, heldOut);
    }

    /// <summary>The design rows as of a data version (a study's pinned one), under the node's site policy.</summary>
    public static GlmData Rows(NodeDirectory node, DataSnapshot data, GlmStudy glm, string purpose, bool heldOut = false)
    {
        ArgumentNullException.ThrowIfNull(node);
        CheckColumns(glm);
        return Rows(data.Features.ForStudy(node.LoadPolicy(), purpose), glm, heldOut);
    }

    /// <summary>The design rows of these patient-years (the study's purpose already applied), as <see cref="Rows(NodeDirectory, GlmStudy, string, bool)"/>.</summary>
    public static GlmData Rows(IEnumerable<PatientYear> rows, GlmStudy glm, bool heldOut = false)
    {
        ArgumentNullException.ThrowIfNull(rows);
        CheckColumns(glm);
        var x = new List<double>();
        var y = new List<double>();
        var offset = new List<double>();
        var patients = new List<int>();
        var patientIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (glm.IsHeldOut(row.Pseudonym) != heldOut || row.Values.GetValueOrDefault("outcome_observed") != 1 || row.Values.GetValueOrDefault(glm.Outcome) is not { } outcome)
            {
                continue;
            }

            if (!glm.IncludesYear(row.Values.GetValueOrDefault("year")))
            {
                continue; // outside the study's min_year–max_year (a back-test's training years end at its cut-off)
            }

            if (glm.AtRisk is { } condition && row.Values.GetValueOrDefault(condition) != 0)
            {
                continue; // an onset outcome: only patient-years without the condition are at risk (GlmStudy.AtRisk)
            }

            var features = glm.Features.Select(f => Value(row, f)).ToList();
            double? o = glm.Offset is null ? 0 : row.Values.GetValueOrDefault(glm.Offset);
            if (features.Any(f => f is null) || o is null)
            {
                continue; // complete cases only
            }

            x.AddRange(features.Select(f => f!.Value));
            y.Add(outcome);
            offset.Add(o.Value);
            if (!patientIndex.TryGetValue(row.Pseudonym, out var index))
            {
                index = patientIndex.Count;
                patientIndex.Add(row.Pseudonym, index);
            }

            patients.Add(index);
        }

        return new GlmData(glm.Features.Count, [.. x], [.. y], offset: glm.Offset is null ? null : [.. offset], patients: [.. patients]);
    }

    private static void CheckColumns(GlmStudy glm)
    {
        ArgumentNullException.ThrowIfNull(glm);
        var unknown = glm.Features.Select(f => GlmStudy.Indicator(f)?.Column ?? f).Append(glm.Outcome).Concat(glm.Offset is null ? [] : [glm.Offset])
            .Where(c => !FeatureSchema.Columns.Any(k => k.Name == c)).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidOperationException($"The study names column(s) this node's feature schema does not have: {string.Join(", ", unknown)}.");
        }
    }

    /// <summary>A feature's value in a row: the column itself, or 1/0 for an indicator column[level].</summary>
    private static double? Value(PatientYear row, string feature)
    {
        if (GlmStudy.Indicator(feature) is not { } indicator)
        {
            return row.Values.GetValueOrDefault(feature);
        }

        var levels = GlmStudy.Categorical[indicator.Column];
        return row.Values.GetValueOrDefault(indicator.Column) is { } index ? (levels[(int)index] == indicator.Level ? 1 : 0) : null;
    }
}
