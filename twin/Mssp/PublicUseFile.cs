using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;

namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// One ACO's published settlement for one performance year, as CMS's Shared Savings Program public use file gives it: the
/// inputs of the settlement (assigned beneficiaries, benchmark and expenditure, the minimum savings rate, quality) and its
/// results (generated savings or losses, the final sharing rate, the shared savings paid or losses owed). Dollar totals are
/// for the year; rates are fractions. Null where the file has no value (NA or empty).
/// </summary>
public sealed record PublishedSettlement
{
    public required int PerformanceYear { get; init; }

    /// <summary>The track or level as the file spells it (track_1, track_1_plus, basic_e, enhanced…).</summary>
    public required string Track { get; init; }

    public required string AcoId { get; init; }

    public string? AgreementType { get; init; }

    public string? RiskModel { get; init; }

    public string? AssignmentType { get; init; }

    /// <summary>n_ab: assigned beneficiaries (person-years), on which the variable MSR is looked up.</summary>
    public required int AssignedBeneficiaries { get; init; }

    /// <summary>minsavperc: the MSR (for two-sided models the MSR/MLR, the same rate both ways).</summary>
    public decimal? MinimumSavingsRate { get; init; }

    public decimal? UpdatedBenchmarkPerCapita { get; init; }

    public decimal? ExpenditurePerCapita { get; init; }

    /// <summary>abtotbnchmk: total benchmark expenditure.</summary>
    public required decimal TotalBenchmark { get; init; }

    /// <summary>abtotexp: total performance-year expenditure.</summary>
    public required decimal TotalExpenditure { get; init; }

    /// <summary>bnchmkminexp: benchmark minus expenditure.</summary>
    public decimal? BenchmarkMinusExpenditure { get; init; }

    public decimal? SavingsRate { get; init; }

    /// <summary>gensaveloss: the whole difference when the savings (loss) rate reaches the MSR (MLR), else 0.</summary>
    public decimal? GeneratedSavingsLosses { get; init; }

    public bool? QualityStandardMet { get; init; }

    public decimal? QualityScore { get; init; }

    public decimal? MaxSharingRate { get; init; }

    public decimal? FinalSharingRate { get; init; }

    /// <summary>disadj: the extreme and uncontrollable circumstances reduction of shared losses (42 CFR 425.605(f), 425.610(i)); negative.</summary>
    public decimal? DisasterAdjustment { get; init; }

    /// <summary>earnsaveloss: shared savings paid (positive) or shared losses owed (negative), after every adjustment.</summary>
    public decimal? EarnedSavingsLosses { get; init; }

    /// <summary>revlosslimit: the revenue-based loss limit applied (its input, participant revenue, is not published).</summary>
    public bool? RevenueLossLimitApplied { get; init; }

    public string? RevenueCategory { get; init; }
}

/// <summary>A public use file that cannot be read: where (line, column) and why, never a cell's content.</summary>
public sealed class PublicUseFileException : FormatException
{
    public PublicUseFileException(long line, string? column, string reason)
        : base($"line {line}{(column is null ? string.Empty : $", column {column}")}: {reason}") => (Line, Column) = (line, column);

    public PublicUseFileException()
    {
    }

    public PublicUseFileException(string message)
        : base(message)
    {
    }

    public PublicUseFileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public long Line { get; }

    public string? Column { get; }
}

/// <summary>
/// Reads the Shared Savings Program's public use files (CMS publishes one per performance year: every ACO's settlement inputs and
/// results) as RFC 4180 CSV. Columns are found by name, without regard to case (CMS's own files write "N_AB", "ABtotBnchmk";
/// repackaged copies lower-case them) or order; columns the settlement does not use are ignored. "NA" and empty cells are
/// missing values; numbers are invariant-culture decimals, with thousands separators or a percent sign accepted as CMS's
/// spreadsheets write them. Bounded: at most <see cref="MaxRows"/> rows and <see cref="MaxFieldLength"/> characters a cell.
/// </summary>
public static class PublicUseFile
{
    public const int MaxRows = 100_000;

    public const int MaxFieldLength = 4096;

    /// <summary>The largest magnitude a number of the file may have.</summary>
    public const decimal MaxMagnitude = 1_000_000_000_000m;

    // The settlement's inputs; the published results (gensaveloss, earnsaveloss, ...) may be absent, blank or NA.
    private static readonly string[] Required = ["performance_year", "track", "aco_id", "n_ab", "abtotbnchmk", "abtotexp"];

    public static IReadOnlyList<PublishedSettlement> Read(string path)
    {
        using var reader = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        return Read(reader);
    }

    public static IReadOnlyList<PublishedSettlement> Read(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var configuration = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            MaxFieldSize = MaxFieldLength,
            DetectColumnCountChanges = false, // checked below, with the line and a message of our own
            IgnoreBlankLines = true,
        };
        long next = 1; // the line the next record starts on: where a record CsvHelper cannot finish began
        try
        {
            using var parser = new CsvParser(reader, configuration);
            if (!parser.Read())
            {
                throw new PublicUseFileException(1, null, "the file is empty: a header row naming the columns is required");
            }

            var width = parser.Record!.Length; // cells a row must have, unnamed header cells included (found by the mssp-puf fuzz target)
            var columns = Header(parser.Record!, parser.RawRow);
            next = parser.RawRow + 1;
            var rows = new List<PublishedSettlement>();
            while (parser.Read())
            {
                if (rows.Count == MaxRows)
                {
                    throw new PublicUseFileException(parser.RawRow, null, $"more than {MaxRows:N0} rows (a public use file has one per ACO)");
                }

                var record = parser.Record!;
                if (record.Length != width)
                {
                    throw new PublicUseFileException(parser.RawRow, null, $"{record.Length} cells where the header has {width}");
                }

                rows.Add(Row(new Cells(record, columns, parser.RawRow)));
                next = parser.RawRow + 1;
            }

            return rows;
        }
        catch (CsvHelperException e)
        {
            // CsvHelper's messages quote the offending text: the reason is given by its kind only.
            throw new PublicUseFileException(next, null, e is MaxFieldSizeException ? $"a cell longer than {MaxFieldLength} characters" : "malformed CSV (RFC 4180: a quote inside an unquoted cell, or a quoted cell not closed)");
        }
    }

    private static Dictionary<string, int> Header(string[] header, long line)
    {
        var columns = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < header.Length; i++)
        {
            var name = header[i].Trim().TrimStart('\uFEFF');
            if (name.Length > 0 && !columns.TryAdd(name, i))
            {
                throw new PublicUseFileException(line, name.Length <= 64 ? name : null, "a column named twice");
            }
        }

        var missing = Required.Where(r => !columns.ContainsKey(r)).ToList();
        return missing.Count == 0 ? columns : throw new PublicUseFileException(line, null, $"required columns missing: {string.Join(", ", missing)}");
    }

    private static PublishedSettlement Row(Cells c) => new()
    {
        PerformanceYear = c.Integer("performance_year") ?? throw c.Missing("performance_year"),
        Track = c.Text("track") ?? throw c.Missing("track"),
        AcoId = c.Text("aco_id") ?? throw c.Missing("aco_id"),
        AgreementType = c.Text("agree_type"),
        RiskModel = c.Text("risk_model"),
        AssignmentType = c.Text("assign_type"),
        AssignedBeneficiaries = c.Integer("n_ab") ?? throw c.Missing("n_ab"),
        MinimumSavingsRate = c.Number("minsavperc"),
        UpdatedBenchmarkPerCapita = c.Number("updatedbnchmk"),
        ExpenditurePerCapita = c.Number("per_capita_exp_total_py"),
        TotalBenchmark = c.Number("abtotbnchmk") ?? throw c.Missing("abtotbnchmk"),
        TotalExpenditure = c.Number("abtotexp") ?? throw c.Missing("abtotexp"),
        BenchmarkMinusExpenditure = c.Number("bnchmkminexp"),
        SavingsRate = c.Number("sav_rate"),
        GeneratedSavingsLosses = c.Number("gensaveloss"),
        QualityStandardMet = c.Flag("met_qps"),
        QualityScore = c.Number("qualscore"),
        MaxSharingRate = c.Number("maxsharerate"),
        FinalSharingRate = c.Number("finalsharerate"),
        DisasterAdjustment = c.Number("disadj"),
        EarnedSavingsLosses = c.Number("earnsaveloss"),
        RevenueLossLimitApplied = c.Flag("revlosslimit"),
        RevenueCategory = c.Text("rev_exp_cat"),
    };

    private readonly struct Cells(string[] record, Dictionary<string, int> columns, long line)
    {
        public PublicUseFileException Missing(string column) => new(line, column, "a value is required");

        public string? Text(string column)
        {
            if (!columns.TryGetValue(column, out var i))
            {
                return null;
            }

            var value = record[i].Trim();
            return value.Length == 0 || value.Equals("NA", StringComparison.OrdinalIgnoreCase) ? null : value;
        }

        public decimal? Number(string column)
        {
            if (Text(column) is not { } text)
            {
                return null;
            }

            var percent = text.EndsWith('%');
            var digits = (percent ? text[..^1] : text).Replace("$", string.Empty, StringComparison.Ordinal).Trim();
            if (!decimal.TryParse(digits, NumberStyles.Number | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var value))
            {
                throw new PublicUseFileException(line, column, "not a number");
            }

            value = percent ? value / 100m : value;

            // No settlement figure comes near a trillion dollars; bounding them keeps every sum and product of the settlement
            // arithmetic (twin/Mssp/SettlementReplay.cs) far from decimal's overflow.
            return Math.Abs(value) <= MaxMagnitude ? value : throw new PublicUseFileException(line, column, $"beyond ±{MaxMagnitude:E0}");
        }

        public int? Integer(string column) => Number(column) is not { } value ? null
            : decimal.Truncate(value) == value && value is >= int.MinValue and <= int.MaxValue ? (int)value
            : throw new PublicUseFileException(line, column, "not a whole number");

        public bool? Flag(string column) => Text(column) switch
        {
            null => null,
            "1" or "1.0" => true,
            "0" or "0.0" => false,
            var t when t.Equals("true", StringComparison.OrdinalIgnoreCase) || t.Equals("yes", StringComparison.OrdinalIgnoreCase) || t.Equals("Y", StringComparison.OrdinalIgnoreCase) => true,
            var t when t.Equals("false", StringComparison.OrdinalIgnoreCase) || t.Equals("no", StringComparison.OrdinalIgnoreCase) || t.Equals("N", StringComparison.OrdinalIgnoreCase) => false,
            _ => throw new PublicUseFileException(line, column, "not 1/0, true/false or yes/no"),
        };
    }
}
