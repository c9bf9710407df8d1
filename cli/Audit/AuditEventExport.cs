using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Audit;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace FederatedTwin.Cli.Audit;

/// <summary>
/// Audit entries as FHIR R4 AuditEvent resources (https://hl7.org/fhir/R4/auditevent.html), one per
/// entry, for a hospital's audit repository. Following the spec and its examples: type and subtype
/// from the DICOM audit codes (plus FederatedTwin's own action code as a second subtype); action
/// C/R/U/D/E; recorded; outcome 0/4/8/12 with outcomeDesc for refusals; the service as the agent
/// (requestor unless a node's request caused the entry, then the node is the requestor); the service
/// as source observer; the study as an entity referenced by identifier; purposeOfEvent from the
/// HL7 v3 PurposeOfUse codes. A second entity names the chain entry (seq and hash) and carries its
/// detail as name/value pairs, which are counts and codes, never patient data.
/// </summary>
internal static class AuditEventExport
{
    public const string NodeIdSystem = "https://federatedtwin.example/fhir/sid/node-id";
    public const string CoordinatorIdSystem = "https://federatedtwin.example/fhir/sid/coordinator-id";
    public const string StudyIdSystem = "https://federatedtwin.example/fhir/sid/study-id";
    public const string AuditEntrySystem = "https://federatedtwin.example/fhir/sid/audit-entry";
    public const string ActionSystem = "https://federatedtwin.example/fhir/CodeSystem/audit-action";
    private const string ActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    private const string SourceType = "http://terminology.hl7.org/CodeSystem/security-source-type";
    private const string EntityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
    private const string ObjectRole = "http://terminology.hl7.org/CodeSystem/object-role";
    private const string ExtraSecurityRoleType = "http://terminology.hl7.org/CodeSystem/extra-security-role-type";

    /// <summary>Displays of the HL7 v3 ActReason codes a study may declare.</summary>
    private static readonly Dictionary<string, string> PurposeDisplays = new(StringComparer.Ordinal)
    {
        ["TREAT"] = "treatment",
        ["HOPERAT"] = "healthcare operations",
        ["HPAYMT"] = "healthcare payment",
        ["HRESCH"] = "healthcare research",
        ["PUBHLTH"] = "public health",
        ["HMARKT"] = "healthcare marketing",
        ["HQUALIMP"] = "health quality improvement",
        ["HSYSADMIN"] = "health system administration",
        ["CLINTRCH"] = "clinical trial research",
    };

    private static readonly BaseFhirJsonSerializer Serializer = new(ModelInfo.ModelInspector);

    /// <summary>Writes the entries recorded in [from, to) as NDJSON; returns how many.</summary>
    public static int Write(AuditSource source, string path, DateTimeOffset? from, DateTimeOffset? to)
    {
        var count = 0;
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { NewLine = "\n" };
        foreach (var entry in source.Entries)
        {
            var at = AuditChain.ParseTimestamp(entry.At);
            if ((from is { } f && at < f) || (to is { } t && at >= t))
            {
                continue;
            }

            writer.WriteLine(Serializer.SerializeToString(ToAuditEvent(entry, source.Service)));
            count++;
        }

        return count;
    }

    public static AuditEvent ToAuditEvent(AuditEntry entry, AuditService service)
    {
        var coding = AuditActions.Coding(entry.Action);
        JsonObject detail;
        try
        {
            detail = JsonNode.Parse(entry.Detail) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            detail = [];
        }

        var serviceSystem = service == AuditService.Node ? NodeIdSystem : CoordinatorIdSystem;
        var serviceReference = new ResourceReference { Identifier = new Identifier(serviceSystem, entry.Actor), Display = service == AuditService.Node ? $"FederatedTwin node {entry.Actor}" : "FederatedTwin coordinator" };
        var requestedBy = detail["requested_by"]?.GetValueKind() == JsonValueKind.String ? detail["requested_by"]!.GetValue<string>() : null;
        // A node asked for it when the entry names a node and no person (a node's revocation names the node and the admin who asked).
        var requestedByNode = service == AuditService.Coordinator && detail["node_id"]?.GetValueKind() == JsonValueKind.String && requestedBy is null;

        var audit = new AuditEvent
        {
            Id = ResourceId(entry),
            Type = new Coding(coding.Type.System, coding.Type.Code, coding.Type.Display),
            Subtype = [.. Subtypes(coding, entry.Action)],
            Action = coding.FhirAction switch
            {
                "C" => AuditEvent.AuditEventAction.C,
                "R" => AuditEvent.AuditEventAction.R,
                "U" => AuditEvent.AuditEventAction.U,
                "D" => AuditEvent.AuditEventAction.D,
                _ => AuditEvent.AuditEventAction.E,
            },
            Recorded = AuditChain.ParseTimestamp(entry.At),
            Outcome = entry.Outcome switch
            {
                AuditOutcome.Success => AuditEvent.AuditEventOutcome.N0,
                AuditOutcome.MinorFailure => AuditEvent.AuditEventOutcome.N4,
                AuditOutcome.SeriousFailure => AuditEvent.AuditEventOutcome.N8,
                _ => AuditEvent.AuditEventOutcome.N12,
            },
            OutcomeDesc = entry.Outcome != AuditOutcome.Success ? OutcomeDescription(detail, coding) : null,
            Source = new AuditEvent.SourceComponent
            {
                Site = service == AuditService.Node ? "FederatedTwin node" : "FederatedTwin coordinator",
                Observer = serviceReference,
                Type = [new Coding(SourceType, "4", "Application Server")],
            },
        };

        if (entry.PurposeOfUse is { } purpose)
        {
            audit.PurposeOfEvent.Add(new CodeableConcept(ActReason, purpose, PurposeDisplays.GetValueOrDefault(purpose, purpose), null));
        }

        audit.Agent.Add(new AuditEvent.AgentComponent
        {
            Type = new CodeableConcept(AuditActions.DcmSystem, "110150", "Application", null),
            Who = serviceReference,
            Name = service == AuditService.Node ? "node" : "coordinator",
            Requestor = !requestedByNode && requestedBy is null,
        });
        if (requestedByNode)
        {
            var node = detail["node_id"]!.GetValue<string>();
            audit.Agent.Add(new AuditEvent.AgentComponent
            {
                Type = new CodeableConcept(AuditActions.DcmSystem, "110153", "Source Role ID", null),
                Who = new ResourceReference { Identifier = new Identifier(NodeIdSystem, node), Display = $"FederatedTwin node {node}" },
                Requestor = true,
            });
        }
        else if (requestedBy is not null)
        {
            audit.Agent.Add(new AuditEvent.AgentComponent
            {
                Type = new CodeableConcept(ExtraSecurityRoleType, "humanuser", "human user", null),
                Who = new ResourceReference { Display = requestedBy == "admin-api" ? "ACO analyst or administrator (coordinator admin token)" : requestedBy },
                Requestor = true,
            });
        }

        if (entry.StudyId is { } study)
        {
            audit.Entity.Add(new AuditEvent.EntityComponent
            {
                What = new ResourceReference { Identifier = new Identifier(StudyIdSystem, study), Display = $"study {study}" },
                Type = new Coding(EntityType, "2", "System Object"),
                Role = new Coding(ObjectRole, "18", "Job"),
                Name = study,
            });
        }

        var record = new AuditEvent.EntityComponent
        {
            What = new ResourceReference { Identifier = new Identifier(AuditEntrySystem, $"{entry.Actor}/{entry.Seq}"), Display = $"audit entry {entry.Seq} of {entry.Actor}" },
            Type = new Coding(EntityType, "2", "System Object"),
            Name = entry.Action,
            Description = coding.Description,
        };
        record.Detail.Add(Detail("seq", entry.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        record.Detail.Add(Detail("hash", entry.Hash));
        record.Detail.Add(Detail("prev_hash", entry.PrevHash));
        foreach (var (name, value) in Flatten(detail, string.Empty))
        {
            record.Detail.Add(Detail(name, value));
        }

        audit.Entity.Add(record);
        return audit;
    }

    /// <summary>A FHIR id ([A-Za-z0-9\-\.]{1,64}) unique per entry: the actor and the seq.</summary>
    private static string ResourceId(AuditEntry entry)
    {
        var seq = "-" + entry.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var actor = new string([.. entry.Actor.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '-')]);
        return (actor.Length + seq.Length > 64 ? actor[..(64 - seq.Length)] : actor) + seq;
    }

    private static IEnumerable<Coding> Subtypes(AuditActionCoding coding, string action)
    {
        if (coding.Subtype is { } subtype)
        {
            yield return new Coding(subtype.System, subtype.Code, subtype.Display);
        }

        yield return new Coding(ActionSystem, action, coding.Description);
    }

    private static string OutcomeDescription(JsonObject detail, AuditActionCoding coding)
    {
        foreach (var key in new[] { "reason", "failure", "error" })
        {
            if (detail[key]?.GetValueKind() == JsonValueKind.String && detail[key]!.GetValue<string>() is { Length: > 0 } text)
            {
                return text;
            }
        }

        if (detail["rule"]?.GetValueKind() == JsonValueKind.String)
        {
            return "refused by rule " + detail["rule"]!.GetValue<string>();
        }

        return coding.Description;
    }

    private static AuditEvent.DetailComponent Detail(string type, string value) => new() { Type = type, Value = new FhirString(value) };

    /// <summary>The detail object as name/value pairs: nested objects by dotted path, arrays and other values as JSON text.</summary>
    private static IEnumerable<(string Name, string Value)> Flatten(JsonObject obj, string prefix)
    {
        foreach (var (key, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var name = prefix + key;
            switch (value)
            {
                case null:
                    continue;
                case JsonObject nested:
                    foreach (var pair in Flatten(nested, name + "."))
                    {
                        yield return pair;
                    }

                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    var text = v.GetValue<string>();
                    if (text.Length > 0)
                    {
                        yield return (name, text);
                    }

                    break;
                default:
                    yield return (name, JsonCanonicalizer.CanonicalString(value));
                    break;
            }
        }
    }
}
