namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The FHIR R4 date, dateTime and instant patterns (R4 datatypes, "Primitive Types": the regexes in
/// the spec's regex column), checked byte by byte: the same language as those regexes as .NET
/// evaluates `^…$` (which also allows one final line feed), without a regex engine per value on the
/// ingest's hot path. A test checks agreement with the regexes on every prefix and mutation of a set
/// of valid values.
/// </summary>
public static class FhirDateSyntax
{
    public static bool IsDate(ReadOnlySpan<byte> v) => Match(Trim(v), requireTime: false, allowTime: false);

    public static bool IsDateTime(ReadOnlySpan<byte> v) => Match(Trim(v), requireTime: false, allowTime: true);

    public static bool IsInstant(ReadOnlySpan<byte> v) => Match(Trim(v), requireTime: true, allowTime: true);

    /// <summary>
    /// The pattern allows 2023-02-31; the calendar does not (digits are already pattern-checked). The pattern also allows a leap
    /// second (ss = 60), which Firely refuses (PVAL124: the value does not parse as a .NET date and time, which has no leap second):
    /// the fast path refuses it too, so the two parsers give one verdict (fuzz/regressions/fhir-differential).
    /// </summary>
    public static bool IsCalendarDate(ReadOnlySpan<byte> value)
    {
        if (value.Length >= 19 && value[10] == 'T' && value[17] == '6')
        {
            return false;
        }

        if (value.Length < 10)
        {
            return true;
        }

        var year = ((value[0] - '0') * 1000) + ((value[1] - '0') * 100) + ((value[2] - '0') * 10) + (value[3] - '0');
        var month = ((value[5] - '0') * 10) + (value[6] - '0');
        var day = ((value[8] - '0') * 10) + (value[9] - '0');
        return year >= 1 && day <= DateTime.DaysInMonth(year, month);
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> v) => v.Length > 0 && v[^1] == (byte)'\n' ? v[..^1] : v;

    private static bool Match(ReadOnlySpan<byte> v, bool requireTime, bool allowTime)
    {
        // Year: four digits, not 0000.
        if (v.Length < 4 || !Digits(v[..4]) || v[..4].SequenceEqual("0000"u8))
        {
            return false;
        }

        if (v.Length == 4)
        {
            return !requireTime;
        }

        // -MM: 01-12.
        if (v.Length < 7 || v[4] != '-' || !Range2(v[5..7], 1, 12))
        {
            return false;
        }

        if (v.Length == 7)
        {
            return !requireTime;
        }

        // -DD: 01-31.
        if (v.Length < 10 || v[7] != '-' || !Range2(v[8..10], 1, 31))
        {
            return false;
        }

        if (v.Length == 10)
        {
            return !requireTime;
        }

        // Thh:mm:ss (hh 00-23, mm 00-59, ss 00-60), optional .fraction, then Z or ±hh:mm (00:00-13:59, or 14:00).
        if (!allowTime || v.Length < 19 || v[10] != 'T' || !Range2(v[11..13], 0, 23) || v[13] != ':' || !Range2(v[14..16], 0, 59) || v[16] != ':' || !Range2(v[17..19], 0, 60))
        {
            return false;
        }

        var i = 19;
        if (i < v.Length && v[i] == '.')
        {
            var start = ++i;
            while (i < v.Length && v[i] is >= (byte)'0' and <= (byte)'9')
            {
                i++;
            }

            if (i == start)
            {
                return false;
            }
        }

        var zone = v[i..];
        if (zone.Length == 1)
        {
            return zone[0] == 'Z';
        }

        if (zone.Length != 6 || zone[0] is not ((byte)'+' or (byte)'-') || zone[3] != ':')
        {
            return false;
        }

        return zone[1..3].SequenceEqual("14"u8) ? zone[4..6].SequenceEqual("00"u8) : Range2(zone[1..3], 0, 13) && Range2(zone[4..6], 0, 59);
    }

    private static bool Digits(ReadOnlySpan<byte> s)
    {
        foreach (var b in s)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }

        return true;
    }

    private static bool Range2(ReadOnlySpan<byte> s, int min, int max)
    {
        if (!Digits(s))
        {
            return false;
        }

        var n = ((s[0] - '0') * 10) + (s[1] - '0');
        return n >= min && n <= max;
    }
}
