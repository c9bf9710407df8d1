using System.Diagnostics;
using FederatedTwin.Node.Deidentification;

namespace FederatedTwin.Node.Data.Tests;

public sealed class DeidentificationTests
{
    [Fact]
    public void Ingesting_both_Synthea_samples_leaves_no_identifier_anywhere_in_the_node_directory()
    {
        var dir = DataTestSupport.TempDir("phi");
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            var ndjson = DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);
            var bundles = DataTestSupport.Ingest(node, DataTestSupport.BundleSample);
            Assert.Equal(ndjson.LinesRead, ndjson.Accepted + ndjson.Quarantined);
            Assert.Equal(bundles.LinesRead, bundles.Accepted + bundles.Quarantined);
            Assert.True(ndjson.Accepted > 7000);
            Assert.True(bundles.Accepted > 1800);
        }

        var sources = Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson").Concat(Directory.GetFiles(DataTestSupport.BundleSample, "*.json"));
        var (exitCode, output) = PhiScan.Run(dir, sources);
        Assert.True(exitCode == 0, output);
        Assert.Contains("0 identifiers leaked", output, StringComparison.Ordinal);
        Assert.DoesNotContain("scanned 0 files", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("66061", "660")]
    [InlineData("03601-1234", "000")] // 036 is restricted
    [InlineData("89301", "000")]      // 893 is restricted
    [InlineData("10001", "100")]
    [InlineData("ABCDE", "000")]
    [InlineData(null, "000")]
    [InlineData("123", "000")]
    public void ZIP_codes_keep_three_digits_and_restricted_areas_become_000(string? zip, string expected) => Assert.Equal(expected, SafeHarbor.Zip3(zip));

    [Fact]
    public void Every_restricted_3_digit_ZIP_of_the_data_file_is_mapped_to_000()
    {
        foreach (var zip3 in new[] { "036", "059", "063", "102", "202", "203", "204", "205", "369", "556", "692", "753", "772", "790", "821", "823", "830", "831", "878", "879", "884", "890", "893" })
        {
            Assert.True(SafeHarbor.IsRestrictedZip3(zip3), zip3);
            Assert.Equal("000", SafeHarbor.Zip3(zip3 + "12"));
        }
    }

    [Theory]
    [InlineData(1930, 2024, 90)]
    [InlineData(1935, 2024, 89)]
    [InlineData(2020, 2024, 4)]
    [InlineData(1900, 2024, 90)]
    public void Ages_over_89_collapse_to_90(int birthYear, int year, int expected) => Assert.Equal(expected, SafeHarbor.AgeInYear(new DateOnly(birthYear, 6, 15), year));

    [Fact]
    public void Pseudonyms_are_keyed_stable_and_domain_separated()
    {
        var a = new Pseudonymizer(new byte[32]);
        var b = new Pseudonymizer(Enumerable.Repeat((byte)1, 32).ToArray());
        Assert.Equal(a.Patient("123"), a.Patient("123"));
        Assert.NotEqual(a.Patient("123"), b.Patient("123"));
        Assert.NotEqual(a.Patient("Patient/123"), a.Resource("Patient", "123"));
        Assert.DoesNotContain("123", a.Patient("123"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(100)]
    public void The_ingests_hasher_gives_the_same_HMAC_SHA_256_values_as_the_platform(int keyLength)
    {
        var key = Enumerable.Range(0, keyLength).Select(i => (byte)(i * 37 + 11)).ToArray();
        var reference = new Pseudonymizer(key);
        var hasher = reference.CreateHasher();
        var line = System.Text.Encoding.UTF8.GetBytes(new string('x', 5000) + "é");
        foreach (var (type, id) in new[] { ("Patient", "123"), ("Encounter", "ß-ünïcode-" + new string('a', 600)), ("Claim", string.Empty) })
        {
            Assert.Equal(reference.Resource(type, id), hasher.Resource(type, id).ToString("x32", System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(reference.Patient(id), hasher.Patient(id));
        }

        Assert.Equal(reference.Line(line), hasher.Line(line));
        Assert.Equal(reference.Line([]), hasher.Line([]));
    }

    [Theory]
    [InlineData("http://snomed.info/sct", "44054006", "diabetes")]
    [InlineData("http://snomed.info/sct", "73211009", "diabetes")]
    [InlineData("http://hl7.org/fhir/sid/icd-10-cm", "E11.9", "diabetes")]
    [InlineData("http://hl7.org/fhir/sid/icd-10-cm", "I50.22", "heart_failure")]
    [InlineData("http://snomed.info/sct", "88805009", "heart_failure")]
    [InlineData("http://snomed.info/sct", "84114007", "heart_failure")]
    [InlineData("http://snomed.info/sct", "160903007", null)] // "Full-time employment": a finding, not a condition
    [InlineData("http://loinc.org", "44054006", null)]        // the right code in the wrong system
    public void Conditions_map_by_system_and_code_never_by_display(string system, string code, string? expected) =>
        Assert.Equal(expected, CodeList.ChronicConditions.Match(system, code));
}
