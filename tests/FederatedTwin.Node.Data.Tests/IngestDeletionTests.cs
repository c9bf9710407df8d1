using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>
/// Resources a source reports deleted (Bulk Data IG v2.0.0 `deleted` output) removed from the node's current data through the
/// connector overload of the ingest, on the real sample (../shared/data/synthea-sample-10) in a real store.
/// </summary>
public sealed class IngestDeletionTests
{
    [Fact]
    public void A_deleted_condition_leaves_its_patient_row_and_features_rebuilt_and_applying_it_again_changes_nothing()
    {
        using var node = IngestedSample(out var pipeline);
        var (conditionId, patientId, facts) = ConditionWithFacts(node);
        var pseudonym = Pseudonym(node, patientId);
        var key = Key(node, "Condition", conditionId);
        var before = Row(node, pseudonym);
        var versionBefore = Published(node);

        var summary = pipeline.Run([], [new DeletedResource("Condition", conditionId)]);

        Assert.Equal(1, summary.Deleted);
        Assert.Equal(0, summary.DeletedNotFound);
        Assert.Equal(1, summary.PatientsUpdated);
        var after = Row(node, pseudonym);
        Assert.DoesNotContain(key, Keys(after.Data));
        Assert.Equal(before.Entries - 1, after.Entries);
        Assert.Equal(before.Facts - facts, after.Facts);
        Assert.Equal(versionBefore + 1, Published(node));
        Assert.Equal(Published(node), after.ValidFrom);
        Assert.DoesNotContain(Features(node, pseudonym), f => f.Facts.Contains(key)); // what the features read is the rewritten row
        Assert.Equal(13, node.Store.Read(c => FeatureQueries.PatientCount(c, FeatureQueries.PublishedVersion(c))));

        var audit = JsonNode.Parse(node.Store.Read(c => AuditTrailQueries.LatestDetail(c, AuditActions.IngestRun))!)!;
        Assert.Equal(1, (long)audit["deleted"]!);
        Assert.Equal(0, (long)audit["deleted_not_found"]!);
        Assert.Equal(1L, summary.ToJson(0)["deleted"]);

        // Idempotent: the same deletion again finds nothing, publishes no version and leaves the store as it was.
        var state = State(node);
        var again = pipeline.Run([], [new DeletedResource("Condition", conditionId)]);
        Assert.Equal(0, again.Deleted);
        Assert.Equal(1, again.DeletedNotFound);
        Assert.Equal(versionBefore + 1, Published(node));
        Assert.Equal(state, State(node));
    }

    [Fact]
    public void A_deleted_patient_leaves_the_census_with_all_its_facts()
    {
        using var node = IngestedSample(out var pipeline);
        var patientId = AdultWithFeatures(node);
        var pseudonym = Pseudonym(node, patientId);
        Assert.Equal(13, node.Store.Read(c => FeatureQueries.PatientCount(c, FeatureQueries.PublishedVersion(c))));
        var census = node.Store.Read(c => FeatureQueries.Census(c, 2020, "HRESCH", FeatureQueries.PublishedVersion(c)).Count);

        var summary = pipeline.Run([], [new DeletedResource("Patient", patientId), new DeletedResource("Patient", patientId)]);

        Assert.Equal(1, summary.Deleted); // given twice, counted once
        Assert.Equal(12, node.Store.Read(c => FeatureQueries.PatientCount(c, FeatureQueries.PublishedVersion(c))));
        Assert.Equal(census - 1, node.Store.Read(c => FeatureQueries.Census(c, 2020, "HRESCH", FeatureQueries.PublishedVersion(c)).Count));
        Assert.Equal(0, node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM patient_facts WHERE pseudonym=@pseudonym", new { pseudonym })));
        Assert.DoesNotContain(new FeatureBuilder(node.Store).All(), p => p.Pseudonym == pseudonym);
    }

    [Fact]
    public void A_deletion_of_a_resource_never_stored_is_counted_not_found_and_publishes_nothing()
    {
        using var node = IngestedSample(out var pipeline);
        var state = State(node);
        var version = Published(node);

        var summary = pipeline.Run([], [new DeletedResource("Condition", "never-stored"), new DeletedResource("Patient", "nobody")]);

        Assert.Equal(0, summary.Deleted);
        Assert.Equal(2, summary.DeletedNotFound);
        Assert.Equal(version, Published(node));
        Assert.Equal(state, State(node));
        var audit = JsonNode.Parse(node.Store.Read(c => AuditTrailQueries.LatestDetail(c, AuditActions.IngestRun))!)!;
        Assert.Equal(2, (long)audit["deleted_not_found"]!);
    }

    [Fact]
    public void A_study_pinned_before_the_deletion_still_sees_the_data_it_pinned()
    {
        using var node = IngestedSample(out var pipeline);
        var patientId = AdultWithFeatures(node);
        var (conditionId, conditionPatient, _) = ConditionWithFacts(node);
        var pinned = Published(node);
        node.Store.Write((c, t) =>
        {
            StudyQueries.PinSnapshot(c, t, "study-before", pinned, lastRound: 3, graceSeconds: 3600, now: DataTestSupport.Epoch.ToString("O"));
            return 0;
        });
        var featuresPinned = new FeatureBuilder(node.Store, pinned).All().ToList();

        var summary = pipeline.Run([], [new DeletedResource("Patient", patientId), new DeletedResource("Condition", conditionId)]);

        Assert.Equal(conditionPatient == patientId ? 1 : 2, summary.Deleted);
        Assert.Equal(12, node.Store.Read(c => FeatureQueries.PatientCount(c, FeatureQueries.PublishedVersion(c))));
        Assert.Equal(13, node.Store.Read(c => FeatureQueries.PatientCount(c, pinned)));
        Assert.Equal(Render(featuresPinned), Render(new FeatureBuilder(node.Store, pinned).All()));
        Assert.NotEqual(Render(featuresPinned), Render(new FeatureBuilder(node.Store).All()));
    }

    [Fact]
    public void Deletions_given_with_new_data_are_applied_in_the_same_published_version_and_a_resource_given_again_is_kept()
    {
        var dir = DataTestSupport.TempDir("deletion-with-data");
        using var node = NodeDirectory.OpenOrInitialize(dir, time: DataTestSupport.Clock());
        var pipeline = new IngestPipeline(node, time: DataTestSupport.Clock());
        var conditionId = FirstId("Condition.000.ndjson");

        // One run: the whole sample and a deletion of one of its own Conditions (re-created after its deletion: it stays).
        var first = pipeline.Run(Inputs(node), [new DeletedResource("Condition", conditionId), new DeletedResource("Encounter", "gone-before")]);
        Assert.Equal(1, Published(node));
        Assert.Equal(0, first.Deleted);
        Assert.Equal(2, first.DeletedNotFound);

        // The next run deletes it along with unchanged data: one new version holds both.
        var second = pipeline.Run(Inputs(node), [new DeletedResource("Condition", conditionId)]);
        Assert.Equal(1, second.Deleted);
        Assert.Equal(2, Published(node));
        Assert.DoesNotContain(Key(node, "Condition", conditionId), node.Store.Read(c => c.Query<byte[]>("SELECT data FROM patient_facts").SelectMany(Keys).ToList()));
    }

    private static NodeDirectory IngestedSample(out IngestPipeline pipeline)
    {
        var dir = DataTestSupport.TempDir("deletion");
        var node = NodeDirectory.OpenOrInitialize(dir, time: DataTestSupport.Clock());
        pipeline = new IngestPipeline(node, time: DataTestSupport.Clock());
        var summary = pipeline.Run(Inputs(node), []);
        Assert.True(summary.Accepted > 7000);
        Assert.Equal(0, summary.Deleted);
        return node;
    }

    /// <summary>The sample's files as a connector hands them over: streams, named by a keyed hash of where they came from.</summary>
    private static IEnumerable<IngestInput> Inputs(NodeDirectory node) => Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson").Order(StringComparer.Ordinal)
        .Select(f => new IngestInput(node.Pseudonymizer.SourcePath(f), SourceFormat.Ndjson, () => File.OpenRead(f)));

    private static string FirstId(string file) =>
        JsonNode.Parse(File.ReadLines(Path.Combine(DataTestSupport.NdjsonSample, file)).First())!["id"]!.GetValue<string>();

    /// <summary>A Condition whose stored entry holds facts: its id, its patient's id and how many facts.</summary>
    private static (string Id, string PatientId, int Facts) ConditionWithFacts(NodeDirectory node)
    {
        foreach (var line in File.ReadLines(Path.Combine(DataTestSupport.NdjsonSample, "Condition.000.ndjson")))
        {
            var json = JsonNode.Parse(line)!;
            var id = json["id"]!.GetValue<string>();
            var patient = json["subject"]!["reference"]!.GetValue<string>().Split('/', ':')[^1];
            var key = Key(node, "Condition", id);
            var data = Row(node, Pseudonym(node, patient)).Data;
            foreach (var (offset, length) in EntryCodec.Split(data))
            {
                if (EntryCodec.Key(data.AsSpan(offset)) == key && EntryCodec.Decode(data.AsSpan(offset, length)).Facts.Count is > 0 and var facts)
                {
                    return (id, patient, facts);
                }
            }
        }

        throw new InvalidOperationException("the sample has no Condition with facts");
    }

    private static string Pseudonym(NodeDirectory node, string patientId)
    {
        using var hasher = node.Pseudonymizer.CreateHasher();
        return hasher.Patient(patientId);
    }

    private static UInt128 Key(NodeDirectory node, string type, string id)
    {
        using var hasher = node.Pseudonymizer.CreateHasher();
        return hasher.Resource(type, id);
    }

    private static List<UInt128> Keys(byte[] data) => [.. EntryCodec.Split(data).Select(e => EntryCodec.Key(data.AsSpan(e.Offset)))];

    private static (byte[] Data, long Entries, long Facts, long ValidFrom) Row(NodeDirectory node, string pseudonym) => node.Store.Read(c =>
        c.QuerySingle<(byte[], long, long, long)>("SELECT data, entries, facts, valid_from FROM patient_facts WHERE pseudonym=@pseudonym", new { pseudonym }));

    private static long Published(NodeDirectory node) => node.Store.Read(FeatureQueries.PublishedVersion);

    /// <summary>The current data as the feature builder reads it, for one patient: the keys of the entries in its visible row.</summary>
    private static List<(string Pseudonym, List<UInt128> Facts)> Features(NodeDirectory node, string pseudonym) => node.Store.Read(c =>
        FeatureQueries.PatientsWithFacts(c, FeatureQueries.PublishedVersion(c)).Where(p => p.Pseudonym == pseudonym).Select(p => (p.Pseudonym, Keys(p.Data))).ToList());

    /// <summary>A living patient born before 2000 with feature rows (in the 2020 census and in what studies read).</summary>
    private static string AdultWithFeatures(NodeDirectory node)
    {
        var withFeatures = new FeatureBuilder(node.Store).All().Select(p => p.Pseudonym).ToHashSet(StringComparer.Ordinal);
        return File.ReadLines(Path.Combine(DataTestSupport.NdjsonSample, "Patient.000.ndjson")).Select(l => JsonNode.Parse(l)!)
            .Where(p => p["deceasedDateTime"] is null && string.CompareOrdinal(p["birthDate"]!.GetValue<string>(), "2000") < 0)
            .Select(p => p["id"]!.GetValue<string>())
            .First(id => withFeatures.Contains(Pseudonym(node, id)));
    }

    private static string Render(IEnumerable<PatientYear> rows) => string.Join("\n", rows.Select(r => r.Pseudonym + ":" + JsonSerializer.Serialize(r.Values.OrderBy(v => v.Key, StringComparer.Ordinal))));

    /// <summary>Every patient's row, demographics and consent states, and the superseded rows kept for pins.</summary>
    private static string State(NodeDirectory node) => node.Store.Read(c => string.Join("|",
        c.Query<(string, byte[], long)>("SELECT pseudonym, data, valid_from FROM patient_facts ORDER BY pseudonym").Select(r => r.Item1 + Convert.ToHexString(r.Item2) + r.Item3)
            .Concat(c.Query<string>("SELECT pseudonym || valid_from FROM patients ORDER BY pseudonym"))
            .Append(FeatureQueries.SupersededRows(c).ToString(System.Globalization.CultureInfo.InvariantCulture))));
}
