using System.Text;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Twin.Scenarios;

namespace FederatedTwin.Fuzz;

/// <summary>
/// One parser that reads outside input, as a fuzz target. <see cref="Run"/> takes the raw input and lets escape only what the
/// parser's callers are not prepared for: each target catches the documented refusal of its parser (the exception its callers
/// turn into a clear error), so an escaping exception — any other type — is a defect, which afl-fuzz records as a crash.
/// </summary>
/// <param name="WarmUp">Work done once per process before the fork server starts (keys, parsers), not per input.</param>
public sealed record FuzzTarget(string Name, string Description, Action<byte[]> Run, Action? WarmUp = null)
{
    public void Warm() => WarmUp?.Invoke();
}

/// <summary>The targets, by name: fuzz/README.md says which caller each one stands for.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("ciphertext", "crypto wire format: encrypted vectors, key shares, sums, decryption shares (CryptoFormatException only)", CryptoTarget.Run, CryptoTarget.Warm),
        new("fhir-differential", "one NDJSON line through the fast path and the Firely path: same verdict, same record", FhirTargets.Differential, FhirTargets.Warm),
        new("bundle", "a Bundle file streamed entry by entry, each entry through the ingest's parsers", FhirTargets.Bundle, FhirTargets.Warm),
        new("ndjson-gzip", "an .ndjson.gz file: checked gzip, line cutting, each line through the ingest's parsers", FhirTargets.NdjsonGzip, FhirTargets.Warm),
        new("signature", "RFC 9421 Signature-Input / Signature, RFC 9530 Content-Digest, the audit-head header", Signatures),
        new("study-yaml", "study.yaml (StudyFileException only), then each algorithm's parameters and privacy account", StudyYaml),
        new("policy-yaml", "a site policy (SitePolicyException only) and a custom code list CSV", PolicyYaml),
        new("scenario-yaml", "a scenario file as the coordinator's endpoint reads a client's (ScenarioFileException only)", ScenarioYaml),
        new("roster", "a signed federation roster (RosterException only) and the node's wire messages (JsonException only)", Roster),
        new("mssp-puf", "a Shared Savings Program public use file, CSV (PublicUseFileException only), then every row's settlement recomputed", MsspPuf),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    // A real Ed25519 key, so that a well-formed signature reaches the verifier (and fails it) rather than stopping at the key lookup.
    private const string KnownKey = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    private static void Signatures(byte[] data)
    {
        var parts = Encoding.UTF8.GetString(data).Split('\n');
        string? Part(int i) => i < parts.Length ? parts[i] : null;
        var (input, signature, digest) = (Part(0), Part(1), Part(2));

        _ = SignatureParameters.Parse(input, out var label);
        _ = HttpMessageSignatures.SignatureMember(signature, label.Length > 0 ? label : "sig1");
        _ = FederationProtocol.ParseAuditHead(Part(3));
        _ = ContentDigest.MatchesSha256(digest, new byte[32]);
        _ = HttpMessageSignatures.ValidNonce(Part(4) ?? string.Empty);

        HttpMessageSignatures.ComponentResolver request = c => c switch
        {
            "@method" => "POST",
            "@path" => "/v1/node/work",
            "@query" => "?",
            "content-digest" => digest,
            _ => Part(5),
        };
        _ = HttpMessageSignatures.Verify(input, signature, HttpMessageSignatures.RequestComponents, request, data, _ => KnownKey, Now, TimeSpan.FromMinutes(5));
        var response = HttpMessageSignatures.ResponseResolver(200, "POST", "/v1/node/work", Part(6), h => h == "content-digest" ? digest : Part(5));
        _ = HttpMessageSignatures.VerifyHeaders(input, signature, HttpMessageSignatures.ResponseComponents, response, _ => KnownKey, Now, TimeSpan.FromMinutes(5));
    }

    private static void StudyYaml(byte[] data)
    {
        try
        {
            var study = StudyFile.Parse(Encoding.UTF8.GetString(data));
            switch (study.Algorithm)
            {
                case GlmStudy.AlgorithmName:
                    _ = GlmStudy.Parse(study, 16);
                    _ = GlmStudy.Basis(study);
                    break;
                case FedAvgStudy.AlgorithmName:
                    _ = FedAvgStudy.Parse(study, 16);
                    _ = FedAvgStudy.Basis(study);
                    break;
                case CompositionStudy.AlgorithmName:
                    _ = CompositionStudy.Parse(study);
                    _ = CompositionStudy.Basis(study);
                    break;
                case CensusStudy.AlgorithmName:
                    _ = CensusStudy.Basis(study);
                    break;
                case OutcomeTotalsStudy.AlgorithmName:
                    _ = OutcomeTotalsStudy.VectorLength(OutcomeTotalsStudy.Parse(study));
                    _ = OutcomeTotalsStudy.Basis(study);
                    break;
            }

            _ = StudyAccounting.Account(study, 16);
        }
        catch (StudyFileException)
        {
        }
    }

    private static void PolicyYaml(byte[] data)
    {
        try
        {
            _ = SitePolicy.Parse(Encoding.UTF8.GetString(data));
        }
        catch (SitePolicyException)
        {
        }

        try
        {
            _ = CodeListPinning.ReadCodeFile(data, "codes.csv").ToList();
        }
        catch (SitePolicyException)
        {
        }
    }

    private static void ScenarioYaml(byte[] data)
    {
        try
        {
            _ = ScenarioParser.Parse(Encoding.UTF8.GetString(data), new ScenarioParseOptions { AllowDirectories = false });
        }
        catch (ScenarioFileException)
        {
        }
    }

    private static void Roster(byte[] data)
    {
        try
        {
            var roster = SignedRoster.Parse(data);
            _ = roster.Roster.Sha256();
        }
        catch (RosterException)
        {
        }

        Wire<WorkResponse>(data);
        Wire<AggregateAnnouncement>(data);
        Wire<CollectiveKeyAnnouncement>(data);
        Wire<CoordinatorIdentity>(data);
    }

    private static void MsspPuf(byte[] data)
    {
        try
        {
            using var reader = new StreamReader(new MemoryStream(data), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            var rows = FederatedTwin.Twin.Mssp.PublicUseFile.Read(reader);
            _ = FederatedTwin.Twin.Mssp.SettlementReplay.Replay(rows).Select(r => (r.Computable, r.EarnedReproduced, r.GeneratedReproduced)).ToList();
        }
        catch (FederatedTwin.Twin.Mssp.PublicUseFileException)
        {
        }
    }

    private static void Wire<T>(byte[] data)
    {
        try
        {
            _ = WireJson.Deserialize<T>(data);
        }
        catch (System.Text.Json.JsonException)
        {
        }
    }
}
