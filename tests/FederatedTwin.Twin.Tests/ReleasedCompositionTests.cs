using System.Numerics;
using System.Text.Json.Nodes;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The twin's cohort from a composition release as the coordinator publishes it (CompositionRelease.Publish, its registry
/// JSON): hidden cells filled from the published margins, cells scaled to the population, conditions drawn from the
/// conditional prevalences.
/// </summary>
public sealed class ReleasedCompositionTests
{
    /// <summary>Counts a synthetic population into the layout (as a node does, before noise) and publishes it.</summary>
    internal static (string Json, double[] TrueCounts) Release(int patients, int seed, double noiseSd = 0)
    {
        var random = new System.Random(seed);
        var composition = new double[CompositionLayout.CompositionCells];
        var prevalence = new double[CompositionLayout.PrevalenceCells];
        for (var i = 0; i < patients; i++)
        {
            var band = Math.Min(7, (int)(random.NextDouble() * random.NextDouble() * 9.5) + (random.NextDouble() < 0.6 ? 3 : 0));
            var sex = random.NextDouble() < 0.45 ? 1 : 0;
            var mask = 0;
            for (var j = 0; j < CompositionLayout.Conditions; j++)
            {
                // Prevalence rising with age band, condition-specific.
                if (random.NextDouble() < (0.02 + (0.03 * j % 0.1)) * (1 + band))
                {
                    mask |= 1 << j;
                }
            }

            var level = CompositionLayout.ConditionCountLevel(BitOperations.PopCount((uint)mask));
            composition[CompositionLayout.CompositionIndex(band, sex, level)]++;
            for (var j = 0; j < CompositionLayout.Conditions; j++)
            {
                if ((mask & (1 << j)) != 0)
                {
                    prevalence[CompositionLayout.PrevalenceIndex(j, band, sex, level)]++;
                }
            }
        }

        var truth = composition.ToArray();
        if (noiseSd > 0)
        {
            for (var i = 0; i < composition.Length; i++)
            {
                composition[i] += Math.Round(noiseSd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            }
        }

        var release = CompositionRelease.Publish(composition, prevalence, CompositionLayout.ConditionNames, ReleasedCounts.Noisy);
        return (release.ToDocument("demo-composition", "HOPERAT", 2024, 11, noiseSd > 0 ? 0.5 : 0, DateTimeOffset.UnixEpoch).ToJson(), truth);
    }

    [Fact]
    public void Hidden_cells_are_filled_so_that_every_published_count_is_reproduced()
    {
        var (json, _) = Release(patients: 2_500, seed: 3, noiseSd: 2);
        var table = JsonNode.Parse(json)!["composition"]!;
        var cells = table["cells"]!.AsArray().Select(c => c?.GetValue<long>()).ToArray();
        var extended = table["shape"]!.AsArray().Select(s => s!.GetValue<int>()).ToArray();
        var shape = extended.Select(s => s - 1).ToArray();
        Assert.Contains(cells, c => c is null); // the test needs suppression

        var released = ReleasedComposition.FromJson(json);
        Assert.True(released.HiddenCompositionCells > 0);
        Assert.Equal(cells[^1], released.PublishedTotal);
        var checkedMargins = 0;
        for (var e = 0; e < cells.Length; e++)
        {
            if (cells[e] is not { } published)
            {
                continue;
            }

            var ec = ReleasedComposition.Coordinates(e, extended);
            double sum = 0;
            for (var i = 0; i < released.Counts.Count; i++)
            {
                var ic = ReleasedComposition.Coordinates(i, shape);
                if (ec.Select((c, d) => c == shape[d] || c == ic[d]).All(x => x))
                {
                    sum += released.Counts[i];
                }
            }

            Assert.True(Math.Abs(published - sum) < 0.01, $"published cell {e}: {published} vs filled {sum}");
            checkedMargins++;
        }

        Assert.True(checkedMargins > 50);
        Assert.All(released.Counts, c => Assert.True(c >= 0));
    }

    [Fact]
    public void The_cohort_reproduces_the_release_cells_and_its_conditional_prevalences()
    {
        var (json, truth) = Release(patients: 40_000, seed: 11);
        var released = ReleasedComposition.FromJson(json);
        var composition = released.ToComposition();
        Assert.Equal(released.Id, composition.Source);
        const int population = 200_000;
        var cohort = Cohort.FromComposition(composition, ModelSet.Demo(), population, seed: 9, firstYear: 2025);
        var total = released.Counts.Sum();
        Assert.Equal(truth.Sum(), total, 6); // no noise, nothing hidden that is not recovered from the margins

        var perCell = new int[CompositionLayout.CompositionCells];
        var withCondition = new int[CompositionLayout.CompositionCells, CompositionLayout.Conditions];
        var conditionsInTop = new long[CompositionLayout.CompositionCells];
        for (var i = 0; i < cohort.Count; i++)
        {
            var band = CompositionLayout.AgeBand(Math.Min((int)cohort.Age[i], 90));
            var count = BitOperations.PopCount(cohort.Conditions[i]);
            var level = CompositionLayout.ConditionCountLevel(count);
            var cell = CompositionLayout.CompositionIndex(band, cohort.Male[i] ? 1 : 0, level);
            perCell[cell]++;
            conditionsInTop[cell] += count;
            for (var j = 0; j < CompositionLayout.Conditions; j++)
            {
                withCondition[cell, j] += (cohort.Conditions[i] >> j) & 1;
            }
        }

        for (var cell = 0; cell < perCell.Length; cell++)
        {
            // Largest remainder: within one person of the scaled cell, and a level-l cell's people have exactly l conditions (4+ at least 4).
            Assert.InRange(perCell[cell], (released.Counts[cell] / total * population) - 1, (released.Counts[cell] / total * population) + 1);
        }

        var checkedCells = 0;
        for (var b = 0; b < CompositionLayout.AgeBands; b++)
        {
            for (var s = 0; s < 2; s++)
            {
                for (var l = 1; l < CompositionLayout.ConditionCountLevels; l++)
                {
                    var cell = CompositionLayout.CompositionIndex(b, s, l);
                    var n = perCell[cell];
                    if (n < 2_000)
                    {
                        continue;
                    }

                    checkedCells++;
                    var expectedConditions = 0.0;
                    for (var j = 0; j < CompositionLayout.Conditions; j++)
                    {
                        var pi = released.Prevalence[j][CompositionLayout.PrevalenceIndex(j, b, s, l) - (j * CompositionLayout.PrevalenceCellsPerCondition)] / released.Counts[cell];
                        expectedConditions += pi;
                        var observed = (double)withCondition[cell, j] / n;
                        var se = Math.Sqrt(Math.Max(pi * (1 - pi), 1e-4) / n);
                        Assert.True(Math.Abs(observed - pi) < 5 * se, $"cell {cell} condition {PatientYearSchema.Conditions[j]}: {observed:F4} vs {pi:F4}");
                    }

                    if (l == CompositionLayout.ConditionCountLevels - 1)
                    {
                        // 4+: mean number of conditions = the release's Σ_j prevalence / count, within Monte Carlo error.
                        Assert.InRange((double)conditionsInTop[cell] / n, expectedConditions - 0.05, expectedConditions + 0.05);
                    }
                    else
                    {
                        Assert.InRange(expectedConditions, l - 0.05, l + 0.05);
                    }
                }
            }
        }

        Assert.True(checkedCells >= 10, $"only {checkedCells} cells large enough");
    }

    [Fact]
    public void A_scenario_on_a_registry_with_a_composition_release_draws_its_cohort_from_it()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-comp-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (json, _) = Release(patients: 5_000, seed: 5, noiseSd: 1.5);
            foreach (var m in DemoModels.Registry())
            {
                Analytics.Registry.ModelRegistry.Save(m, dir);
            }

            Directory.CreateDirectory(Path.Combine(dir, "composition", "2024"));
            File.WriteAllText(Path.Combine(dir, "composition", "2024", "demo-composition.json"), json);
            var yaml = $"name: release\nstart_year: 2025\nhorizon: 2\npopulation: 3000\nreplicates: 2\nmodels: '{dir}'\n";
            var result = ScenarioRunner.RunScenario(ScenarioParser.Parse(yaml));
            Assert.Equal("composition/2024/demo-composition", result.Cohort.Composition);
            Assert.Equal(2024, result.Cohort.Year);
            Assert.Equal(3000, result.Cohort.Population);
            Assert.InRange(result.Cohort.MedicareEligibleAtStart, 1, 2999);

            // A registry of only the release: the models come from the fallback, the cohort from the release.
            var onlyRelease = Path.Combine(dir, "composition");
            var fallbackOnly = ScenarioRunner.RunScenario(ScenarioParser.Parse(
                $"name: release only\nstart_year: 2025\nhorizon: 1\npopulation: 2000\nreplicates: 2\nmodels:\n  registry: '{onlyRelease}'\n  fallback: demo\n"));
            Assert.Equal("composition/2024/demo-composition", fallbackOnly.Cohort.Composition);
            Assert.All(fallbackOnly.ModelOrigins, o => Assert.Equal(ModelOrigin.Fallback, o.Kind));

            // A broken release is an error at the models line naming the field.
            File.WriteAllText(Path.Combine(dir, "composition", "2024", "demo-composition.json"), json.Replace("\"minimum_cell_size\":11", "\"minimum_cell_size\":0", StringComparison.Ordinal));
            var e = Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(yaml));
            Assert.Contains("minimum_cell_size", e.Message, StringComparison.Ordinal);
            Assert.Equal(6, e.Line);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
