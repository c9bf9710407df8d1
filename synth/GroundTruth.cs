using System.Text.Json.Serialization;

namespace FederatedTwin.Synthetic;

/// <summary>
/// The models outcomes are drawn from, written next to the data (ground-truth.json) so tests can
/// check that federated training recovers them. Each model is a GLM over the patient-year's
/// features: linear predictor η = intercept + Σ coefficient·feature, with features named as the
/// feature schema names them (age_decades_over_65 = (age − 65)/10; sex_male; one flag per chronic
/// condition; prior_admissions and prior_ed_visits capped at 3).
/// </summary>
public sealed record GroundTruthModel(
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("family")] string Family,
    [property: JsonPropertyName("link")] string Link,
    [property: JsonPropertyName("intercept")] double Intercept,
    [property: JsonPropertyName("coefficients")] IReadOnlyDictionary<string, double> Coefficients)
{
    public double LinearPredictor(Func<string, double> feature) =>
        Intercept + Coefficients.Sum(c => c.Value * feature(c.Key));
}

public static class GroundTruth
{
    public static readonly IReadOnlyList<string> Conditions =
        ["diabetes", "hypertension", "heart_failure", "copd", "ckd", "cad", "asthma", "depression", "obesity", "cancer", "dementia"];

    /// <summary>Next-year inpatient admission (any), logistic.</summary>
    public static readonly GroundTruthModel Admission = new("admission_next_year", "binomial", "logit", -3.2, new Dictionary<string, double>
    {
        ["age_decades_over_65"] = 0.25, ["sex_male"] = 0.10, ["diabetes"] = 0.35, ["hypertension"] = 0.15, ["heart_failure"] = 0.90,
        ["copd"] = 0.60, ["ckd"] = 0.55, ["cad"] = 0.40, ["asthma"] = 0.20, ["depression"] = 0.25, ["obesity"] = 0.10,
        ["cancer"] = 0.70, ["dementia"] = 0.50, ["prior_admissions"] = 0.45, ["prior_ed_visits"] = 0.15,
    });

    /// <summary>Next-year ED visits, Poisson with log link.</summary>
    public static readonly GroundTruthModel EdVisits = new("ed_visits_next_year", "poisson", "log", -1.6, new Dictionary<string, double>
    {
        ["age_decades_over_65"] = 0.05, ["sex_male"] = -0.05, ["diabetes"] = 0.20, ["heart_failure"] = 0.45, ["copd"] = 0.40,
        ["asthma"] = 0.35, ["depression"] = 0.30, ["ckd"] = 0.20, ["prior_ed_visits"] = 0.30,
    });

    /// <summary>Death during the next year, logistic.</summary>
    public static readonly GroundTruthModel Death = new("death_next_year", "binomial", "logit", -5.6, new Dictionary<string, double>
    {
        ["age_decades_over_65"] = 0.80, ["sex_male"] = 0.25, ["heart_failure"] = 0.85, ["copd"] = 0.55, ["ckd"] = 0.50,
        ["cancer"] = 1.20, ["dementia"] = 0.90, ["prior_admissions"] = 0.30,
    });

    /// <summary>Next-year annual cost in dollars, log-normal: log(cost) ~ Normal(η, 0.8²) (a Gaussian GLM on log cost).</summary>
    public static readonly GroundTruthModel Cost = new("log_cost_next_year", "gaussian", "identity", 7.4, new Dictionary<string, double>
    {
        ["age_decades_over_65"] = 0.12, ["diabetes"] = 0.35, ["hypertension"] = 0.15, ["heart_failure"] = 0.60, ["copd"] = 0.40,
        ["ckd"] = 0.50, ["cad"] = 0.35, ["cancer"] = 0.90, ["dementia"] = 0.40, ["prior_admissions"] = 0.30,
    });

    public static readonly IReadOnlyList<GroundTruthModel> Models = [Admission, EdVisits, Death, Cost];

    /// <summary>Annual onset hazard per condition at age 65 (before the profile's multiplier); doubles every 20 years of age.</summary>
    public static readonly IReadOnlyDictionary<string, double> OnsetHazard = new Dictionary<string, double>
    {
        ["diabetes"] = 0.012, ["hypertension"] = 0.030, ["heart_failure"] = 0.006, ["copd"] = 0.005, ["ckd"] = 0.006, ["cad"] = 0.008,
        ["asthma"] = 0.003, ["depression"] = 0.010, ["obesity"] = 0.012, ["cancer"] = 0.006, ["dementia"] = 0.003,
    };

    /// <summary>Prevalence at age 65 when a patient's history starts (before the profile's multiplier).</summary>
    public static readonly IReadOnlyDictionary<string, double> BaselinePrevalence = new Dictionary<string, double>
    {
        ["diabetes"] = 0.18, ["hypertension"] = 0.40, ["heart_failure"] = 0.06, ["copd"] = 0.08, ["ckd"] = 0.10, ["cad"] = 0.12,
        ["asthma"] = 0.08, ["depression"] = 0.12, ["obesity"] = 0.30, ["cancer"] = 0.07, ["dementia"] = 0.04,
    };
}
