using System.Globalization;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>
/// Instants as coordinator.db stores them: ISO 8601 round-trip text ("O"), so they sort as text and read back to the tick.
/// Kept as text rather than a native timestamp type so that SQLite and a later PostgreSQL store hold the same strings.
/// </summary>
public static class StoredTime
{
    public static string Format(DateTimeOffset instant) => instant.ToString("O", CultureInfo.InvariantCulture);

    public static DateTimeOffset Parse(string stored) => DateTimeOffset.Parse(stored, CultureInfo.InvariantCulture);

    public static DateTimeOffset? ParseOrNull(string? stored) => stored is null ? null : Parse(stored);
}
