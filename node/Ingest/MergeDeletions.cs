namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Deletions a source reported (<see cref="DeletedResource"/>), keyed as the store keys what it holds: a Patient by its pseudonym
/// (its whole row) and its own resource key, anything else by its resource key (<see cref="Deidentification.KeyedHasher.Resource"/>).
/// Duplicates are dropped, so each counts once.
/// </summary>
internal sealed class MergeDeletions
{
    public List<(string Group, UInt128 Key)> Patients { get; } = [];

    public List<UInt128> Resources { get; } = [];

    public bool IsEmpty => Patients.Count == 0 && Resources.Count == 0;

    public int Count => Patients.Count + Resources.Count;

    public static MergeDeletions Of(IEnumerable<DeletedResource> deleted, Deidentification.KeyedHasher hasher)
    {
        var result = new MergeDeletions();
        var seen = new HashSet<UInt128>();
        foreach (var d in deleted)
        {
            var key = hasher.Resource(d.Type, d.Id);
            if (!seen.Add(key))
            {
                continue;
            }

            if (d.Type == "Patient")
            {
                result.Patients.Add((GroupKey.Patient(hasher.PatientKey(d.Id)).ToString(), key));
            }
            else
            {
                result.Resources.Add(key);
            }
        }

        return result;
    }
}
