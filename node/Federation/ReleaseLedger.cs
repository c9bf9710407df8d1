using System.Text.Json;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;
using System.Data.Common;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// The node's release ledger: the decryption_shares table, one row per decryption share this node issued. Each is a release (with it
/// the sum can be decrypted), recorded with what was released — the SHA-256 of this node's plaintext values and (since the release-ledger
/// migration) the statistics and cohorts the accepted study counts (<see cref="ReleasedStatistic"/>) and whether it was exact — and over whom:
/// the submitters' keys and the member hospitals they are on the pinned roster. One ledger serves both differencing checks
/// (docs/threat-model.md, "Differencing"), made before this node's key joins an attempt and again before it issues a share:
/// <list type="bullet">
/// <item><c>participant_set_changed</c>, within a study: the same values never over two sets of submitters (a DP re-run draws fresh
/// noise), and an exact study over one set for all of its rounds.</item>
/// <item><c>release_differencing</c>, across studies: an exact release of a statistic and cohort this node already released exactly in
/// another study, over another set of hospitals, is refused. The two sums would differ by the statistic of the hospitals in one set and
/// not the other; with one hospital more or less, by that hospital's own, exactly. Hospitals are compared as the roster names them, so
/// a member's key rotation (a new roster version, same member) is not another hospital.</item>
/// </list>
/// DP releases are recorded too but never refused across studies: each is charged to the privacy ledger, and the differences of noisy
/// sums carry the noise.
/// </summary>
public sealed class ReleaseLedger(NodeStore store)
{
    /// <summary>A release this node made: one decryption share, what it was over and whom.</summary>
    public sealed record Release(string Study, int Round, int Attempt, string SubmittersSha256, int Submitters, string? ValuesSha256,
        IReadOnlyList<string>? Hospitals, IReadOnlyList<string>? Statistics, bool Exact);

    /// <summary>Every release this node made, in the order it made them.</summary>
    public IReadOnlyList<Release> All() => store.Read(c => All(c, null));

    private static List<Release> All(DbConnection c, DbTransaction? t) => FederationQueries.Releases(c, t).Select(ToRelease).ToList();

    /// <summary>
    /// Refuses (<see cref="ParticipationRefusedException"/>) a release of <paramref name="accepted"/> over <paramref name="submitterKeys"/>
    /// (the hospitals <paramref name="hospitals"/>) that would difference against one already in the ledger. <paramref name="valuesSha256"/>
    /// is this node's plaintext values for the round, or null before they exist (the key phase: then a DP study is not checked yet).
    /// </summary>
    public void Check(AcceptedStudy accepted, IReadOnlyList<ReleasedStatistic> statistics, IReadOnlyList<string> submitterKeys, IReadOnlyCollection<string> hospitals, string? valuesSha256) =>
        store.Read(c =>
        {
            Check(c, null, accepted, statistics, submitterKeys, hospitals, valuesSha256);
            return 0;
        });

    /// <summary>The same, in the caller's transaction: the check and the <see cref="Record"/> that follows it are then one step.</summary>
    public static void Check(DbConnection c, DbTransaction? t, AcceptedStudy accepted, IReadOnlyList<ReleasedStatistic> statistics, IReadOnlyList<string> submitterKeys, IReadOnlyCollection<string> hospitals, string? valuesSha256)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        ArgumentNullException.ThrowIfNull(statistics);
        ArgumentNullException.ThrowIfNull(hospitals);
        var exact = accepted.AcceptedRho <= 0;
        var digest = ParticipantSet.Digest(submitterKeys);
        var released = statistics.Select(s => s.ToString()).ToHashSet(StringComparer.Ordinal);
        foreach (var r in All(c, t))
        {
            if (r.Study == accepted.Spec.Id.Value)
            {
                // Within the study: the same values (an exact study: any of its rounds) never over another set of submitters.
                if ((exact || (valuesSha256 is not null && r.ValuesSha256 == valuesSha256)) && r.SubmittersSha256 != digest)
                {
                    throw new ParticipationRefusedException(
                        exact
                            ? $"Study {accepted.Spec.Id} is exact and this node helped decrypt round {r.Round} over another set of hospitals ({r.Submitters}, now {submitterKeys.Count}): a sum over a different set would reveal the difference, a hospital's update. The round fails."
                            : $"This node helped decrypt these same noisy values (round {r.Round} attempt {r.Attempt}) over another set of hospitals ({r.Submitters}, now {submitterKeys.Count}): the difference of the two sums would reveal a hospital's update with only its own noise share.",
                        ProtocolRules.ParticipantSetChanged);
                }

                continue;
            }

            if (!exact || !r.Exact || r.Hospitals is null || r.Statistics?.FirstOrDefault(released.Contains) is not { } same)
            {
                continue;
            }

            var before = r.Hospitals.ToHashSet(StringComparer.Ordinal);
            if (!before.SetEquals(hospitals))
            {
                var added = hospitals.Where(h => !before.Contains(h)).Order(StringComparer.Ordinal).ToList();
                var removed = before.Where(h => !hospitals.Contains(h)).Order(StringComparer.Ordinal).ToList();
                throw new ParticipationRefusedException(
                    $"This node released {same} exactly in study {r.Study} over {r.Hospitals.Count} hospitals; study {accepted.Spec.Id} would release it exactly over another set"
                    + (added.Count > 0 ? $" (with {string.Join(", ", added)})" : string.Empty) + (removed.Count > 0 ? $" (without {string.Join(", ", removed)})" : string.Empty)
                    + ": the difference of the two sums would be those hospitals' own statistic. An exact repeat of a statistic runs over the same hospitals; over others it needs DP noise (dp_rho).",
                    ProtocolRules.ReleaseDifferencing);
            }
        }
    }

    /// <summary>
    /// Records this node's decryption share for (study, round, attempt) with what it releases and over whom, in the caller's transaction;
    /// returns 0 when a share for the attempt was already recorded (a retry: the stored one is sent again).
    /// </summary>
    public static int Record(DbConnection c, DbTransaction t, WorkItem work, string aggregateDigest, byte[] share, DateTimeOffset now, IReadOnlyList<string> submitterKeys,
        IReadOnlyCollection<string> hospitals, string valuesSha256, string updateSetDigest, IReadOnlyList<ReleasedStatistic> statistics, bool exact, string? decryptSetDigest = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        return FederationQueries.InsertShare(c, t, new ReleaseRecord(
            new AttemptRef(work.Study.Id.Value, work.Round, work.Attempt), aggregateDigest, share, now.ToString("O"),
            JsonSerializer.Serialize(submitterKeys), ParticipantSet.Digest(submitterKeys), valuesSha256, updateSetDigest,
            JsonSerializer.Serialize(hospitals.Order(StringComparer.Ordinal).ToList()), JsonSerializer.Serialize(statistics.Select(x => x.ToString()).ToList()), exact, decryptSetDigest));
    }

    /// <summary>
    /// The hospitals a set of submitter keys stands for: each key's member name on the pinned roster (a key the roster does not list, which
    /// the commitment checks refuse before this, stands for itself).
    /// </summary>
    public static IReadOnlyList<string> Hospitals(PinnedRoster roster, IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(roster);
        return [.. keys.Select(k => roster.Roster.MemberOf(k)?.Name ?? k).Order(StringComparer.Ordinal)];
    }

    private static Release ToRelease(ReleaseRow r) => new(r.Study, (int)r.Round, (int)r.Attempt, r.SubmittersSha256 ?? string.Empty,
        r.SubmittersJson is null ? 0 : JsonSerializer.Deserialize<List<string>>(r.SubmittersJson)!.Count, r.ValuesSha256,
        r.HospitalsJson is null ? null : JsonSerializer.Deserialize<List<string>>(r.HospitalsJson),
        r.StatisticsJson is null ? null : JsonSerializer.Deserialize<List<string>>(r.StatisticsJson), r.Exact == 1);
}
