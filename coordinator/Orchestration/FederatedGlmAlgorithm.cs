using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
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
public sealed class FederatedGlmAlgorithm(IAdditiveThresholdScheme scheme) : IStudyAlgorithm
{
    public string Name => GlmStudy.AlgorithmName;

    /// <summary>The study's parameters, and under DP its true ρ within 1% of the stated one (<see cref="StudyAccounting"/>), or a refusal with the figures.</summary>
    public void Validate(StudySpec study)
    {
        _ = GlmStudy.Parse(study, scheme.MaxParties);
        _ = StudyAccounting.Require(study, scheme.MaxParties);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var (glm, fit, _) = Replay(study, previousSums);
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            [GlmStudy.MinNodesParameter] = study.MinNodes.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in StudyPrivacy.DerivedRoundParameters(study))
        {
            parameters[key] = value;
        }

        if (fit.Result is { } result)
        {
            // The fit has converged and the study holds patients out: one evaluation round at the final coefficients.
            parameters[GlmStudy.EvaluationParameter] = JsonSerializer.Serialize(result.Coefficients);
            return new RoundRequest(Name, GlmEvaluation.Layout(glm).Sum(b => b.Length), parameters);
        }

        var request = fit.NextRequest();
        parameters[GlmStudy.RequestParameter] = GlmStudy.Serialize(request);
        return new RoundRequest(Name, request.Length, parameters);
    }

    public JsonObject? AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        var (glm, fit, consumed) = Replay(study, sums);
        if (fit.Result is not { } result || (glm.Holdout > 0 && consumed == sums.Count))
        {
            return null; // more IRLS rounds, or the evaluation round is next
        }

        JsonObject? evaluation = null;
        if (glm.Holdout > 0)
        {
            var decoded = new FixedPointCodec(GlmEvaluation.Layout(glm), scheme.MaxParties).Decode(sums[^1]);
            evaluation = GlmEvaluation.Summarize(glm, decoded);
            evaluation["holdout"] = glm.Holdout;
        }

        return Result(study, glm, result, evaluation, StudyAccounting.Account(study, scheme.MaxParties));
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

    /// <summary>The study result: the model as the registry keeps it (coefficients on the features' own scale).</summary>
    private static JsonObject Result(StudySpec study, GlmStudy glm, GlmResult r, JsonObject? evaluation, PrivacyAccount? account)
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
                // Why the model may be used: the exact convergence rule, or (DP) its planned rounds ran and the sanity
                // checks passed; null when it may not (release_refused says why). docs/models.md.
                ["release"] = !r.Releasable ? null : r.Converged ? RegisteredModel.ReleaseConverged : RegisteredModel.ReleaseDpPlannedRounds,
                ["release_refused"] = r.Releasable ? null : r.PrivateRelease?.Refusal ?? $"the fit did not converge in {r.Iterations} IRLS rounds",
                ["dp_release_checks"] = r.PrivateRelease is { } check
                    ? new JsonObject
                    {
                        ["rule"] = "final iterate after the planned noisy Newton rounds",
                        ["iterations_planned"] = check.PlannedIterations,
                        ["iterations"] = check.Iterations,
                        ["last_step_max_abs"] = check.LastStep,
                        ["damping"] = check.Damping,
                        ["damping_doublings"] = check.DampingDoublings,
                        ["hessian_min_eigenvalue"] = check.MinEigenvalue,
                        ["last_deviance"] = check.Deviance,
                        ["null_deviance"] = check.NullDeviance,
                        ["deviance_noise_sd"] = check.DevianceSigma,
                        ["score_statistic"] = check.ScoreStatistic,
                        ["score_critical"] = check.ScoreCritical,
                        ["standard_errors"] = "noise-corrected sandwich (GlmFit.NoiseCorrectedInverse)",
                    }
                    : null,
                ["study_id"] = study.Id.Value,
                ["purpose_of_use"] = study.PurposeOfUse.Code,
                ["created_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["evaluation"] = evaluation,
                ["privacy"] = glm.Spec.Privacy is { } dp
                    ? new JsonObject
                    {
                        ["dp"] = true,
                        ["rho"] = dp.Rho,
                        ["rounds_planned"] = dp.Rounds,
                        ["rho_per_round"] = dp.RoundRho,
                        ["rounds_run"] = r.Rounds + (evaluation is null ? 0 : 1),
                        ["rho_spent"] = dp.RoundRho * (r.Rounds + (evaluation is null ? 0 : 1)),
                        ["max_rows_per_patient"] = dp.MaxRowsPerPatient,
                        ["min_honest_nodes"] = dp.MinHonestNodes,
                        ["true_rho"] = account?.True, // the planned rounds as sums of discrete Gaussian shares (KLS21 Prop. 14)
                    }
                    : new JsonObject { ["dp"] = false, ["rho"] = null },
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
