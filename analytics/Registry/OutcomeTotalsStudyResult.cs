using FederatedTwin.Analytics.Census;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// What a <c>federated-outcomes</c> study publishes: for each outcome year and measure the decrypted noisy sum, or null where it
/// is suppressed, with the standard deviation of the noise it carries (so whoever compares a prediction with it can allow for
/// the noise). Suppressed: a count of patient-years (the denominator, people admitted, deaths) under the minimum cell size, and
/// every measure of a year whose denominator is suppressed (a total over too few patient-years says too much about each).
/// </summary>
public sealed record OutcomeTotalsStudyResult(
    string Algorithm,
    int FromYear,
    int ToYear,
    int MinimumCellSize,
    double Rho,
    IReadOnlyList<OutcomeTotal> Outcomes) : StudyResult(Algorithm)
{
    /// <inheritdoc/>
    public override string ToJson() => RegistryJson.Serialize(this);

    /// <summary>Parses a stored result (<see cref="FormatException"/> if it is not one).</summary>
    public static OutcomeTotalsStudyResult FromJson(string json) => RegistryJson.Deserialize<OutcomeTotalsStudyResult>(json, "a federated-outcomes result");

    /// <summary>The published value of a measure in a year (null when suppressed or absent).</summary>
    public OutcomeTotal? Get(string measure, int year) => Outcomes.FirstOrDefault(o => o.Measure == measure && o.Year == year);

    /// <summary>The release of decoded noisy sums (<paramref name="sums"/> in the study's vector order), with small counts suppressed.</summary>
    public static OutcomeTotalsStudyResult Publish(OutcomeTotalsStudy study, IReadOnlyList<double> sums)
    {
        ArgumentNullException.ThrowIfNull(study);
        ArgumentNullException.ThrowIfNull(sums);
        if (sums.Count != OutcomeTotalsStudy.VectorLength(study))
        {
            throw new ArgumentException($"The study has {OutcomeTotalsStudy.VectorLength(study)} sums, not {sums.Count}.", nameof(sums));
        }

        var rows = new List<OutcomeTotal>();
        for (var year = study.FromYear; year <= study.ToYear; year++)
        {
            var denominatorShown = sums[study.Index(0, year)] >= study.MinimumCellSize;
            for (var m = 0; m < OutcomeTotalsStudy.Measures.Count; m++)
            {
                var measure = OutcomeTotalsStudy.Measures[m];
                var value = sums[study.Index(m, year)];
                var shown = denominatorShown && (!OutcomeTotalsStudy.IsPatientCount(measure) || value >= study.MinimumCellSize);
                rows.Add(new OutcomeTotal(year, measure, shown ? value : null, study.NoiseSd(m)));
            }
        }

        return new OutcomeTotalsStudyResult(OutcomeTotalsStudy.AlgorithmName, study.FromYear, study.ToYear, study.MinimumCellSize, study.Rho, rows);
    }
}

/// <summary>One published sum: its outcome year, measure (<see cref="OutcomeTotalsStudy.Measures"/>), noisy value (null: suppressed) and noise SD.</summary>
public sealed record OutcomeTotal(int Year, string Measure, double? Value, double NoiseSd);
