using System.Globalization;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// The studies `ftwin demo` runs, as study definitions: the census, a federated GLM for every outcome the twin steps a
/// person-year forward with, and the population composition. Each is a <see cref="StudySpec"/> the coordinator's
/// admin API receives as study.yaml (<see cref="StudyYaml"/>).
/// </summary>
internal static class DemoStudies
{
    public const string CensusId = "demo-census";
    public const string CompositionId = "demo-composition";
    public const int CensusYear = 2024;

    /// <summary>
    /// The back-test's cut-off (`ftwin twin validate`): the models are trained on the patient-years up to 2021, whose outcomes are
    /// of 2022 at the latest (max_year), the cohort is drawn from the composition of 2022, and the twin's 2023 and 2024 are compared
    /// with what the federation observed then. The generator's histories run 2019-2024, so 2023-2024 are the last two years with
    /// observed outcomes; training stops before them, and the what-if scenario uses the same models (trained once). The models
    /// learn from the <see cref="TrainingYears"/> years before the cut-off (min_year), which under DP also sets K, the rows a
    /// patient contributes at most (one per year of the window).
    /// </summary>
    public const int CutoffYear = 2022;

    /// <summary>Patient-years the models learn from: 2019-2021, the three years before the cut-off (GLM min_year and max_year).</summary>
    public const int TrainingYears = 3;

    public const string CutoffCompositionId = "demo-composition-2022";
    public const string ObservedOutcomesId = "demo-observed-outcomes";

    /// <summary>
    /// zCDP ρ each DP model spends at each node (split over its rounds): 2 for admission, inpatient days, ED visits, death
    /// and cost, 1 for each of the 11 onsets; each of the two compositions' (2024 for the scenario, 2022 for the back-test); the
    /// back-test's observed outcome totals; and the demo sites' yearly budget for HOPERAT, which covers them all
    /// (5 × 2 + 11 × 1 + 2 × 0.5 + 1 = 23), as does their lifetime budget (LocalFederation.DemoLifetimeBudget, 30).
    /// </summary>
    public const double ModelRho = 2, OnsetRho = 1, CompositionRho = 0.5, ObservedRho = 1, DemoBudget = 25;

    /// <summary>
    /// The 11 onset studies are what the demo's wall time grows with (each federation round costs every node a key share,
    /// an encrypted update and a decryption share, in turn): they skip the held-out evaluation and, under DP, run 4 noisy
    /// Newton rounds instead of 6 (5 aggregations in all, each with ρ/5). Their release checks still decide.
    /// </summary>
    private const int OnsetDpIterations = 4;

    /// <summary>
    /// The model studies' phase deadline. All 17 run at once and a node works on at most Node:MaxConcurrentStudies of them
    /// at a time (4 on 2 cores), so a phase may wait behind other studies' items at each node: when the items ran one after
    /// another, a loaded 2-core machine took more than 30 s (a node "missed the encrypt deadline" and the study failed). The
    /// deadline only decides when a silent node is dropped, which the demo's nodes never are.
    /// </summary>
    private const int PhaseDeadlineSeconds = 120;

    /// <summary>The census's phase deadline: one study alone, one round.</summary>
    private const int CensusPhaseDeadlineSeconds = 30;

    /// <summary>Every demo study joins all three hospitals.</summary>
    private const int Nodes = 3;

    /// <summary>
    /// h = 2 of the 3 hospitals: each adds half the target noise, so the two honest ones alone reach it when the third
    /// colludes with the coordinator (the demo sites' policies assume one colluder, dp_colluding_nodes: 1).
    /// </summary>
    private const int MinHonestNodes = 2;

    private static readonly PurposeOfUse Purpose = new("HOPERAT");

    private static readonly string[] ModelFeatures =
        ["age", "sex_male", "diabetes", "hypertension", "heart_failure", "copd", "ckd", "cad", "condition_count", "inpatient_admissions", "ed_visits"];

    /// <summary>
    /// The demo's model set: a federated GLM for every outcome the twin steps a person-year forward with
    /// (TwinOutcomes.All: admission, inpatient days, ED visits, cost, death and the onset of each of the 11 conditions), so
    /// no outcome of a normal run falls back to the illustrative demo/* models. Response clips: ED visits at 10 a year,
    /// inpatient days at 30 (the generator's stays are 1 + Poisson(3) days), costs at $100,000.
    /// </summary>
    public static IReadOnlyList<DemoGlm> Models { get; } =
    [
        new("demo-admission", GlmFamily.Binomial, "admission_next_year", null, null, ModelFeatures, ModelRho),
        new("demo-inpatient-days", GlmFamily.Poisson, "inpatient_days_next_year", 365, 30, ModelFeatures, ModelRho),
        new("demo-ed-visits", GlmFamily.Poisson, "ed_visits_next_year", 100, 10, ModelFeatures, ModelRho),
        new("demo-death", GlmFamily.Binomial, "death_next_year", null, null, ModelFeatures, ModelRho),
        new("demo-cost", GlmFamily.Gaussian, "cost_next_year", 5_000_000, 100_000, ModelFeatures, ModelRho),
        .. PatientYearSchema.Conditions.Select(c => new DemoGlm(
            "demo-onset-" + c.Replace('_', '-'), GlmFamily.Binomial, PatientYearSchema.OnsetOutcome(c), null, null,
            [.. ModelFeatures.Where(f => f != c)], OnsetRho, Evaluated: false, DpIterations: OnsetDpIterations)),
    ];

    /// <summary>The model studies' ids, in the order the demo waits for them.</summary>
    public static IEnumerable<string> ModelIds => Models.Select(m => m.Id);

    /// <summary>Patients by age band and sex across the ACO: an exact federated sum (the demo's site policies allow it).</summary>
    public static StudySpec Census() => new(
        new StudyId(CensusId), FederatedSumAlgorithm.AlgorithmName, Purpose, Nodes, Nodes, 1, CensusPhaseDeadlineSeconds,
        "Patients by age band and sex across the ACO, summed under threshold encryption.",
        new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["vector"] = LocalVectors.PatientsByAgeBandAndSex,
            ["year"] = CensusYear.ToString(CultureInfo.InvariantCulture),
        });

    /// <summary>The population by age band, sex and number of chronic conditions; with discrete Gaussian noise under DP.</summary>
    public static StudySpec Composition(bool dp, int year = CensusYear)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["year"] = year.ToString(CultureInfo.InvariantCulture) };
        if (dp)
        {
            parameters[StudyPrivacy.RhoParameter] = Number(CompositionRho);
            parameters[StudyPrivacy.MinHonestNodesParameter] = Number(MinHonestNodes);
        }

        return new StudySpec(new StudyId(year == CensusYear ? CompositionId : $"demo-composition-{year}"), CompositionStudy.AlgorithmName, Purpose, Nodes, Nodes, 1, PhaseDeadlineSeconds,
            $"The ACO's population in {year} by age band, sex and number of chronic conditions, with discrete Gaussian noise.", parameters);
    }

    /// <summary>
    /// What the federation observed in the two years after the cut-off: patient-years, people admitted, ED visits, deaths, new onsets
    /// and cost, summed with each node's discrete Gaussian noise (always DP: federated-outcomes releases only noisy totals).
    /// </summary>
    public static StudySpec ObservedOutcomes() => new(
        new StudyId(ObservedOutcomesId), OutcomeTotalsStudy.AlgorithmName, Purpose, Nodes, Nodes, 1, PhaseDeadlineSeconds,
        "What the federation observed after the back-test's cut-off, year by year, with discrete Gaussian noise.",
        new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["from_year"] = Number(CutoffYear + 1),
            ["to_year"] = Number(CutoffYear + 2),
            [StudyPrivacy.RhoParameter] = Number(ObservedRho),
            [StudyPrivacy.MinHonestNodesParameter] = Number(MinHonestNodes),
        });

    /// <summary>One model study, exact or under DP.</summary>
    public static StudySpec Model(DemoGlm model, bool dp)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new StudySpec(new StudyId(model.Id), GlmStudy.AlgorithmName, Purpose, Nodes, Nodes, 1, PhaseDeadlineSeconds,
            $"{FamilyName(model.Family)} GLM of {model.Outcome} for the population twin.", model.Parameters(dp));
    }

    private static string FamilyName(GlmFamily family) => family switch
    {
        GlmFamily.Binomial => "binomial",
        GlmFamily.Poisson => "poisson",
        _ => "gaussian",
    };

    private static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>One GLM study of the demo: the twin outcome it supplies and how it is fitted.</summary>
    /// <param name="MaxResponse">Bounds the outcome for the exact fit's codec.</param>
    /// <param name="DpResponse">Under DP the outcome is clipped to this (and fitted means to the same bound), since the noise grows with it.</param>
    /// <param name="Features">The model's features (an onset model leaves out its own condition: its rows are those without it).</param>
    /// <param name="Rho">zCDP ρ the study spends at each node under DP, split over its rounds.</param>
    /// <param name="Evaluated">Whether a fifth of the patients is held out and the fit evaluated on them (one more round).</param>
    /// <param name="DpIterations">Noisy Newton rounds under DP (GlmStudy.DefaultPrivateIterations unless set).</param>
    internal sealed record DemoGlm(string Id, GlmFamily Family, string Outcome, int? MaxResponse, int? DpResponse, IReadOnlyList<string> Features, double Rho,
        bool Evaluated = true, int? DpIterations = null)
    {
        /// <summary>The study's parameters (see GlmStudy.Parse for their meaning).</summary>
        public Dictionary<string, string> Parameters(bool dp)
        {
            var p = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["family"] = FamilyName(Family),
                ["outcome"] = Outcome,
                ["features"] = string.Join(',', Features),
                ["max_rows_per_node"] = "1000000",
                ["max_abs_feature"] = "1000",
                ["holdout"] = Evaluated ? "0.2" : "0",
                ["start"] = "null_model",
                ["min_year"] = (CutoffYear - TrainingYears).ToString(CultureInfo.InvariantCulture),
                ["max_year"] = (CutoffYear - 1).ToString(CultureInfo.InvariantCulture),
            };
            if ((dp ? DpResponse : MaxResponse) is { } maxResponse)
            {
                p["max_abs_response"] = Number(maxResponse);
            }

            if (!dp)
            {
                return p;
            }

            p[StudyPrivacy.RhoParameter] = Number(Rho);

            // The count features' declared ranges (the schema documents the 0/1 and age columns) and h; K is the training window's
            // length (GlmStudy: min_year and max_year allow one row per patient and year).
            p["feature_bounds"] = "inpatient_admissions:0:10,ed_visits:0:20";
            p[StudyPrivacy.MinHonestNodesParameter] = Number(MinHonestNodes);
            if (DpResponse is { } clip)
            {
                p["max_abs_mean"] = Number(clip);
            }

            if (DpIterations is { } n)
            {
                p["max_iterations"] = Number(n);
            }

            return p;
        }
    }
}
