using FederatedTwin.Node.Features;

namespace FederatedTwin.Node.Twins;

/// <summary>
/// The patient twin on a node's own data: every living patient of the node's last data year, read under the site policy for the
/// purpose (its consent default, patients' consent decisions and sensitive exclusions apply), scored by <see cref="PatientTwin"/>.
/// `ftwin node twin patients` and the status page's worklist both run it.
/// </summary>
public static class PatientTwinOnNode
{
    /// <summary>Scores every living patient of the last data year; throws <see cref="InvalidOperationException"/> when the node holds no data.</summary>
    public static IReadOnlyList<PatientTwinResult> Score(NodeDirectory node, PatientTwin twin, string purpose)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(twin);
        var features = DataSnapshot.Current(node.Store).Features;
        var lastYear = features.DataLastYear() ?? throw new InvalidOperationException("the node holds no data: run `ftwin node ingest` first");
        var rows = PatientTwin.LivingLatest(features.ForStudy(node.LoadPolicy(), purpose), lastYear, features.DeceasedBy(lastYear)).ToList();
        return twin.ScoreAll(rows);
    }
}
