using System.Text.Json;
using System.Text.Json.Serialization;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// What one round of a GLM study asks of the nodes besides the study itself: an aggregation of the fit
/// (<see cref="Iterate"/>: the coordinator's <see cref="GlmRequest"/>) or, after convergence with a holdout, the evaluation at
/// the final coefficients (<see cref="Evaluate"/>). The coordinator writes it, each node reads it; the wire carries it as JSON
/// in one round parameter, and this type is the only code that names or parses those parameters.
/// </summary>
public abstract record GlmRound : IRoundState
{
    /// <summary>The parameter carrying the coordinator's <see cref="GlmRequest"/> for a round, as JSON.</summary>
    private const string RequestParameter = "glm_request";

    /// <summary>The parameter carrying the fitted coefficients (features' own scale) for the evaluation round, as JSON.</summary>
    private const string EvaluationParameter = "glm_evaluation";

    private static readonly JsonSerializerOptions RequestJson = new(WireJson.Options)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private GlmRound()
    {
    }

    /// <summary>The round parameters a GLM round may add to its study's: the node allows no others.</summary>
    public static IReadOnlySet<string> Keys { get; } = new HashSet<string>([RequestParameter, EvaluationParameter], StringComparer.Ordinal);

    public abstract IReadOnlyList<KeyValuePair<string, string>> Parameters { get; }

    /// <summary>The values the nodes return for this round.</summary>
    public abstract int ValueCount(GlmStudy glm);

    /// <summary>The round's GLM state; an error when it carries neither a request nor coefficients (or a malformed one).</summary>
    public static GlmRound Read(RoundRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Parameters.GetValueOrDefault(EvaluationParameter) is { } coefficients)
        {
            return new Evaluate(JsonSerializer.Deserialize<double[]>(coefficients) ?? throw new InvalidOperationException("The evaluation round carries no coefficients."));
        }

        return new Iterate(Deserialize(request.Parameters.GetValueOrDefault(RequestParameter) ?? throw new InvalidOperationException("The round carries no GLM request.")));
    }

    /// <summary>The request as the wire carries it (non-finite numbers as named literals, so a diverged β is seen and refused, not lost).</summary>
    public static string Serialize(GlmRequest request) => JsonSerializer.Serialize(request, RequestJson);

    public static GlmRequest Deserialize(string json) =>
        JsonSerializer.Deserialize<GlmRequest>(json, RequestJson) ?? throw new InvalidOperationException("The round carries an empty GLM request.");

    /// <summary>One aggregation of the fit: moments, start values, or an iteration at the request's β.</summary>
    public sealed record Iterate(GlmRequest Request) : GlmRound
    {
        public override IReadOnlyList<KeyValuePair<string, string>> Parameters => [new(RequestParameter, Serialize(Request))];

        public override int ValueCount(GlmStudy glm) => Request.Length;
    }

    /// <summary>The evaluation on the held-out patients at the fitted coefficients (features' own scale, intercept first).</summary>
    public sealed record Evaluate(IReadOnlyList<double> Coefficients) : GlmRound
    {
        public override IReadOnlyList<KeyValuePair<string, string>> Parameters => [new(EvaluationParameter, JsonSerializer.Serialize(Coefficients))];

        public override int ValueCount(GlmStudy glm)
        {
            ArgumentNullException.ThrowIfNull(glm);
            return GlmEvaluation.Layout(glm).Sum(b => b.Length);
        }
    }
}
