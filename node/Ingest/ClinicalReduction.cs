using System.Text.Json;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// How the parallel stage reduces resources: the current year (the 90+ rule), the sensitive code lists
/// (built-in, plus the site policy's own), and the tag of the site's lists. The tag is stored in each
/// entry's body, so that after a change of lists the next ingest of the same export re-flags every
/// resource (its body differs), and resources flagged under other lists can be counted.
/// </summary>
public sealed record Reduction(int CurrentYear, CodeList Sensitive, string? CodeListsTag);

/// <summary>
/// The clinical mapping from a parsed resource to what the store keeps of it (runs in the ingest's parallel
/// stage): code lists decide the categories and sensitivity, dates become years, the 90+ rule is applied
/// (45 CFR 164.514(b)(2)(i)(C)). A resource that no patient owns keeps only its key and hash. The bytes are the
/// codec's (<see cref="EntryCodec"/>).
/// </summary>
public static class ClinicalReduction
{
    [ThreadStatic]
    private static List<StoredFact>? _facts;

    /// <summary>Reduces a parsed resource and encodes its entry into the arena.</summary>
    public static ReadOnlyMemory<byte> Encode(ClinicalRecord record, UInt128 key, long version, bool ownedByPatient, Reduction reduction, EntryArena arena) =>
        EntryCodec.Encode(record.Type, reduction.CodeListsTag, Reduce(record, ownedByPatient, reduction), key, version, arena);

    /// <summary>What the store keeps of a resource (its facts are a per-thread list, valid until the thread's next call).</summary>
    public static StoredPayload Reduce(ClinicalRecord record, bool ownedByPatient, Reduction reduction)
    {
        if (!ownedByPatient)
        {
            return new StoredPayload(null, null, []);
        }

        switch (record)
        {
            case PatientRecord p:
                var (birthYear, ninetyPlus) = SafeHarbor.BirthYear(p.BirthDate, p.DeceasedYear, reduction.CurrentYear);
                return new StoredPayload(new StoredPatient(p.Sex, p.Zip3, p.DeceasedYear, birthYear, ninetyPlus), null, []);
            case ConsentRecord consent:
                return new StoredPayload(null, new StoredConsent(consent.Status, consent.Scope, consent.Year, JsonSerializer.Serialize(consent.Rules)), []);
        }

        return new StoredPayload(null, null, Facts(record, reduction.Sensitive));
    }

    /// <summary>The facts a resource contributes (sensitive ones flagged with their category, 42 CFR Part 2 and the site's lists).</summary>
    private static List<StoredFact> Facts(ClinicalRecord record, CodeList sensitiveCodes)
    {
        var facts = _facts ??= new List<StoredFact>(4); // per thread, reused: the caller writes them out before the next line
        facts.Clear();
        string? label = null;
        foreach (var l in record.SecurityLabels)
        {
            var parts = l.Split('|', 2);
            if ((label = sensitiveCodes.Match(parts[0], parts.ElementAtOrDefault(1))) is not null)
            {
                break;
            }
        }

        switch (record)
        {
            case ConditionRecord cond when cond.OnsetYear is { } year:
                string? flag = null;
                foreach (var (system, code) in cond.Codes)
                {
                    flag ??= CodeList.ChronicConditions.Match(system, code);
                }

                // Of several codings, the earliest list's category wins (built-in before the site's own).
                var sensitive = label ?? sensitiveCodes.MatchAny(cond.Codes);

                if (flag is not null || sensitive is not null)
                {
                    facts.Add(new StoredFact(year, "condition", flag, 1, sensitive));
                }

                if (cond.Codes.Any(x => CodeList.MedicareProxies.Match(x.System, x.Code) is not null))
                {
                    facts.Add(new StoredFact(year, "condition", FeatureSchema.EsrdProxy, 1, sensitive));
                }

                break;
            case EncounterRecord e when e.Year is { } year:
                var reason = label ?? sensitiveCodes.MatchAny(e.Reasons);

                facts.Add(new StoredFact(year, "encounter", e.Class switch { "IMP" or "ACUTE" or "NONAC" => "inpatient", "EMER" => "emergency", _ => "ambulatory" }, e.Days, reason));
                break;
            case ObservationRecord o when o.Year is { } year:
                foreach (var (loinc, value) in o.Values)
                {
                    var lab = loinc switch { "4548-4" => "hba1c", "8480-6" => "sbp", "8462-4" => "dbp", _ => null };
                    if (lab is not null)
                    {
                        facts.Add(new StoredFact(year, "lab", lab, (double)value, label));
                    }
                }

                break;
            case CostRecord cost when cost.Year is { } year && cost.Amount is { } amount:
                facts.Add(new StoredFact(year, "cost", cost.Type, (double)amount, label));
                break;
        }

        return facts;
    }
}
