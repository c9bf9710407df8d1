using System.Globalization;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node features export --study ID`: exactly the rows this node contributed to a GLM study, as the
/// model used them — one column per coefficient except the intercept (named as the coefficient, indicators
/// 0/1 with the reference level left out), then the outcome, then the offset where the model has one; numbers
/// in round-trip precision (G17). The rows are recomputed from the store with the study as the node accepted
/// it (its stored offer), so a compliance officer sees what the node gave and the hospital can reproduce its part.
/// </summary>
internal static class StudyExport
{
    public static int Write(NodeDirectory node, string studyId, TextWriter output)
    {
        var offer = node.Store.Read(c => Node.Storage.StudyQueries.Offer(c, studyId));
        if (offer is not { } known)
        {
            Console.Error.WriteLine($"error: this node has no decision for study '{studyId}'");
            return 2;
        }

        if (known.Accept == 0 || known.SpecJson is null)
        {
            Console.Error.WriteLine($"error: this node {(known.Accept == 0 ? "refused" : "did not record")} study '{studyId}'; it contributed no rows");
            return 2;
        }

        var spec = WireJson.Deserialize<StudySpec>(System.Text.Encoding.UTF8.GetBytes(known.SpecJson));
        if (spec.Algorithm != GlmStudy.AlgorithmName)
        {
            Console.Error.WriteLine($"error: study '{studyId}' runs {spec.Algorithm}; row export is defined for {GlmStudy.AlgorithmName} studies");
            return 2;
        }

        var glm = GlmStudy.Parse(spec, RlweThresholdScheme.Default.MaxParties);
        var rows = LocalFederatedGlm.Rows(node, glm, spec.PurposeOfUse.Code);
        output.WriteLine(string.Join(',', glm.Features.Append(glm.Outcome).Concat(glm.Offset is null ? [] : [glm.Offset]).Select(Quote)));
        var p = glm.Features.Count;
        // Under DP the node used at most K rows per patient, with features, outcome and offset clipped to the declared
        // bounds: those are the rows, and the values, it contributed.
        var dp = glm.Spec.Privacy;
        var used = dp is null ? Enumerable.Range(0, rows.Rows) : rows.RowsByPatient(dp.MaxRowsPerPatient).SelectMany(r => r).Order();
        foreach (var i in used)
        {
            var values = Enumerable.Range(0, p).Select(j => dp is null ? rows.Design[(i * p) + j] : dp.FeatureBounds[j].Clip(rows.Design[(i * p) + j]))
                .Append(dp is null ? rows.Responses[i] : GlmPrivacy.ClipResponse(glm.Spec, rows.Responses[i]));
            if (glm.Offset is not null)
            {
                values = values.Append(dp is null ? rows.Offsets![i] : GlmPrivacy.ClipOffset(glm.Spec, rows.Offsets![i]));
            }

            output.WriteLine(string.Join(',', values.Select(v => v.ToString("G17", CultureInfo.InvariantCulture))));
        }

        return 0;
    }

    private static string Quote(string name) => name.Contains(',', StringComparison.Ordinal) ? $"\"{name}\"" : name;
}
