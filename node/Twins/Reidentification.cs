using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Twins;

/// <summary>The site policy refused a re-identification; <see cref="Rule"/> names the rule (reidentification_purpose_refused).</summary>
public sealed class ReidentificationRefusedException : Exception
{
    public ReidentificationRefusedException(string rule, string message)
        : base(message)
    {
        Rule = rule;
    }

    public ReidentificationRefusedException()
    {
        Rule = "reidentification_purpose_refused";
    }

    public ReidentificationRefusedException(string message)
        : this("reidentification_purpose_refused", message)
    {
    }

    public ReidentificationRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Rule = "reidentification_purpose_refused";
    }

    /// <summary>The policy rule that refused.</summary>
    public string Rule { get; }
}

/// <summary>What a re-identification did: counts and the output's digest (what the audit trail keeps), never an identifier.</summary>
public sealed record ReidentificationSummary(int WorklistSize, int Matched, int NotFound, string OutputSha256);

/// <summary>
/// Maps a worklist's pseudonyms back to the hospital's own patient ids (`ftwin node twin reidentify`), deliberately, locally and
/// audited. The node keeps no identifier and no table from pseudonym to patient: the only link is the keyed hash the ingest
/// computed (<see cref="Deidentification.Pseudonymizer.Patient"/> of the Patient resource's id), so the mapping re-reads the
/// hospital's own FHIR export, hashes each Patient's id with the node's key and keeps those on the worklist. The result goes to
/// an owner-only file on the host, never into node.db; the audit trail records the purpose, the counts and the file's SHA-256.
/// Allowed only for the purposes the site policy lists in reidentification_purposes (TREAT, HOPERAT: a covered entity's use of
/// its own patients' PHI for treatment and operations, 45 CFR 164.506(c)); research purposes can never be listed.
/// </summary>
public static class Reidentification
{
    private static readonly byte[] PatientToken = "\"Patient\""u8.ToArray();

    /// <summary>
    /// The pseudonyms of a worklist file: the JSON object `ftwin node twin patients` prints (its patients' pseudonyms), or a plain
    /// list, one pseudonym per line (blank lines and lines starting with # ignored). Order kept, duplicates dropped.
    /// </summary>
    public static IReadOnlyList<string> ReadWorklist(string path)
    {
        var text = File.ReadAllText(path);
        IEnumerable<string> items;
        if (text.TrimStart().StartsWith('{'))
        {
            using var doc = JsonDocument.Parse(text);
            if (!doc.RootElement.TryGetProperty("patients", out var patients) || patients.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException("the worklist JSON has no \"patients\" array (the output of `ftwin node twin patients --json`)");
            }

            items = [.. patients.EnumerateArray().Select(p => p.GetProperty("pseudonym").GetString() ?? string.Empty)];
        }
        else
        {
            items = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'));
        }

        var list = items.Distinct(StringComparer.Ordinal).ToList();
        if (list.FirstOrDefault(p => p.Length != 32 || !p.All(Uri.IsHexDigit)) is { } bad)
        {
            throw new InvalidDataException($"the worklist holds a line that is not a pseudonym (32 hex digits), at position {list.IndexOf(bad) + 1}");
        }

        return list;
    }

    /// <summary>
    /// Checks the purpose against the site policy (refused: an audit record naming the rule, and
    /// <see cref="ReidentificationRefusedException"/>), reads the Patient resources of <paramref name="source"/>, writes the mapping
    /// to <paramref name="output"/> (a new owner-only file) and audits the run.
    /// </summary>
    public static ReidentificationSummary Run(NodeDirectory node, string source, IReadOnlyList<string> worklist, string output, string purpose, string operatorName)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(worklist);
        var decision = node.LoadPolicy().Reidentification(purpose);
        if (!decision.Accept)
        {
            node.Audit.Append(NodeAuditRecords.ReidentificationRefused(purpose, decision.Rule, decision.Reason, operatorName));
            throw new ReidentificationRefusedException(decision.Rule, decision.Reason);
        }

        var wanted = new HashSet<string>(worklist, StringComparer.Ordinal);
        var found = new Dictionary<string, (string Id, List<string> Identifiers)>(StringComparer.Ordinal);
        foreach (var file in IngestSources.Files(source))
        {
            foreach (var line in IngestSources.Read(file, "reidentify"))
            {
                // Only Patient resources carry the id the ingest hashed; the fast parser keeps no identifiers (it de-identifies at
                // the door), so the few lines naming "Patient" as a string are parsed here and every other line is passed over.
                if (line.Bytes.Span.IndexOf(PatientToken) < 0)
                {
                    continue;
                }

                if (Patient(line.Bytes) is not { } patient)
                {
                    continue;
                }

                var pseudonym = node.Pseudonymizer.Patient(patient.Id);
                if (wanted.Contains(pseudonym))
                {
                    found[pseudonym] = patient;
                }
            }
        }

        var bytes = Document(purpose, worklist, found);
        DurableFile.CreateOwnerOnly(Path.GetFullPath(output), bytes);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var matched = worklist.Count(found.ContainsKey);
        node.Audit.Append(NodeAuditRecords.Reidentification(purpose, worklist.Count, matched, sha, operatorName));
        return new ReidentificationSummary(worklist.Count, matched, worklist.Count - matched, sha);
    }

    /// <summary>The operator as the host knows them: the OS user and the host name (what the audit trail names).</summary>
    public static string Operator() => $"{Environment.UserName}@{Environment.MachineName}";

    private static (string Id, List<string> Identifiers)? Patient(ReadOnlyMemory<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("resourceType", out var type) || type.ValueEquals("Patient"u8) is false
                || !root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString() is not { Length: > 0 } patientId)
            {
                return null;
            }

            var identifiers = new List<string>();
            if (root.TryGetProperty("identifier", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var i in list.EnumerateArray())
                {
                    var system = i.TryGetProperty("system", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
                    var value = i.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                    if (value is not null)
                    {
                        identifiers.Add($"{system}|{value}");
                    }
                }
            }

            return (patientId, identifiers);
        }
        catch (JsonException)
        {
            return null; // a broken line: the ingest quarantined it, and it names no patient here either
        }
    }

    private static byte[] Document(string purpose, IReadOnlyList<string> worklist, Dictionary<string, (string Id, List<string> Identifiers)> found)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("purpose", purpose);
            w.WriteStartObject("patients");
            foreach (var pseudonym in worklist.Where(found.ContainsKey))
            {
                var (id, identifiers) = found[pseudonym];
                w.WriteStartObject(pseudonym);
                w.WriteString("patient_id", id);
                w.WriteStartArray("identifiers");
                foreach (var i in identifiers)
                {
                    w.WriteStringValue(i);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteStartArray("not_found");
            foreach (var pseudonym in worklist.Where(p => !found.ContainsKey(p)))
            {
                w.WriteStringValue(pseudonym);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(stream.ToArray()) + "\n");
    }
}
