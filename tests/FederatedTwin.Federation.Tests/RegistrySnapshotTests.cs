using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Coordinator.Registry;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Federation.Tests;

/// <summary>The coordinator's models table as the twin reads it (`ftwin model export`): what is used, what is skipped and why.</summary>
public sealed class RegistrySnapshotTests
{
    private static RegisteredModel Admission(string study) => new(RegisteredModel.GlmId("admission_next_year", study), "glm", GlmFamily.Binomial, "admission_next_year", null,
        [new ModelTerm(ModelTerm.Intercept, -3, 0.1, -3.2, -2.8), new ModelTerm("age_band[65-74]", 0.5, 0.05, 0.4, 0.6), new ModelTerm("heart_failure", 0.7, 0.1, 0.5, 0.9)],
        1, 900, 1000, 906, 4000, 3, 9, study, "HOPERAT", DateTimeOffset.UnixEpoch, new ModelPrivacy(false, null));

    /// <summary>A DP model as the coordinator writes it after its planned rounds: unconverged, released or refused.</summary>
    private static JsonObject DpDocument(string study, string outcome, string? refused)
    {
        var model = Admission(study) with
        {
            Id = RegisteredModel.GlmId(outcome, study),
            Outcome = outcome,
            Privacy = new ModelPrivacy(true, 2, 8, 8, 2),
            Release = refused is null ? RegisteredModel.ReleaseDpPlannedRounds : null,
        };
        var document = JsonNode.Parse(model.ToJson())!.AsObject();
        document["converged"] = false;
        document["release_refused"] = refused;
        document["dp_release_checks"] = new JsonObject { ["score_statistic"] = 14.7, ["score_critical"] = 32.9 };
        return document;
    }

    [Fact]
    public void A_dp_glm_released_after_its_planned_rounds_is_exported_and_one_that_failed_its_checks_is_skipped_with_the_reason()
    {
        var root = TestFederation.TempDir("registry-dp");
        var store = CoordinatorStore.Sqlite(Path.Combine(root, "coordinator"));
        void Insert(string study, JsonObject model) => store.Write((c, t) =>
        {
            c.Execute("INSERT INTO studies(study_id, spec_json, state, created_at, offered_until, updated_at) VALUES (@study, '{}', 'completed', '2026-01-01', '2026-01-01', '2026-01-01')", new { study }, t);
            c.Execute("INSERT INTO models(model_id, study_id, kind, outcome, created_at, model_json) VALUES (@id, @study, 'glm', @outcome, '2026-01-01', @json)",
                new { id = model["id"]!.ToString(), study, outcome = model["outcome"]!.ToString(), json = model.ToJsonString() }, t);
        });
        Insert("dp-admission", DpDocument("dp-admission", "admission_next_year", null));
        Insert("dp-death", DpDocument("dp-death", "death_next_year", "the last noisy score is not consistent with a stationary point"));

        var snapshot = RegistrySnapshot.Read(store);
        var released = Assert.Single(snapshot.Models);
        Assert.Equal("glm/admission_next_year/dp-admission", released.Id);
        Assert.Equal(RegisteredModel.ReleaseDpPlannedRounds, released.Release);
        Assert.Equal(new ModelPrivacy(true, 2, 8, 8, 2), released.Privacy);
        var skipped = Assert.Single(snapshot.Skipped);
        Assert.Equal("glm/death_next_year/dp-death", skipped.Id);
        Assert.Contains("not released: the last noisy score", skipped.Reason, StringComparison.Ordinal);

        // Exported and read back by the twin: the DP model is used by its registry id and its origin says how it was
        // released; the refused death model's outcome falls back to the demo set.
        var exported = Path.Combine(root, "registry");
        _ = snapshot.Export(exported);
        Assert.Equal(RegisteredModel.ReleaseDpPlannedRounds, RegisteredModel.Load(Path.Combine(exported, released.RelativePath())).Release);
        var set = ModelSet.Load(exported, fallback: ModelSet.DemoFallback());
        var admission = set.Origins.Single(o => o.Outcome == "admission");
        Assert.Equal((ModelOrigin.Federated, "glm/admission_next_year/dp-admission"), (admission.Kind, admission.Id));
        Assert.Contains("final iterate after its 8 planned rounds", admission.Reason, StringComparison.Ordinal);
        Assert.Equal(ModelOrigin.Fallback, set.Origins.Single(o => o.Outcome == "death").Kind);
    }

    [Fact]
    public void Converged_glms_and_compositions_are_exported_and_everything_else_is_listed_as_skipped()
    {
        var root = TestFederation.TempDir("registry-snapshot");
        var store = CoordinatorStore.Sqlite(Path.Combine(root, "coordinator"));
        void Insert(string study, string kind, JsonObject model) => store.Write((c, t) =>
        {
            c.Execute("INSERT INTO studies(study_id, spec_json, state, created_at, offered_until, updated_at) VALUES (@study, '{}', 'completed', '2026-01-01', '2026-01-01', '2026-01-01')", new { study }, t);
            c.Execute("INSERT INTO models(model_id, study_id, kind, outcome, created_at, model_json) VALUES (@id, @study, @kind, @outcome, '2026-01-01', @json)",
                new { id = model["id"]!.ToString(), study, kind, outcome = model["outcome"]!.ToString(), json = model.ToJsonString() }, t);
        });

        // The coordinator's GLM document carries extras (link, converged, evaluation) beyond the registered-model fields.
        var glm = JsonNode.Parse(Admission("readmit").ToJson())!.AsObject();
        glm["link"] = "logit";
        glm["converged"] = true;
        Insert("readmit", "glm", glm);
        var unconverged = JsonNode.Parse(Admission("slow").ToJson())!.AsObject();
        unconverged["converged"] = false;
        Insert("slow", "glm", unconverged);
        Insert("fed", "fedavg", new JsonObject { ["id"] = "fedavg/admission_next_year/fed", ["kind"] = "fedavg", ["outcome"] = "admission_next_year" });
        var counts = Enumerable.Range(0, CompositionLayout.CompositionCells).Select(i => 40.0 + (i % 7)).ToArray();
        var prevalence = new double[CompositionLayout.PrevalenceCells];
        for (var b = 0; b < CompositionLayout.AgeBands; b++)
        {
            for (var s = 0; s < CompositionLayout.Sexes; s++)
            {
                for (var l = 1; l < CompositionLayout.ConditionCountLevels; l++)
                {
                    for (var j = 0; j < l; j++)
                    {
                        prevalence[CompositionLayout.PrevalenceIndex(j, b, s, l)] = counts[CompositionLayout.CompositionIndex(b, s, l)];
                    }
                }
            }
        }

        var release = CompositionRelease.Publish(counts, prevalence, CompositionLayout.ConditionNames, ReleasedCounts.Noisy);
        Insert("census", "composition", JsonNode.Parse(release.ToDocument("census", "HOPERAT", 2024, 11, 0.5, DateTimeOffset.UnixEpoch).ToJson())!.AsObject());

        var snapshot = RegistrySnapshot.Read(store);
        Assert.Equal(["glm/admission_next_year/readmit"], snapshot.Models.Select(m => m.Id));
        Assert.Equal(["composition/2024/census"], snapshot.Compositions.Select(c => c.Id));
        Assert.Equal((long)counts.Sum(), snapshot.Compositions[0].PublishedTotal);
        Assert.Equal(2, snapshot.Skipped.Count);
        Assert.Contains(snapshot.Skipped, k => k.Id == "glm/admission_next_year/slow" && k.Reason.Contains("did not converge", StringComparison.Ordinal));
        Assert.Contains(snapshot.Skipped, k => k.Kind == "fedavg");

        var exported = Path.Combine(root, "registry");
        Assert.Equal(2, snapshot.Export(exported).Count);
        var set = ModelSet.Load(exported, fallback: ModelSet.DemoFallback());
        Assert.Equal("glm/admission_next_year/readmit", set.Admission.Id);
        Assert.Equal(ModelOrigin.Federated, set.Origins[0].Kind);
        Assert.Equal("composition/2024/census", Assert.Single(set.Compositions).Id);
        // age_band[65-74] is evaluated: a 70-year-old with heart failure has η = −3 + 0.5 + 0.7.
        Assert.Equal(-1.8, set.Admission.Eta(new PersonFeatures(2024, 70, false, 1 << 2, 0, 0, 0, 0)), 12);
        Assert.Equal(-2.3, set.Admission.Eta(new PersonFeatures(2024, 75, false, 1 << 2, 0, 0, 0, 0)), 12);
    }
}
