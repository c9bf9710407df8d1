using System.Text;
using System.Text.RegularExpressions;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Data.Tests;

public sealed class FhirDateSyntaxTests
{
    // The FHIR R4 regexes (http://hl7.org/fhir/R4/datatypes.html), the reference the byte-level check must equal.
    private static readonly Regex Date = new(@"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$");
    private static readonly Regex DateTime = new(@"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$");
    private static readonly Regex Instant = new(@"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$");

    private static readonly string[] Seeds =
    [
        "2024", "0001", "1000", "0000", "2024-02", "2024-13", "2024-00", "2024-02-29", "2024-02-31", "2024-12-31", "2024-12-32", "2024-01-00",
        "2024-02-29T23:59:60Z", "2024-02-29T24:00:00Z", "2024-02-29T12:30:00.123456+14:00", "2024-02-29T12:30:00+14:01", "2024-02-29T12:30:00-13:59",
        "2024-02-29T12:30:00.+01:00", "2024-02-29T12:30:00", "2024-02-29T12:30Z", "2024-02-29t12:30:00Z", "2024-02-29T12:30:00Z\n", "2024\n", "2024-02-29T12:60:00Z",
        "1999-13-45", "2024-02-29T09:05:07.5-00:00", "+2024", "２０２４", "2024-02-29T12:30:00z",
    ];

    [Fact]
    public void The_byte_level_check_accepts_exactly_what_the_FHIR_R4_regexes_accept()
    {
        var alphabet = "0123456789-T:.Z+z \n9".ToCharArray();
        var random = new Random(7);
        var cases = new HashSet<string>(StringComparer.Ordinal);
        foreach (var seed in Seeds)
        {
            for (var n = 0; n <= seed.Length; n++)
            {
                cases.Add(seed[..n]); // every prefix
            }

            for (var k = 0; k < 1500; k++)
            {
                var chars = seed.ToCharArray();
                chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
                cases.Add(new string(chars)); // one substitution
                cases.Add(seed.Remove(random.Next(seed.Length), 1)); // one deletion
                cases.Add(seed.Insert(random.Next(seed.Length + 1), alphabet[random.Next(alphabet.Length)].ToString())); // one insertion
            }
        }

        var accepted = 0;
        foreach (var value in cases)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            Assert.True(Date.IsMatch(value) == FhirDateSyntax.IsDate(bytes), $"date '{value}'");
            Assert.True(DateTime.IsMatch(value) == FhirDateSyntax.IsDateTime(bytes), $"dateTime '{value}'");
            Assert.True(Instant.IsMatch(value) == FhirDateSyntax.IsInstant(bytes), $"instant '{value}'");
            accepted += DateTime.IsMatch(value) ? 1 : 0;
        }

        Assert.True(cases.Count > 10_000 && accepted > 500, $"{cases.Count} cases, {accepted} valid dateTimes");
    }
}
