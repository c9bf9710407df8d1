using FederatedTwin.Node.Features;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Node.Twins;

/// <summary>
/// The facility twin's starting population: the hospital's own patients alive at the end of one feature year, from their
/// patient-year rows of that year (age, sex, the 11 conditions, that year's admissions, inpatient days, ED visits and cost),
/// in the twin's structure-of-arrays form. Nothing is drawn: a closed cohort of the node's rows (no pseudonym is kept).
/// </summary>
/// <param name="Cohort">The people, with <see cref="Cohort.FeatureYear"/> the feature year.</param>
/// <param name="RowsOfYear">Rows of the feature year the node offered (after consent and sensitive exclusions).</param>
/// <param name="DiedInYear">Of those, patients who died in the feature year: left out (not alive at its end).</param>
public sealed record FacilityCohort(Cohort Cohort, int RowsOfYear, int DiedInYear)
{
    /// <summary>The feature year (the first simulated year is the next one).</summary>
    public int FeatureYear => Cohort.FeatureYear;

    /// <summary>
    /// Builds the cohort of <paramref name="featureYear"/> from patient-year rows (any years; the rows of the feature year and
    /// of the year before are read). A patient died in the feature year when their row of the year before says
    /// <c>death_next_year</c> = 1, or, before the node's last data year, when the feature year's own outcome is not observed
    /// although the next year is in the data (the feature builder stops observing at death, docs/features.md). Ages are the
    /// rows' (90 means 90 or over, Safe Harbor); inpatient days are rounded to whole days.
    /// </summary>
    public static FacilityCohort FromRows(IEnumerable<PatientYear> rows, int featureYear, int dataLastYear)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (featureYear > dataLastYear)
        {
            throw new ArgumentOutOfRangeException(nameof(featureYear), $"the feature year {featureYear} is after the node's last data year {dataLastYear}");
        }

        var ofYear = new List<PatientYear>();
        var diedThisYear = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            var year = (int)row.Values["year"]!.Value;
            if (year == featureYear)
            {
                ofYear.Add(row);
            }
            else if (year == featureYear - 1 && Flag(row, "outcome_observed") && Flag(row, "death_next_year"))
            {
                diedThisYear.Add(row.Pseudonym);
            }
        }

        // People in the order of their features, not of their pseudonyms: a person's draws follow their index, and pseudonyms
        // depend on the node's secret key, so this makes a run a function of the data and the seed alone (people with equal
        // features are interchangeable, so ties need no order).
        var living = ofYear.Where(r => !diedThisYear.Contains(r.Pseudonym) && (featureYear == dataLastYear || Flag(r, "outcome_observed")))
            .Select(r => r.Values)
            .OrderBy(v => v, FeatureOrder.Instance)
            .ToList();
        var cohort = new Cohort(living.Count, featureYear);
        for (var i = 0; i < living.Count; i++)
        {
            var v = living[i];
            cohort.Age[i] = (byte)Math.Clamp((int)Value(v, "age"), 0, TwinFeatures.MaxModelAge);
            cohort.Male[i] = Value(v, "sex_male") == 1;
            var mask = 0;
            for (var k = 0; k < ChronicConditions.Count; k++)
            {
                mask |= Value(v, ChronicConditions.All[k]) == 1 ? 1 << k : 0;
            }

            cohort.Conditions[i] = (ushort)mask;
            cohort.Alive[i] = true;
            cohort.InpatientAdmissions[i] = Count(Value(v, "inpatient_admissions"));
            cohort.InpatientDays[i] = Count(Value(v, "inpatient_days"));
            cohort.EdVisits[i] = Count(Value(v, "ed_visits"));
            cohort.Cost[i] = Math.Max(0, Value(v, "cost"));
        }

        return new FacilityCohort(cohort, ofYear.Count, ofYear.Count - living.Count);
    }

    private static bool Flag(PatientYear row, string column) => row.Values.GetValueOrDefault(column) == 1;

    private static double Value(IReadOnlyDictionary<string, double?> v, string column) =>
        v.GetValueOrDefault(column) ?? throw new InvalidOperationException($"a patient-year row has no {column}");

    private static ushort Count(double x) => (ushort)Math.Clamp(Math.Round(x, MidpointRounding.AwayFromZero), 0, ushort.MaxValue);

    private sealed class FeatureOrder : IComparer<IReadOnlyDictionary<string, double?>>
    {
        public static readonly FeatureOrder Instance = new();

        private static readonly string[] Columns = ["age", "sex_male", .. ChronicConditions.All, "inpatient_admissions", "inpatient_days", "ed_visits", "cost"];

        public int Compare(IReadOnlyDictionary<string, double?>? x, IReadOnlyDictionary<string, double?>? y)
        {
            foreach (var c in Columns)
            {
                var order = Nullable.Compare(x?.GetValueOrDefault(c), y?.GetValueOrDefault(c));
                if (order != 0)
                {
                    return order;
                }
            }

            return 0;
        }
    }
}
