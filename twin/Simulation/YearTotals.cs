namespace FederatedTwin.Twin.Simulation;

/// <summary>Indices of the per-year sums the step accumulates (one double each).</summary>
public enum Metric
{
    PersonYears,
    TotalCost,
    Admissions,
    /// <summary>Person-years with at least one admission (the admission_next_year outcome).</summary>
    Admitted,
    BedDays,
    EdVisits,
    Deaths,
    NewOnsets,
    InterventionCost,
    Enrolled,
    McPersonYears,
    McCost,
    McMultiMorbidAdmissions,
    McMultiMorbidPersonYears,
}

/// <summary>Sums for one simulation year of one replicate, indexed by <see cref="Metric"/>.</summary>
public sealed class YearTotals
{
    /// <summary>Number of metrics.</summary>
    public static readonly int MetricCount = Enum.GetValues<Metric>().Length;

    private readonly double[] _values = new double[MetricCount];

    /// <summary>One metric.</summary>
    public double this[Metric m]
    {
        get => _values[(int)m];
        set => _values[(int)m] = value;
    }

    /// <summary>Per 1,000 person-years.</summary>
    public double Per1000(Metric m) => this[Metric.PersonYears] == 0 ? 0 : this[m] / this[Metric.PersonYears] * 1000;

    /// <summary>Per member per month of total cost.</summary>
    public double Pmpm => this[Metric.PersonYears] == 0 ? 0 : this[Metric.TotalCost] / this[Metric.PersonYears] / 12;
}
