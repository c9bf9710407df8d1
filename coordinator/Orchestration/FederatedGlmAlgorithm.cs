using System.Globalization;
using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Crypto;
using FederatedTwin.Protocol.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.Glm;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The exact federated GLM (GLORE, Wu et al. 2012; DataSHIELD ds.glm): every study round is one encrypted
/// aggregation of the nodes' moments, or X'WX, X'Wz and deviance at the current coefficients, and the
/// coordinator takes one IRLS step on the sum (protocol/Models/Glm). The fit is not kept in memory: it is
/// replayed from the decrypted sums the round engine has persisted, so a restarted coordinator continues
/// exactly where it was. The study completes when the fit converges (or reaches its iteration limit, which
/// the result says); its model goes to the registry.
/// </summary>
public sealed class FederatedGlmAlgorithm(IAdditiveThresholdScheme scheme) : IStudyAlgorithm
{
    public string Name => GlmStudy.AlgorithmName;

    public void Validate(StudySpec study) => _ = GlmStudy.Parse(study, scheme.MaxParties);

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var (_, fit) = Replay(study, previousSums);
        var request = fit.NextRequest();
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            [GlmStudy.RequestParameter] = GlmStudy.Serialize(request),
        };
        return new RoundRequest(Name, request.Length, parameters);
    }

    public JsonObject? AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        var (glm, fit) = Replay(study, sums.Take(sums.Count - 1).ToList());
        Accept(fit, sums[^1]);
        return fit.Result is { } result ? Result(study, glm, result) : null;
    }

    /// <summary>The fit after the given sums: each is decoded with the layout of the request it answered.</summary>
    private (GlmStudy Glm, GlmFit Fit) Replay(StudySpec study, IReadOnlyList<long[]> sums)
    {
        var glm = GlmStudy.Parse(study, scheme.MaxParties);
        var fit = new GlmFit(glm.Spec);
        foreach (var sum in sums)
        {
            Accept(fit, sum);
            if (fit.IsFinished)
            {
                throw new StudyAlgorithmException("the fit had already finished before this round; the study's rounds are inconsistent");
            }
        }

        return (glm, fit);
    }

    private void Accept(GlmFit fit, long[] sum)
    {
        var request = fit.NextRequest();
        var decoded = new FixedPointCodec(request.Layout, scheme.MaxParties).Decode(sum);
        try
        {
            fit.Accept(decoded);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or ArithmeticException)
        {
            throw new StudyAlgorithmException($"round {request.Round} ({request.Kind}): {e.Message}", e);
        }
    }

    /// <summary>The study result: the model as the registry keeps it (coefficients on the features' own scale).</summary>
    private static JsonObject Result(StudySpec study, GlmStudy glm, GlmResult r)
    {
        var terms = new JsonArray();
        for (var i = 0; i < r.Names.Count; i++)
        {
            terms.Add(new JsonObject
            {
                ["name"] = r.Names[i],
                ["coefficient"] = r.Coefficients[i],
                ["std_error"] = r.StandardErrors[i],
                ["statistic"] = r.Statistics[i],
                ["p_value"] = r.PValues[i],
                ["ci_low"] = r.LowerConfidence[i],
                ["ci_high"] = r.UpperConfidence[i],
            });
        }

        var family = r.Family.ToString().ToLowerInvariant();
        return new JsonObject
        {
            ["algorithm"] = GlmStudy.AlgorithmName,
            ["model"] = new JsonObject
            {
                ["id"] = $"glm/{glm.Outcome}/{study.Id.Value}",
                ["kind"] = "glm",
                ["family"] = family,
                ["link"] = r.Family switch { GlmFamily.Binomial => "logit", GlmFamily.Poisson => "log", _ => "identity" },
                ["outcome"] = glm.Outcome,
                ["offset"] = glm.Offset,
                ["terms"] = terms,
                ["dispersion"] = r.Dispersion,
                ["deviance"] = r.Deviance,
                ["null_deviance"] = r.NullDeviance,
                ["residual_df"] = r.ResidualDf,
                ["null_df"] = r.NullDf,
                ["aic"] = r.Aic,
                ["rows"] = r.Rows,
                ["nodes"] = r.Nodes,
                ["rounds"] = r.Rounds,
                ["iterations"] = r.Iterations,
                ["converged"] = r.Converged,
                ["study_id"] = study.Id.Value,
                ["purpose_of_use"] = study.PurposeOfUse.Code,
                ["created_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["privacy"] = new JsonObject { ["dp"] = false, ["rho"] = null },
            },
        };
    }
}

/// <summary>A study that cannot go on (e.g. a singular X'WX): the round engine fails the study with this reason.</summary>
public sealed class StudyAlgorithmException : Exception
{
    public StudyAlgorithmException()
    {
    }

    public StudyAlgorithmException(string message)
        : base(message)
    {
    }

    public StudyAlgorithmException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
