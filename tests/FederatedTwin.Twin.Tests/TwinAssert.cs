using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

internal static class TwinAssert
{
    /// <summary>
    /// Two runs with the same cohort and draws agree exactly, year by year, on every total but enrolment and intervention cost:
    /// what an intervention without effect must give, since baseline and scenario share their random numbers.
    /// </summary>
    public static void SameOutcomes(YearTotals[] baseline, YearTotals[] scenario)
    {
        foreach (var metric in Enum.GetValues<Metric>().Where(m => m is not (Metric.InterventionCost or Metric.Enrolled)))
        {
            for (var t = 0; t < baseline.Length; t++)
            {
                Assert.Equal(baseline[t][metric], scenario[t][metric]);
            }
        }
    }
}
