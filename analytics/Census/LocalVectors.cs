namespace FederatedTwin.Analytics.Census;

/// <summary>
/// The vectors a node can be asked to contribute to a federated sum, by name. Each has fixed labels,
/// so coordinator and nodes agree on the length and meaning of every position without exchanging data.
/// </summary>
public static class LocalVectors
{
    public const string PatientsByAgeBandAndSex = "patients_by_age_band_and_sex";

    /// <summary>Age bands of the feature schema (90+ is Safe Harbor's top band).</summary>
    public static readonly IReadOnlyList<string> AgeBands = PatientYearSchema.AgeBands;

    public static readonly IReadOnlyList<string> Sexes = ["female", "male"];

    public static IReadOnlyList<string> Labels(string vector) =>
        [.. Dimensions(vector).Aggregate((IEnumerable<string>)[string.Empty], (prefixes, levels) => prefixes.SelectMany(p => levels.Select(l => p.Length == 0 ? l : $"{p} {l}")))];

    /// <summary>
    /// The vector as a table: the levels of each dimension, the last varying fastest (age band × sex for the census), so the
    /// coordinator can publish it with its margins and complementary suppression.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> Dimensions(string vector) => vector switch
    {
        PatientsByAgeBandAndSex => [AgeBands, Sexes],
        _ => throw new ArgumentException($"Unknown vector '{vector}'. Known: {PatientsByAgeBandAndSex}.", nameof(vector)),
    };
}
