using System.Globalization;
using System.Text.Json;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The exact federated GLM (GLORE, Wu et al. 2012; DataSHIELD ds.glm): every study round is one encrypted
/// aggregation of the nodes' moments, or X'WX, X'Wz and deviance at the current coefficients, and the
/// coordinator takes one IRLS step on the sum (analytics/Glm). The fit is not kept in memory: it is
/// replayed from the decrypted sums the round engine has persisted, so a restarted coordinator continues
/// exactly where it was. The study completes when the fit converges (or reaches its iteration limit, which
/// the result says); its model goes to the registry. A DP fit runs its planned rounds and its final iterate is
/// released if its sanity checks pass (<c>release: dp_planned_rounds</c>, <see cref="GlmPrivateRelease"/>).
/// </summary>
public sealed class FederatedGlmAlgorithm(IAdditiveThresholdScheme scheme, TimeProvider? timeProvider = null) : IStudyAlgorithm
{
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    public string Name => GlmStudy.AlgorithmName;

    /// <summary>The study's parameters, and under DP its true ρ within 1% of the stated one (<see cref="StudyAccounting"/>), or a refusal with the figures.</summary>
    public void Validate(StudySpec study)
    {
        StudyColumns.Require(GlmStudy.Parse(study, scheme.MaxParties));
        _ = StudyAccounting.Require(study, scheme.MaxParties);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var (glm, fit, _) = Replay(study, previousSums);
        // Once the fit has converged, a study that holds patients out has one evaluation round at the final coefficients.
        GlmRound next = fit.Result is { } result ? new GlmRound.Evaluate(result.Coefficients) : new GlmRound.Iterate(fit.NextRequest());
        return GlmStudy.Basis(study).Request(study, next.ValueCount(glm), next);
    }

    public RoundOutcome AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        var (glm, fit, consumed) = Replay(study, sums);
        if (fit.Result is not { } result || (glm.Holdout > 0 && consumed == sums.Count))
        {
            return RoundOutcome.NextRound; // more IRLS rounds, or the evaluation round is next
        }

        GlmEvaluationSummary? evaluation = null;
        if (glm.Holdout > 0)
        {
            var decoded = new FixedPointCodec(GlmEvaluation.Layout(glm), scheme.MaxParties).Decode(sums[^1]);
            evaluation = GlmEvaluation.Summarize(glm, decoded) with { Holdout = glm.Holdout };
        }

        var model = GlmModelDocument.FromFit(result, glm.Outcome, glm.Offset, study.Id.Value, study.PurposeOfUse.Code, time.GetUtcNow(), glm.Spec.Privacy,
            StudyAccounting.Account(study, scheme.MaxParties)?.True, evaluation);
        return RoundOutcome.Finish(new ModelStudyResult(GlmStudy.AlgorithmName, model));
    }

    /// <summary>
    /// The fit after as many of the sums as it takes (each decoded with the layout of the request it answered);
    /// once the fit has finished, at most one more sum may follow: the evaluation round's.
    /// </summary>
    private (GlmStudy Glm, GlmFit Fit, int Consumed) Replay(StudySpec study, IReadOnlyList<long[]> sums)
    {
        var glm = GlmStudy.Parse(study, scheme.MaxParties);
        GlmFit fit = glm.Spec.Privacy is null ? new GlmIrlsFit(glm.Spec) : new GlmNoisyNewtonFit(glm.Spec);
        var consumed = 0;
        while (consumed < sums.Count && !fit.IsFinished)
        {
            Accept(fit, sums[consumed++]);
        }

        if (sums.Count - consumed > (glm.Holdout > 0 ? 1 : 0))
        {
            throw new StudyAlgorithmException("the study has more rounds than its fit and evaluation; its rounds are inconsistent");
        }

        return (glm, fit, consumed);
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
