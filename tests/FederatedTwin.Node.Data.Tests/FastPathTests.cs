using System.Text;
using System.Text.Json;
using FederatedTwin.Synthetic;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>The fast path accepts and rejects exactly what the Firely path does, and extracts the same record.</summary>
public sealed class FastPathTests
{
    private static readonly JsonSerializerOptions Json = new() { IncludeFields = true };

    public static TheoryData<string> Corpora() => ["ndjson-sample", "bundle-sample", "generated", "bad-lines", "year-boundaries"];

    private static IEnumerable<byte[]> Lines(string corpus)
    {
        switch (corpus)
        {
            case "ndjson-sample":
                return Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson").Where(f => !f.EndsWith("log.ndjson", StringComparison.Ordinal))
                    .SelectMany(f => File.ReadLines(f)).Select(Encoding.UTF8.GetBytes);
            case "bundle-sample":
                return Directory.GetFiles(DataTestSupport.BundleSample, "*.json").SelectMany(f => IngestSources.Read(f, "x")).Select(l => l.Bytes.ToArray());
            case "generated":
                var export = DataTestSupport.TempDir("fast-gen");
                PopulationGenerator.Generate(400, SyntheticProfile.Named("safety-net"), 4, export, badLines: 21);
                return Directory.GetFiles(export, "*.ndjson").SelectMany(f => File.ReadLines(f)).Select(Encoding.UTF8.GetBytes);
            case "year-boundaries":
                // A time on 1 January or 31 December with an offset can change the UTC year (the fast path's shortcut must not).
                return new[] { "2015-12-31T23:30:00-05:00", "2016-01-01T00:30:00+02:00", "2019-12-31T20:00:00+14:00", "2019-12-31T09:00:00-14:00", "2020-01-01T00:00:00Z", "2020-12-31", "2021-01", "2021", "2016-01-01T00:30:00.123+02:00" }
                    .SelectMany((t, i) => new[]
                    {
                        $"{{\"resourceType\":\"Encounter\",\"id\":\"e{i}\",\"status\":\"finished\",\"class\":{{\"code\":\"IMP\"}},\"subject\":{{\"reference\":\"Patient/p1\"}},\"period\":{{\"start\":\"{t}\",\"end\":\"2022-06-30T12:00:00-07:00\"}}}}",
                        $"{{\"resourceType\":\"Condition\",\"id\":\"c{i}\",\"subject\":{{\"reference\":\"Patient/p1\"}},\"onsetDateTime\":\"{t}\",\"abatementDateTime\":\"{t}\"}}",
                        $"{{\"resourceType\":\"Claim\",\"id\":\"k{i}\",\"status\":\"active\",\"use\":\"claim\",\"type\":{{\"text\":\"x\"}},\"patient\":{{\"reference\":\"Patient/p1\"}},\"created\":\"{t}\",\"provider\":{{\"display\":\"x\"}},\"priority\":{{\"text\":\"x\"}},\"insurance\":[{{\"sequence\":1,\"focal\":true,\"coverage\":{{\"display\":\"x\"}}}}],\"total\":{{\"value\":12.5}}}}",
                    })
                    .Select(Encoding.UTF8.GetBytes);
            default:
                return BadLineCorpus.Lines.Select(Encoding.UTF8.GetBytes);
        }
    }

    [Theory]
    [MemberData(nameof(Corpora))]
    public void The_fast_path_and_the_Firely_path_agree_line_by_line(string corpus)
    {
        var fast = new FastFhirParser();
        var firely = new FhirRecordParser();
        var handled = 0;
        var lines = 0;
        var accepted = 0;
        foreach (var line in Lines(corpus))
        {
            lines++;
            var (fastRecord, fastReason, wasHandled) = fast.Parse(line);
            if (!wasHandled)
            {
                continue;
            }

            handled++;
            var (record, reason) = firely.Parse(line);
            Assert.True((fastRecord is null) == (record is null), $"{corpus} line {lines}: fast {(fastRecord is null ? "rejects (" + fastReason!.Code + " " + fast.LastRefusal + ")" : "accepts")}, Firely {(record is null ? "rejects (" + reason!.Code + ")" : "accepts")}");
            if (record is not null)
            {
                Assert.Equal(JsonSerializer.Serialize<object>(record, Json), JsonSerializer.Serialize<object>(fastRecord!, Json));
                accepted++;
            }
        }

        Assert.True(handled > 0, $"the fast path handled no line of {corpus}");
        if (corpus == "year-boundaries")
        {
            Assert.Equal(lines, accepted); // valid resources: the comparison above is on records, not on two rejections
        }
    }
}

/// <summary>Lines that must be refused, hot types first: the corpus both paths are checked on.</summary>
internal static class BadLineCorpus
{
    public static readonly string[] Lines =
    [
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"birthDate\":\"1999-13-45\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p2\",\"birthDate\":\"2021-02-30\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p3\",\"gender\":\"banana\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p4\",\"gender\":5}",
        "{\"resourceType\":\"Patient\",\"id\":\"p5\",\"colour\":\"blue\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p6\",\"name\":[{\"family\":\"X\",\"nickname\":\"Y\"}]}",
        "{\"resourceType\":\"Patient\",\"id\":\"p7\",\"name\":{\"family\":\"X\"}}",
        "{\"resourceType\":\"Patient\",\"id\":\"p8\",\"deceasedDateTime\":\"2020-01-01T25:00:00Z\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p9\",\"deceasedString\":\"yes\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p10\",\"active\":\"true\"}",
        "{\"resourceType\":\"Patient\",\"id\":\"p11\",\"multipleBirthInteger\":1.5}",
        "{\"resourceType\":\"Patient\",\"id\":\"p12\",\"gender\":\"\"}",
        "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"class\":{\"code\":\"AMB\"},\"period\":{\"start\":\"2020-02-30T10:00:00Z\"}}",
        "{\"resourceType\":\"Encounter\",\"id\":\"e2\",\"status\":\"partying\",\"class\":{\"code\":\"AMB\"}}",
        "{\"resourceType\":\"Encounter\",\"id\":\"e3\",\"status\":42,\"class\":{\"code\":\"AMB\"}}",
        "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDateTime\":\"yesterday\"}",
        "{\"resourceType\":\"Condition\",\"id\":\"c2\",\"subject\":{\"reference\":\"Patient/p1\"},\"onsetColour\":\"red\"}",
        "{\"resourceType\":\"Condition\",\"id\":\"c3\",\"subject\":\"Patient/p1\"}",
        "{\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"valueQuantity\":{\"value\":\"7.1\"}}",
        "{\"resourceType\":\"Observation\",\"id\":\"o2\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"valueQuantity\":{\"value\":7.1,\"unit\":\"%\",\"precision\":2}}",
        "{\"resourceType\":\"Claim\",\"id\":\"k1\",\"status\":\"active\",\"total\":{\"value\":\"12\"}}",
        "{\"resourceType\":\"Claim\",\"id\":\"k2\",\"status\":\"active\",\"created\":\"2020-1-1\"}",
        "{\"resourceType\":\"ExplanationOfBenefit\",\"id\":\"x1\",\"status\":\"active\",\"payment\":{\"amount\":{\"value\":true}}}",
        "{\"resourceType\":\"Encounter\",\"id\":\"e4\",\"status\":\"finished\",\"class\":{\"code\":\"AMB\"}} trailing",
        "{\"resourceType\":\"Patient\",\"id\":\"p13\",\"birthDate\":\"1980-01-01\"",
        "{\"resourceType\":\"Patient\",\"birthDate\":\"1980-01-01\"}",
    ];
}
