using FederatedTwin.Node.Deidentification;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The fast path's record building: the leaves the validation (<see cref="FastFhirParser"/>) collected from one
/// line, by slot (the element paths the features want), and the <see cref="ClinicalRecord"/> they make: the same
/// record the Firely path builds for the same line. Dates are read as Firely reads them, without its string round
/// trips. One builder per parser (not thread-safe).
/// </summary>
internal sealed class FastRecordBuilder
{
    private readonly List<(int Slot, int Index, int Inner, string? Value, decimal Number)> _leaves = new(64);

    private static readonly string[] WantedPaths =
    [
        "id", "gender", "birthDate", "deceasedDateTime", "address.postalCode", "meta.security.system", "meta.security.code",
        "code.coding.system", "code.coding.code", "subject.reference", "patient.reference", "onsetDateTime", "onsetPeriod.start", "recordedDate",
        "abatementDateTime", "abatementPeriod.start", "class.code", "period.start", "period.end", "reasonCode.coding.system", "reasonCode.coding.code",
        "effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "valueQuantity.value", "component.code.coding.system", "component.code.coding.code",
        "component.valueQuantity.value", "billablePeriod.start", "created", "total.value", "payment.amount.value", "total.amount.value",
    ];

    private static int Slot(string path) => Array.IndexOf(WantedPaths, path) is var i and >= 0 ? i : throw new ArgumentException($"{path} is not a wanted path.", nameof(path));

    private static readonly int SId = Slot("id"), SGender = Slot("gender"), SBirthDate = Slot("birthDate"), SDeceased = Slot("deceasedDateTime"),
        SPostalCode = Slot("address.postalCode"), SSecuritySystem = Slot("meta.security.system"), SSecurityCode = Slot("meta.security.code"),
        SCodeSystem = Slot("code.coding.system"), SCodeCode = Slot("code.coding.code"), SSubject = Slot("subject.reference"), SPatient = Slot("patient.reference"),
        SOnset = Slot("onsetDateTime"), SOnsetPeriod = Slot("onsetPeriod.start"), SRecorded = Slot("recordedDate"), SAbatement = Slot("abatementDateTime"),
        SAbatementPeriod = Slot("abatementPeriod.start"), SClass = Slot("class.code"), SPeriodStart = Slot("period.start"), SPeriodEnd = Slot("period.end"),
        SReasonSystem = Slot("reasonCode.coding.system"), SReasonCode = Slot("reasonCode.coding.code"), SEffective = Slot("effectiveDateTime"),
        SEffectivePeriod = Slot("effectivePeriod.start"), SEffectiveInstant = Slot("effectiveInstant"), SValue = Slot("valueQuantity.value"),
        SComponentSystem = Slot("component.code.coding.system"), SComponentCode = Slot("component.code.coding.code"), SComponentValue = Slot("component.valueQuantity.value"),
        SBillable = Slot("billablePeriod.start"), SCreated = Slot("created"), STotal = Slot("total.value"), SPayment = Slot("payment.amount.value"), STotalAmount = Slot("total.amount.value");

    /// <summary>The first value collected for a slot (at top-level index <paramref name="top"/> when given).</summary>
    private string? Leaf(int slot, int? top = null) => Find(slot, top) is { } at ? _leaves[at].Value : null;

    /// <summary>The first decimal collected for a slot.</summary>
    private decimal? Decimal(int slot, int? top = null) => Find(slot, top) is { } at ? _leaves[at].Number : null;

    private int? Find(int slot, int? top)
    {
        var leaves = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_leaves);
        for (var i = 0; i < leaves.Length; i++)
        {
            if (leaves[i].Slot == slot && (top is null || leaves[i].Index == top))
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>The record of the line's leaves (its type and id already known).</summary>
    public ClinicalRecord Build(string type, string id)
    {
        var security = Codings(SSecuritySystem, SSecurityCode);
        IReadOnlyList<string> labels = security.Count == 0 ? [] : [.. security.Select(c => c.Item1 + "|" + c.Item2)];
        return type switch
        {
            "Patient" => new PatientRecord(id, Leaf(SGender), ParseDate(Leaf(SBirthDate)), Year(Leaf(SDeceased)), SafeHarbor.Zip3(Leaf(SPostalCode, top: 0))) { PatientId = id, SecurityLabels = labels },
            "Condition" => new ConditionRecord(id, Codings(SCodeSystem, SCodeCode), Year(Leaf(SOnset)) ?? Year(Leaf(SOnsetPeriod)) ?? Year(Leaf(SRecorded)), Year(Leaf(SAbatement)) ?? Year(Leaf(SAbatementPeriod))) { PatientId = PatientOf(Leaf(SSubject)), SecurityLabels = labels },
            "Encounter" => new EncounterRecord(id, Leaf(SClass), Year(Leaf(SPeriodStart)), Days(Leaf(SPeriodStart), Leaf(SPeriodEnd)), Codings(SReasonSystem, SReasonCode)) { PatientId = PatientOf(Leaf(SSubject)), SecurityLabels = labels },
            "Observation" => new ObservationRecord(id, Year(Leaf(SEffective)) ?? Year(Leaf(SEffectivePeriod)) ?? Year(Leaf(SEffectiveInstant)), ObservationValues()) { PatientId = PatientOf(Leaf(SSubject)), SecurityLabels = labels },
            "Claim" => new CostRecord("Claim", id, Year(Leaf(SBillable)) ?? Year(Leaf(SCreated)), Decimal(STotal)) { PatientId = PatientOf(Leaf(SPatient)), SecurityLabels = labels },
            _ => new CostRecord("ExplanationOfBenefit", id, Year(Leaf(SBillable)) ?? Year(Leaf(SCreated)), Decimal(SPayment) ?? Decimal(STotalAmount, top: 0)) { PatientId = PatientOf(Leaf(SPatient)), SecurityLabels = labels },
        };
    }

    /// <summary>
    /// Codings of a CodeableConcept (or of every element of a list of them), in document order, system and
    /// code paired by their coding element (its top-level and inner index); only those at top-level index
    /// <paramref name="top"/> when given.
    /// </summary>
    private List<(string?, string?)> Codings(int systemSlot, int codeSlot, int? top = null)
    {
        var pairs = new List<(string?, string?)>();
        Span<(int Top, int Inner)> keys = stackalloc (int, int)[16];
        List<(int, int)>? moreKeys = null;
        foreach (var (slot, index, inner, value, _) in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_leaves))
        {
            if ((slot != systemSlot && slot != codeSlot) || (top is { } t && index != t))
            {
                continue;
            }

            var at = -1;
            for (var j = pairs.Count - 1; j >= 0; j--)
            {
                if ((j < keys.Length ? keys[j] : moreKeys![j - keys.Length]) == (index, inner))
                {
                    at = j;
                    break;
                }
            }

            if (at < 0)
            {
                at = pairs.Count;
                pairs.Add((null, null));
                if (at < keys.Length)
                {
                    keys[at] = (index, inner);
                }
                else
                {
                    (moreKeys ??= []).Add((index, inner));
                }
            }

            pairs[at] = slot == systemSlot ? (value, pairs[at].Item2) : (pairs[at].Item1, value);
        }

        return pairs;
    }

    private List<(string, decimal)> ObservationValues()
    {
        var values = new List<(string, decimal)>();
        var code = Loinc(Codings(SCodeSystem, SCodeCode));
        if (code is not null && Decimal(SValue) is { } v)
        {
            values.Add((code, v));
        }

        for (var i = 0; i < _leaves.Count; i++)
        {
            var (slot, index, _, _, value) = _leaves[i];
            if (slot != SComponentValue)
            {
                continue;
            }

            if (Loinc(Codings(SComponentSystem, SComponentCode, index)) is { } loinc)
            {
                values.Add((loinc, value));
            }
        }

        return values;
    }

    private static string? Loinc(List<(string?, string?)> codings)
    {
        foreach (var (system, code) in codings)
        {
            if (system == "http://loinc.org")
            {
                return code;
            }
        }

        return null;
    }

    /// <summary>
    /// The calendar year of a validated FHIR date/dateTime as Firely computes it: a dateTime with a time
    /// is converted to UTC first (2015-12-31T23:30:00-05:00 is 2016), a partial date is its own year.
    /// </summary>
    private static int? Year(string? value)
    {
        if (value is null)
        {
            return null;
        }

        // The pattern is already checked: the first four characters are the year, and only a time on
        // 1 January or 31 December can move it once converted to UTC.
        var year = ((value[0] - '0') * 1000) + ((value[1] - '0') * 100) + ((value[2] - '0') * 10) + (value[3] - '0');
        if (value.Length <= 10 || !(value.AsSpan(5, 5).SequenceEqual("01-01") || value.AsSpan(5, 5).SequenceEqual("12-31")))
        {
            return year;
        }

        return Instant(value).Year;
    }

    private static int Days(string? start, string? end)
    {
        if (start is null || end is null)
        {
            return 0;
        }

        return Math.Max(0, (int)Math.Round((Instant(end) - Instant(start)).TotalDays));
    }

    /// <summary>A validated dateTime (pattern-checked) as a UTC instant, without Firely's string round trips; partial values start at their first day.</summary>
    private static DateTime Instant(string value)
    {
        static int Digits(string s, int at, int n) => int.Parse(s.AsSpan(at, n), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
        var year = Digits(value, 0, 4);
        var month = value.Length >= 7 ? Digits(value, 5, 2) : 1;
        var day = value.Length >= 10 ? Digits(value, 8, 2) : 1;
        if (value.Length <= 10)
        {
            return new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Utc);
        }

        var local = new DateTime(year, month, day, Digits(value, 11, 2), Digits(value, 14, 2), Digits(value, 17, 2), DateTimeKind.Unspecified);
        var at = 19;
        if (value[at] == '.')
        {
            var end = at + 1;
            while (end < value.Length && char.IsAsciiDigit(value[end]))
            {
                end++;
            }

            var fraction = value.AsSpan(at + 1, Math.Min(end - at - 1, 7)).ToString().PadRight(7, '0');
            local = local.AddTicks(int.Parse(fraction, System.Globalization.CultureInfo.InvariantCulture));
            at = end;
        }

        var offset = value[at] == 'Z' ? TimeSpan.Zero : new TimeSpan(Digits(value, at + 1, 2), Digits(value, at + 4, 2), 0) * (value[at] == '-' ? -1 : 1);
        return new DateTimeOffset(local, offset).UtcDateTime;
    }

    private static DateOnly? ParseDate(string? value) => FhirRecordParser.ParseDate(value);

    /// <summary>The patient id of the line's reference; the previous line's when it is the same reference string.</summary>
    private string? PatientOf(string? reference)
    {
        if (!ReferenceEquals(reference, _lastReferenceText) || reference is null)
        {
            return FhirRecordParser.PatientOf(reference);
        }

        return _lastPatient ??= FhirRecordParser.PatientOf(reference);
    }

    // The lines of one patient come together (a Bulk export writes a patient's resources of a type in a run), so a
    // subject or patient reference is mostly the previous line's: one string for the run of lines, not one per line.
    private byte[] _lastReference = [];
    private string? _lastReferenceText, _lastPatient;

    /// <summary>A reference's text: the previous line's string when the bytes are the same.</summary>
    public string Reference(ReadOnlySpan<byte> utf8)
    {
        if (_lastReferenceText is null || !utf8.SequenceEqual(_lastReference))
        {
            _lastReference = utf8.ToArray();
            _lastReferenceText = System.Text.Encoding.UTF8.GetString(utf8);
            _lastPatient = null;
        }

        return _lastReferenceText;
    }

    /// <summary>The slot of an element path the features want, or -1.</summary>
    public static int SlotOf(string path) => Array.IndexOf(WantedPaths, path);

    /// <summary>Whether a slot's values are references to a patient (kept as one string per run of lines).</summary>
    public static bool IsReference(int slot) => slot == SSubject || slot == SPatient;

    /// <summary>The resource's id, once its line is walked.</summary>
    public string? Id => Leaf(SId);

    /// <summary>A new line: the last one's leaves are dropped.</summary>
    public void Clear() => _leaves.Clear();

    /// <summary>A leaf of the line (at top-level index <paramref name="top"/> and inner index <paramref name="inner"/>).</summary>
    public void Add(int slot, int top, int inner, string? value, decimal number) => _leaves.Add((slot, top, inner, value, number));
}
