using FederatedTwin.Analytics.Census;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Features;

/// <summary>
/// Patients alive at the start of a year, by age band and sex (<see cref="LocalVectors.PatientsByAgeBandAndSex"/>),
/// counted from the de-identified store with consent applied for the study's purpose: a patient-year
/// whose consent state is deny is left out, one whose state is permit is counted, and one with no
/// Consent deciding the purpose follows the site policy's consent default for it (opt-in: left out).
/// </summary>
public static class Census
{
    public static bool HasPatients(NodeStore store) => DataSnapshot.Current(store).HasPatients;

    /// <summary>The census from the data published last.</summary>
    public static long[] PatientsByAgeBandAndSex(NodeStore store, int year, string purpose, bool optIn) =>
        PatientsByAgeBandAndSex(DataSnapshot.Current(store), year, purpose, optIn);

    /// <summary>The census from the data as of a version (a study's pinned one).</summary>
    public static long[] PatientsByAgeBandAndSex(DataSnapshot data, int year, string purpose, bool optIn)
    {
        var version = data.Version;
        var rows = data.Store.Read(c => FeatureQueries.Census(c, year, purpose, version));
        var counts = new long[LocalVectors.AgeBands.Count * LocalVectors.Sexes.Count];
        foreach (var (birthYear, ninetyPlus, sex, state) in rows)
        {
            var allowed = state == "permit" || (state is null && !optIn);
            var s = sex == "male" ? 1 : sex == "female" ? 0 : -1;
            if (allowed && s >= 0 && SafeHarbor.AgeInYear(birthYear, ninetyPlus, year) is { } age)
            {
                counts[(FeatureSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(age)) * 2) + s]++;
            }
        }

        return counts;
    }
}
