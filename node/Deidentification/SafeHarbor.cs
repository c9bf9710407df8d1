using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FederatedTwin.Node.Deidentification;

/// <summary>
/// The de-identification rules of HIPAA Safe Harbor, 45 CFR 164.514(b)(2), as the node applies
/// them at the door (docs/privacy.md lists every field): dates keep only their year, ages over 89
/// collapse into 90+ (and no birth year is kept at all), geography keeps only the first three ZIP
/// digits (000 for the restricted areas), and every identifier becomes a keyed pseudonym.
/// </summary>
public static class SafeHarbor
{
    /// <summary>Ages above this are reported only as "90+" (164.514(b)(2)(i)(C)).</summary>
    public const int TopAge = 90;

    private static readonly HashSet<string> RestrictedZip3 = [.. CodeList.ReadLines("restricted-zip3.csv").Skip(1)];

    /// <summary>Age in completed years on 31 December of the year, capped at 90 (meaning 90 or over).</summary>
    public static int AgeInYear(DateOnly birthDate, int year) => Math.Clamp(year - birthDate.Year, 0, TopAge);

    /// <summary>Age on 31 December of the year from what the store keeps: the birth year, or the 90+ flag (every year is then 90); null before birth or with no birth date.</summary>
    public static int? AgeInYear(int? birthYear, bool ninetyPlus, int year) =>
        ninetyPlus ? TopAge : birthYear is { } b && year >= b ? Math.Clamp(year - b, 0, TopAge) : null;

    /// <summary>
    /// What the store may keep of a birth date (164.514(b)(2)(i)(C)): the year alone, unless the patient
    /// is over 89 at the reference year (the year of death, else the current year) — then not even the
    /// year, since a year-by-year age history would reveal it: the patient is 90+ in every year. The
    /// cost is that such a patient's earlier years are also banded 90+ (documented in docs/privacy.md).
    /// </summary>
    public static (int? BirthYear, bool NinetyPlus) BirthYear(DateOnly? birthDate, int? deceasedYear, int currentYear)
    {
        if (birthDate is not { } birth)
        {
            return (null, false);
        }

        var reference = Math.Min(deceasedYear ?? currentYear, currentYear);
        return reference - birth.Year >= TopAge ? (null, true) : (birth.Year, false);
    }

    /// <summary>The first three digits of a US ZIP code, or 000 for restricted areas and anything that is not a ZIP (164.514(b)(2)(i)(B)).</summary>
    public static string Zip3(string? postalCode)
    {
        if (postalCode is null || postalCode.Length < 5 || !postalCode[..5].All(char.IsAsciiDigit))
        {
            return "000";
        }

        var zip3 = postalCode[..3];
        return RestrictedZip3.Contains(zip3) ? "000" : zip3;
    }

    public static bool IsRestrictedZip3(string zip3) => RestrictedZip3.Contains(zip3);
}

/// <summary>
/// Keyed pseudonyms: HMAC-SHA-256 under the node's pseudonymization key (sealed with Data
/// Protection). Stable within one node, meaningless outside it, never sent off the node.
/// Domain-separated so a patient pseudonym can never equal a resource key.
/// </summary>
public sealed class Pseudonymizer(byte[] key)
{
    public string Patient(string patientId) => Hash("patient", patientId);

    /// <summary>The key under which an ingested resource is remembered (for idempotency), never its id.</summary>
    public string Resource(string type, string id) => Hash("resource", type + "/" + id);

    /// <summary>
    /// A keyed hash of a source file's full path, naming a file of an export that could not be opened (a content hash
    /// names every other): keyed, because a plain hash of a path that holds a patient's name could be matched against guesses.
    /// </summary>
    public string SourcePath(string fullPath) => Hash("path", fullPath);

    /// <summary>A keyed hash of a quarantined line's bytes: lets an operator match a line they hold without storing it.</summary>
    public string Line(ReadOnlySpan<byte> line) => Convert.ToHexStringLower(HMACSHA256.HashData(key, line))[..32];

    private string Hash(string domain, string value) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(domain + "\0" + value)))[..32];

    /// <summary>A hasher for one thread of the ingest: the same values as this class, without a key schedule per call.</summary>
    public KeyedHasher CreateHasher() => new(key);
}

/// <summary>
/// The <see cref="Pseudonymizer"/>'s HMACs for one thread (RFC 2104 HMAC-SHA-256, the same outputs; a
/// test checks). Short messages (resource keys, pseudonyms) go through one keyed HMACSHA256 instance per
/// thread, whose OpenSSL context keeps the keyed state between messages (the one-shot HMACSHA256.HashData
/// sets up a context per message, and with two threads contending on that it cost more than parsing the
/// line; Bouncy Castle's managed SHA-256 was 20% slower than the instance). Whole lines (the keyed hash of a
/// quarantined line) go through the platform's hash, reusing one context. The patient pseudonym of the
/// previous line is kept, since the lines of one patient come together. Not thread-safe.
/// </summary>
public sealed class KeyedHasher : IDisposable
{
    private const int Block = 64;
    private readonly HMACSHA256 _short;
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _innerPad = new byte[Block];
    private readonly byte[] _outer = new byte[Block + 32];
    private readonly byte[] _hash = new byte[32];
    private byte[] _text = new byte[256];
    private string? _lastPatientId;
    private UInt128 _lastPseudonym;

    public KeyedHasher(byte[] key)
    {
        _short = new HMACSHA256(key);
        var k = key.Length > Block ? SHA256.HashData(key) : key;
        for (var i = 0; i < Block; i++)
        {
            var b = i < k.Length ? k[i] : (byte)0;
            _innerPad[i] = (byte)(b ^ 0x36);
            _outer[i] = (byte)(b ^ 0x5c);
        }
    }

    public string Patient(string patientId) => PatientKey(patientId).ToString("x32", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The first 16 bytes of the patient pseudonym (<see cref="Patient"/> is their hex); big-endian, so it orders as its hex does.</summary>
    public UInt128 PatientKey(string patientId)
    {
        if (!string.Equals(patientId, _lastPatientId, StringComparison.Ordinal))
        {
            _lastPseudonym = BinaryPrimitives.ReadUInt128BigEndian(Domain("patient", patientId, null));
            _lastPatientId = patientId;
        }

        return _lastPseudonym;
    }

    /// <summary>The first 16 bytes of the resource key (<see cref="Pseudonymizer.Resource"/> is their hex).</summary>
    public UInt128 Resource(string type, string id) => BinaryPrimitives.ReadUInt128BigEndian(Domain("resource", type, id));

    public string Line(ReadOnlySpan<byte> line) => Convert.ToHexStringLower(Long(line)[..16]);

    public void Dispose()
    {
        _sha.Dispose();
        _short.Dispose();
    }

    /// <summary>SHA-256((K ⊕ opad) ‖ SHA-256((K ⊕ ipad) ‖ m)), with the pads prepared once.</summary>
    private ReadOnlySpan<byte> Long(ReadOnlySpan<byte> message)
    {
        _sha.AppendData(_innerPad);
        _sha.AppendData(message);
        _sha.GetHashAndReset(_outer.AsSpan(Block));
        _sha.AppendData(_outer);
        _sha.GetHashAndReset(_hash);
        return _hash;
    }

    /// <summary>HMAC over UTF-8 of domain + NUL + a [+ "/" + b], as <see cref="Pseudonymizer"/> hashes its strings.</summary>
    private ReadOnlySpan<byte> Domain(string domain, string a, string? b)
    {
        var max = Encoding.UTF8.GetMaxByteCount(domain.Length + a.Length + (b?.Length ?? 0) + 2);
        if (_text.Length < max)
        {
            _text = new byte[max];
        }

        var text = _text.AsSpan();
        var n = Encoding.UTF8.GetBytes(domain, text);
        text[n++] = 0;
        n += Encoding.UTF8.GetBytes(a, text[n..]);
        if (b is not null)
        {
            text[n++] = (byte)'/';
            n += Encoding.UTF8.GetBytes(b, text[n..]);
        }

        _short.TryComputeHash(_text.AsSpan(0, n), _hash, out _);
        return _hash;
    }
}
