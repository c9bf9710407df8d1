using System.Text;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>
/// FHIR's structural rules, enforced the same on the fast path and the Firely path (issue 19, "lenient acceptance"):
/// resource type names are case-sensitive, a name given twice in an object is refused (RFC 8259 section 4), elements the
/// R4 model marks mandatory must be there, objects and arrays must not be empty. Each line goes through both parsers and
/// through the ingest; all three must give the same answer.
/// </summary>
public sealed class StructuralRulesTests
{
    private const string Observation = "\"resourceType\":\"Observation\",\"id\":\"o1\"";
    private const string Code = "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"4548-4\"}]}";
    private const string Subject = "\"subject\":{\"reference\":\"Patient/p1\"}";

    private static readonly Lazy<NodeDirectory> Node = new(() => NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("rules-node")));

    public static TheoryData<string, string?, bool> Lines() => new()
    {
        // the line, the reason code expected (null: accepted), whether the fast path handles it
        { $"{{{Observation},\"status\":\"final\",{Code},{Subject}}}", null, true },
        { $"{{{Observation},\"status\":\"final\",{Code}}}", null, true }, // Observation.subject is 0..1 in R4
        { "{\"resourceType\":\"patient\",\"id\":\"p1\"}", "unknown_resource_type", false },
        { "{\"resourceType\":\"PATIENT\",\"id\":\"p1\"}", "unknown_resource_type", false },
        { $"{{\"resourceType\":\"observation\",\"id\":\"o1\",\"status\":\"final\",{Code}}}", "unknown_resource_type", false },
        { "{\"resourceType\":\"procedure\",\"id\":\"x1\",\"status\":\"completed\",\"subject\":{\"reference\":\"Patient/p1\"}}", "unknown_resource_type", false },

        // Mandatory elements (minimum cardinality 1 in R4), at every depth
        { $"{{{Observation},{Code},{Subject}}}", "invalid_resource", true },
        { $"{{{Observation},\"status\":\"final\",{Subject}}}", "invalid_resource", true },
        { $"{{{Observation},\"_status\":{{\"extension\":[{{\"url\":\"http://example.org/x\",\"valueString\":\"y\"}}]}},{Code}}}", null, true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"component\":[{{\"valueQuantity\":{{\"value\":1}}}}]}}", "invalid_resource", true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"extension\":[{{\"valueString\":\"y\"}}]}}", "invalid_resource", true },
        { "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"onsetDateTime\":\"2021-01-01\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"subject\":{\"reference\":\"Patient/p1\"}}", "invalid_resource", true },
        { "{\"resourceType\":\"Claim\",\"id\":\"k1\",\"status\":\"active\",\"use\":\"claim\",\"type\":{\"text\":\"x\"},\"patient\":{\"reference\":\"Patient/p1\"},\"created\":\"2020\",\"provider\":{\"display\":\"x\"},\"priority\":{\"text\":\"x\"}}", "invalid_resource", true },
        { "{\"resourceType\":\"Claim\",\"id\":\"k2\",\"status\":\"active\",\"use\":\"claim\",\"type\":{\"text\":\"x\"},\"patient\":{\"reference\":\"Patient/p1\"},\"created\":\"2020\",\"provider\":{\"display\":\"x\"},\"priority\":{\"text\":\"x\"},\"insurance\":[{\"sequence\":1,\"focal\":true}]}", "invalid_resource", true },
        { "{\"resourceType\":\"Consent\",\"id\":\"k1\",\"status\":\"active\"}", "invalid_resource", false },

        // Empty objects and arrays
        { $"{{{Observation},\"status\":\"final\",\"code\":{{}}}}", "invalid_resource", true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"category\":[]}}", "invalid_resource", true },

        // A name twice in one object, wherever it is (RFC 8259 section 4), and two forms of one choice element
        { $"{{{Observation},\"status\":\"final\",\"status\":\"final\",{Code}}}", "duplicate_key", true },
        { $"{{{Observation},\"id\":\"o2\",\"status\":\"final\",{Code}}}", "duplicate_key", true },
        { $"{{{Observation},\"status\":\"final\",\"code\":{{\"text\":\"x\",\"text\":\"y\"}}}}", "duplicate_key", true },
        { $"{{{Observation},\"status\":\"final\",{Code},{Subject},\"subject\":{{\"reference\":\"Patient/p2\"}}}}", "duplicate_key", true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"resourceType\":\"Observation\"}}", "duplicate_key", true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"valueQuantity\":{{\"value\":1}},\"valueString\":\"a\"}}", "duplicate_key", true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"_status\":{{\"id\":\"a\",\"id\":\"b\"}}}}", "duplicate_key", true },
        { $"{{{Observation},\"st\\u0061tus\":\"final\",\"status\":\"final\",{Code}}}", "duplicate_key", true },
        { "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"birthDate\":\"1950-01-01\",\"birthDate\":\"1990-01-01\"}", "duplicate_key", true },
        { "{\"resourceType\":\"Consent\",\"id\":\"k1\",\"id\":\"k2\",\"status\":\"active\"}", "duplicate_key", false },
        { "{\"resourceType\":\"Procedure\",\"id\":\"x1\",\"status\":\"completed\",\"subject\":{\"reference\":\"Patient/p1\"},\"subject\":{\"reference\":\"Patient/p2\"}}", "duplicate_key", false },
        { "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"id\":\"p2\" not json", "invalid_json", true },

        // Found by the differential fuzz target (fuzz/regressions/fhir-differential): the fast path stopped at its first refusal
        // and gave that reason where the Firely path, which reads the whole line first, gave another; it accepted values
        // Firely's lexical rules refuse; Firely threw on an element named "".
        { $"{{{Observation},\"status\":\"final\",{Code},\"bogus\":1,\"subject\":{{\"reference\" \"Patient/p1\"}}}}", "invalid_json", true },
        { $"{{{Observation},\"status\":\"final\",{Code},\"bogus\":1,\"code\":{{\"text\":\"x\"}}}}", "duplicate_key", true },
        { $"{{{Observation},\"status\":\"final\",\"code\":{{\"coding\":[{{\"system\":\"http://loinc|org\",\"code\":\"4548-4\"}}]}}}}", "invalid_resource", true },
        { $"{{{Observation},\"status\":\"final\",\"code\":{{\"coding\":[{{\"system\":\"http://loinc.org\",\"code\":\" 4548-4\"}}]}}}}", "invalid_resource", true },
        { "{\"resourceType\":\"Patient\",\"id\":\"p 1\"}", "invalid_resource", true },
        { $"{{{Observation},\"status\":\"final\",\"code\":{{\"\":[{{\"system\":\"http://loinc.org\"}}]}}}}", "invalid_resource", true },

        // Element names are case-sensitive (RFC 8259 section 8.3; R4 JSON names each element as defined, a choice element's type
        // with its first letter capitalized): Firely's lookups are not, and read these as id, onset, system (fuzz/regressions/
        // fhir-differential/long-*); a date off R4's pattern that Firely reads as a partial time; a resource with nothing but its type.
        { "{\"resourceType\":\"Patient\",\"iD\":\"p1\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"subject\":{\"reference\":\"Patient/p1\"},\"oNsetDateTime\":\"2019-05-01\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"subject\":{\"reference\":\"Patient/p1\"},\"onsetdateTime\":\"2019-05-01\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDatETime\":\"2019-05-01\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"subject\":{\"reference\":\"Patient/p1\"},\"code\":{\"coding\":[{\"sysTem\":\"http://snomed.info/sct\",\"code\":\"1\"}]}}", "invalid_resource", true },
        { "{\"resourceType\":\"Procedure\",\"id\":\"x1\",\"status\":\"completed\",\"subject\":{\"rEference\":\"Patient/p1\"}}", "invalid_resource", false },
        { "{\"resourceType\":\"Procedure\",\"id\":\"x1\",\"status\":\"completed\",\"subject\":{\"reference\":\"Patient/p1\"},\"performedDateTime\":\"2019\",\"performedString\":\"x\"}", "duplicate_key", false },
        { "{\"resourceType\":\"Procedure\",\"id\":\"x1\",\"status\":\"completed\",\"subject\":{\"reference\":\"Patient/p1\"},\"performedDateTime\":\"2019-05-01T00Z\"}", "invalid_resource", false },
        { "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDateTime\":\"2019-05-01T00Z\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Patient\"}", "invalid_resource", true },
        { "{\"resourceType\":\"Procedure\"}", "invalid_resource", false },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void The_fast_path_the_Firely_path_and_the_ingest_enforce_the_same_rules(string line, string? expected, bool fast)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var (firelyRecord, firelyReason) = new FhirRecordParser().Parse(bytes);
        Assert.Equal(expected, firelyReason?.Code);
        Assert.Equal(expected is null, firelyRecord is not null);

        var parser = new FastFhirParser();
        var (fastRecord, fastReason, handled) = parser.Parse(bytes);
        Assert.Equal(fast, handled);
        if (handled)
        {
            Assert.True(expected == fastReason?.Code, $"fast path: {fastReason?.Code} ({parser.LastRefusal}), expected {expected}");
            Assert.Equal(expected is null, fastRecord is not null);
        }

        var (record, reason) = new IngestPipeline(Node.Value).Parse(bytes);
        Assert.Equal(expected, reason?.Code);
        Assert.Equal(expected is null, record is not null);
    }

    [Theory]
    [InlineData("Patient.000.ndjson", false)]
    [InlineData("Patient.000.ndjson.gz", true)]
    [InlineData("bundle.json", false)]
    public void A_UTF8_byte_order_mark_at_the_start_of_a_file_is_accepted(string name, bool gzip)
    {
        var export = DataTestSupport.TempDir("bom");
        var lines = File.ReadLines(Path.Combine(DataTestSupport.NdjsonSample, "Patient.000.ndjson")).Take(3).ToList();
        var text = name.EndsWith(".json", StringComparison.Ordinal)
            ? "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[" + string.Join(",", lines.Select(l => "{\"resource\":" + l + "}")) + "]}"
            : string.Join("\n", lines) + "\n";
        byte[] bytes = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(text)];
        if (gzip)
        {
            using var output = new MemoryStream();
            using (var compressor = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            {
                compressor.Write(bytes);
            }

            bytes = output.ToArray();
        }

        File.WriteAllBytes(Path.Combine(export, name), bytes);
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bom-node"));
        var summary = DataTestSupport.Ingest(node, export);
        Assert.Equal(3, summary.Accepted); // before, the first record went to quarantine as not JSON
        Assert.Equal(0, summary.Quarantined);
        Assert.True(summary.Complete);
    }
}
