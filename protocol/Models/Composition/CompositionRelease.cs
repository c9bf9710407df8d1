using System.Globalization;
using System.Text.Json.Nodes;

namespace FederatedTwin.Protocol.Models.Composition;

/// <summary>
/// The analyst's view of the population composition (DESIGN §8): the decrypted noisy counts, rounded to
/// non-negative integers, with all margins computed from those rounded cells (post-processing, so the totals
/// cost no extra budget and add up exactly), small cells suppressed with complementary suppression, and the
/// result audited before it is returned. A prevalence count is also hidden whenever the composition count of
/// its population (same age band, sex and condition-count level or total) is hidden: a count of patients with
/// a condition would otherwise bound the hidden population from below.
/// </summary>
public sealed class CompositionRelease
{
    private CompositionRelease(PublishedTable composition, IReadOnlyList<PublishedTable> prevalence)
    {
        Composition = composition;
        Prevalence = prevalence;
    }

    /// <summary>Age band × sex × condition-count level, with margins.</summary>
    public PublishedTable Composition { get; }

    /// <summary>One table per condition: age band × sex × condition-count level 1..4+, with margins.</summary>
    public IReadOnlyList<PublishedTable> Prevalence { get; }

    /// <param name="noisyComposition">The 80 decoded noisy composition counts (<see cref="CompositionLayout.CompositionIndex"/>).</param>
    /// <param name="noisyPrevalence">The 704 decoded noisy prevalence counts (<see cref="CompositionLayout.PrevalenceIndex"/>).</param>
    /// <param name="conditionNames">The 11 condition names, in the layout's order.</param>
    /// <param name="minimumCellSize">Smallest count shown (default 11).</param>
    public static CompositionRelease Publish(
        ReadOnlySpan<double> noisyComposition,
        ReadOnlySpan<double> noisyPrevalence,
        IReadOnlyList<string> conditionNames,
        int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(conditionNames);
        if (noisyComposition.Length != CompositionLayout.CompositionCells)
        {
            throw new ArgumentException($"need {CompositionLayout.CompositionCells} composition counts, not {noisyComposition.Length}", nameof(noisyComposition));
        }

        if (noisyPrevalence.Length != CompositionLayout.PrevalenceCells)
        {
            throw new ArgumentException($"need {CompositionLayout.PrevalenceCells} prevalence counts, not {noisyPrevalence.Length}", nameof(noisyPrevalence));
        }

        if (conditionNames.Count != CompositionLayout.Conditions)
        {
            throw new ArgumentException($"need {CompositionLayout.Conditions} condition names", nameof(conditionNames));
        }

        var composition = new MarginTable(CompositionLayout.CompositionShape, NoisyCounts.RoundToNonNegative(noisyComposition));
        var compositionSuppressed = ComplementarySuppression.Suppress(composition, minimumCellSize);
        Audit(composition, compositionSuppressed, minimumCellSize, "composition");
        var compositionLabels = new[] { CompositionLayout.AgeBandLabels, CompositionLayout.SexLabels, CompositionLayout.ConditionCountLabels };

        var prevalenceCounts = NoisyCounts.RoundToNonNegative(noisyPrevalence);
        var prevalenceLabels = new[] { CompositionLayout.AgeBandLabels, CompositionLayout.SexLabels, CompositionLayout.ConditionCountLabels.Skip(1).ToArray() };
        var prevalence = new List<PublishedTable>(CompositionLayout.Conditions);
        for (int j = 0; j < CompositionLayout.Conditions; j++)
        {
            var table = new MarginTable(
                CompositionLayout.PrevalenceShape,
                prevalenceCounts.AsSpan(j * CompositionLayout.PrevalenceCellsPerCondition, CompositionLayout.PrevalenceCellsPerCondition));
            var forced = new bool[table.CellCount];
            for (int c = 0; c < table.CellCount; c++)
            {
                var at = table.Coordinates(c);
                at[2] = at[2] == CompositionLayout.PrevalenceCountLevels ? CompositionLayout.ConditionCountLevels : at[2] + 1;
                forced[c] = compositionSuppressed[composition.Index(at)];
            }

            var suppressed = ComplementarySuppression.Suppress(table, minimumCellSize, forced);
            Audit(table, suppressed, minimumCellSize, conditionNames[j]);
            prevalence.Add(new PublishedTable($"prevalence of {conditionNames[j]}", table, suppressed, prevalenceLabels));
        }

        return new CompositionRelease(new PublishedTable("composition", composition, compositionSuppressed, compositionLabels), prevalence);
    }

    /// <summary>
    /// The release as the coordinator's model registry stores it (kind "composition", id composition/&lt;year&gt;/&lt;study&gt;):
    /// the composition table, one prevalence table per condition (<see cref="PublishedTable.ToJson"/>), provenance and privacy.
    /// The twin reads this document back (coordinator/FederatedTwin.Scenarios, ReleasedComposition).
    /// </summary>
    public JsonObject ToRegistryJson(string studyId, string purposeOfUse, int year, int minimumCellSize, double rho, DateTimeOffset createdAt) => new()
    {
        ["id"] = $"composition/{year}/{studyId}",
        ["kind"] = "composition",
        ["outcome"] = "composition",
        ["year"] = year,
        ["minimum_cell_size"] = minimumCellSize,
        ["composition"] = Composition.ToJson(),
        ["prevalence"] = new JsonObject(CompositionLayout.ConditionNames.Select((name, j) => KeyValuePair.Create(name, (JsonNode?)Prevalence[j].ToJson()))),
        ["study_id"] = studyId,
        ["purpose_of_use"] = purposeOfUse,
        ["created_at"] = createdAt.ToString("O", CultureInfo.InvariantCulture),
        ["privacy"] = new JsonObject { ["dp"] = rho > 0, ["rho"] = rho > 0 ? rho : null, ["l2_sensitivity"] = CompositionLayout.L2Sensitivity },
    };

    private static void Audit(MarginTable table, bool[] suppressed, int minimumCellSize, string name)
    {
        var audit = SuppressionVerifier.Verify(table, suppressed, minimumCellSize);
        if (!audit.Passed)
        {
            throw new InvalidOperationException($"suppression of {name} failed its audit; nothing is published");
        }
    }
}
