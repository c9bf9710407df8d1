using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Features;

/// <summary>
/// The node's de-identified data as of one data version (docs/architecture.md, "Snapshots"): what every feature, census and count
/// of a study is computed from. A study reads the version it pinned when the node accepted it (<see cref="Federation.AcceptedStudy.Data"/>),
/// so an ingest that publishes a newer version during the study changes none of its rounds; everything else reads the version
/// published last (<see cref="Current"/>).
/// </summary>
public readonly record struct DataSnapshot(NodeStore Store, long Version)
{
    /// <summary>The version the last complete ingest published.</summary>
    public static DataSnapshot Current(NodeStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new DataSnapshot(store, store.Read(FeatureQueries.PublishedVersion));
    }

    /// <summary>The patient-years as of this version.</summary>
    public FeatureBuilder Features => new(Store, Version);

    /// <summary>Whether any patient was stored as of this version.</summary>
    public bool HasPatients
    {
        get
        {
            var version = Version;
            return Store.Read(c => FeatureQueries.PatientCount(c, version)) > 0;
        }
    }

    /// <summary>
    /// Releases the pins of studies that ended at this node and deletes the superseded rows no remaining pin can see
    /// (<see cref="FeatureQueries.CollectSuperseded"/>); an ingest does the same when it publishes. Returns the rows deleted.
    /// </summary>
    public static int Collect(NodeStore store, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        return store.Write((c, t) => FeatureQueries.CollectSuperseded(c, t, time.GetUtcNow().ToString("O")));
    }

    /// <summary>The census of <paramref name="year"/> for a purpose (<see cref="Census"/>) as of this version.</summary>
    public long[] PatientsByAgeBandAndSex(int year, string purpose, bool optIn) => Census.PatientsByAgeBandAndSex(this, year, purpose, optIn);
}
