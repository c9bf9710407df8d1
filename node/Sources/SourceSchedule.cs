using System.Globalization;
using System.Text.Json;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Sources;

/// <summary>
/// When a scheduled source is next pulled (issue 22): the last pull's start plus <see cref="DataSource.Every"/> after a success; after
/// a failure, min(every, 15 min) doubled for each failure in a row, never beyond every; at once when it was never pulled.
/// </summary>
public static class SourceSchedule
{
    /// <summary>The first retry after a failure, at most (then doubled per failure in a row, up to the source's every).</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromMinutes(15);

    /// <summary>The wait after <paramref name="failures"/> failures in a row (0: a success).</summary>
    public static TimeSpan Wait(TimeSpan every, int failures)
    {
        if (failures <= 0)
        {
            return every;
        }

        var retry = every < FirstRetry ? every : FirstRetry;
        var factor = Math.Pow(2, Math.Min(failures - 1, 20));
        return TimeSpan.FromTicks((long)Math.Min(every.Ticks, retry.Ticks * factor));
    }

    /// <summary>
    /// The next run of a source from its stored state (null: not scheduled). <paramref name="failures"/> is what the running scheduler
    /// counted; without it, a failed last pull counts as one failure.
    /// </summary>
    public static DateTimeOffset? NextRun(DataSource source, SourcePullState? state, DateTimeOffset now, int? failures = null)
    {
        if (source.Every is not { } every)
        {
            return null;
        }

        if (ParseTime(state?.LastPullAt) is not { } last)
        {
            return now; // never pulled: due at once
        }

        var failed = state!.LastStatus != "succeeded";
        return last + Wait(every, failures ?? (failed ? 1 : 0));
    }

    /// <summary>A stored ISO 8601 time (invariant culture, round-trip), or null.</summary>
    public static DateTimeOffset? ParseTime(string? text) =>
        text is not null && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind | DateTimeStyles.AssumeUniversal, out var t) ? t : null;
}

/// <summary>A configured source with its pull state, as `ftwin node source list`, the status page and /v1/status show it.</summary>
public sealed record SourceStatusRow(string Name, string Kind, string Where, string? Every, string? LastPullAt, string? LastStatus, IReadOnlyDictionary<string, object> LastCounts, string? Watermark, DateTimeOffset? NextRun)
{
    // The figures shown of a pull's detail (the puller writes it: PullSummary.ToJson), and the codes of a failure; nothing else is read.
    private static readonly string[] Counts = ["files", "lines_read", "accepted", "quarantined", "deleted", "retries", "bytes"];
    private static readonly string[] Codes = ["reason", "error", "complete"];

    public static List<SourceStatusRow> Read(NodeDirectory node, IReadOnlyList<DataSource> sources, DateTimeOffset now, Func<string, int?>? failures = null)
    {
        var states = node.Store.Read(SourceQueries.All).ToDictionary(s => s.SourceKey, StringComparer.Ordinal);
        return [.. sources.Select(s =>
        {
            var state = states.GetValueOrDefault(s.WatermarkKey);
            return new SourceStatusRow(s.Name, SourceConfiguration.KindName(s.Kind), Describe(s), s.Every is { } e ? SourceConfiguration.FormatEvery(e) : null,
                state?.LastPullAt, state?.LastStatus, Detail(state?.LastDetail), state?.Watermark, SourceSchedule.NextRun(s, state, now, failures?.Invoke(s.Name)));
        })];
    }

    /// <summary>Where a source pulls from: the Bulk Data base URL, or an OMOP host, database and schema (never a user or password).</summary>
    public static string Describe(DataSource s)
    {
        if (s.Kind == SourceKind.FhirBulk)
        {
            return s.FhirBase ?? string.Empty;
        }

        var (host, database) = SourceConfiguration.OmopServer(s.OmopConnection ?? string.Empty);
        return $"{host}/{database} ({s.OmopSchema})";
    }

    public Dictionary<string, object?> ToJson() => new()
    {
        ["name"] = Name,
        ["kind"] = Kind,
        ["where"] = Where,
        ["every"] = Every,
        ["last_pull_at"] = LastPullAt,
        ["last_status"] = LastStatus,
        ["last_counts"] = LastCounts,
        ["watermark"] = Watermark,
        ["next_run"] = NextRun?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
    };

    private static Dictionary<string, object> Detail(string? json)
    {
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        if (json is null)
        {
            return result;
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return result;
            }

            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (Counts.Contains(p.Name) && p.Value.TryGetInt64(out var n))
                {
                    result[p.Name] = n;
                }
                else if (Codes.Contains(p.Name) && p.Value.ValueKind is JsonValueKind.String or JsonValueKind.True or JsonValueKind.False)
                {
                    // A code (an exception's type, a reason's name), never a sentence that might quote a server's answer.
                    if (p.Value.ValueKind != JsonValueKind.String || p.Value.GetString() is { Length: <= 64 } code && code.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
                    {
                        result[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetBoolean();
                    }
                }
            }
        }
        catch (JsonException)
        {
            // not a JSON detail: nothing of it is shown
        }

        return result;
    }
}
