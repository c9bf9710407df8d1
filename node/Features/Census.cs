using Dapper;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Features;

/// <summary>
/// Patients alive at the start of a year, by age band and sex (<see cref="LocalVectors.PatientsByAgeBandAndSex"/>),
/// counted from the de-identified store with consent applied for the study's purpose: a patient-year
/// whose consent state is deny is left out; with no consent on file, research (HRESCH) is opt-in and
/// the HIPAA-permitted purposes (treatment, payment, operations, public health) are opt-out.
/// </summary>
public static class Census
{
    public static bool HasPatients(NodeStore store) => store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM patients")) > 0;

    public static long[] PatientsByAgeBandAndSex(NodeStore store, int year, string purpose)
    {
        var optIn = purpose == "HRESCH";
        var rows = store.Read(c => c.Query<(long age, string? sex, string? state)>("""
            SELECT a.age, p.sex, s.state FROM patient_ages a
            JOIN patients p ON p.pseudonym = a.pseudonym
            LEFT JOIN consent_states s ON s.pseudonym = a.pseudonym AND s.year = a.year AND s.purpose = @purpose
            WHERE a.year = @year AND (p.deceased_year IS NULL OR p.deceased_year >= @year)
            """, new { year, purpose }).ToList());
        var counts = new long[LocalVectors.AgeBands.Count * LocalVectors.Sexes.Count];
        foreach (var (age, sex, state) in rows)
        {
            var allowed = state == "permit" || (state is null && !optIn);
            var s = sex == "male" ? 1 : sex == "female" ? 0 : -1;
            if (allowed && s >= 0)
            {
                counts[(FeatureSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand((int)age)) * 2) + s]++;
            }
        }

        return counts;
    }
}
