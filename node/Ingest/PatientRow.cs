using FederatedTwin.Node.Features;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Ingest;

/// <summary>A patient's row as it will be written, computed off the writer's thread.</summary>
internal sealed record PatientRow(string Group, byte[]? Data, int Entries, int Facts, int? LastYear, string? Sensitive, string? CodeLists, StoredPatient? Patient, List<(string, int, string)>? ConsentStates)
{
    /// <summary>The row's code_lists column: the one tag all its entries share (null: built-in lists only), or "mixed".</summary>
    public const string MixedLists = "mixed";
    private const string NoLists = "";

    /// <summary>Writes the row and the tables derived from it (demographics; consent states when its consents changed).</summary>
    public void Write(PatientFactsQueries sql)
    {
        if (Data is null)
        {
            sql.DeleteFacts(Group);
        }
        else
        {
            sql.UpsertFacts(new PatientFactsRow(Group, Data, Entries, Facts, LastYear, Sensitive, CodeLists));
            if (Patient is { } patient)
            {
                sql.UpsertPatient(Group, new PatientDemographics(patient.Sex, patient.Zip3, patient.DeceasedYear, patient.BirthYear, patient.NinetyPlus));
            }
        }

        if (ConsentStates is { } states)
        {
            sql.DeleteConsentStates(Group);
            foreach (var (purpose, year, state) in states)
            {
                sql.InsertConsentState(Group, purpose, year, state);
            }
        }
    }

    public static PatientRow Of(string group, List<ReadOnlyMemory<byte>> entries, bool consentsChanged)
    {
        var consents = new List<StoredConsent>();
        byte[]? data = null;
        int facts = 0;
        int? lastYear = null;
        StoredPatient? patient = null;
        string? codeLists = null;
        var sensitive = new Dictionary<string, int>(StringComparer.Ordinal);
        if (entries.Count > 0)
        {
            data = new byte[entries.Sum(e => e.Length)];
            var at = 0;
            foreach (var e in entries)
            {
                e.Span.CopyTo(data.AsSpan(at));
                at += e.Length;
                var (special, n, last, lists) = EntryCodec.Summarize(e.Span, FeatureSchema.LastYear, sensitive);
                codeLists = at == e.Length ? lists ?? NoLists : codeLists == (lists ?? NoLists) ? codeLists : MixedLists;
                facts += n;
                lastYear = last > lastYear || lastYear is null ? last : lastYear;
                patient = special?.Patient ?? patient;
                if (special?.Consent is { } consent)
                {
                    consents.Add(consent);
                }
            }
        }

        var states = group[0] != '-' && consentsChanged ? FeatureBuilder.ConsentStates(consents).ToList() : null;
        var flagged = sensitive.Count == 0 ? null : string.Join(';', sensitive.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
        return new PatientRow(group, data, entries.Count, facts, lastYear, flagged, codeLists == NoLists ? null : codeLists, patient, states);
    }
}
