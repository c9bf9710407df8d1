using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Analytics.Tests;

/// <summary>Generated patients with several years each, for the DP tests (per-patient clipping needs patient ids).</summary>
internal static class PatientCohorts
{
    /// <summary>Patients with <paramref name="rowsPerPatient"/> years each; age 20–100, smoking, a logistic outcome.</summary>
    public static GlmData Cohort(int patients, int rowsPerPatient, int seed, int firstPatient = 0)
    {
        var rng = new Random(seed);
        int n = patients * rowsPerPatient;
        var x = new double[n * 2];
        var y = new double[n];
        var ids = new int[n];
        for (int i = 0; i < n; i++)
        {
            double age = 20 + (80 * rng.NextDouble()), smoker = rng.NextDouble() < 0.3 ? 1 : 0;
            x[2 * i] = age;
            x[(2 * i) + 1] = smoker;
            double eta = -2 + (0.03 * (age - 60)) + (0.7 * smoker);
            y[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0;
            ids[i] = firstPatient + (i / rowsPerPatient);
        }

        return new GlmData(2, x, y, patients: ids);
    }
}
