using System.Globalization;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>
/// Shows a count of people only when it is zero or at least the minimum cell size; a smaller count is shown as
/// "&lt; N" (CMS cell-size suppression policy: no cell of 1 to 10 beneficiaries is displayed).
/// </summary>
public readonly record struct CellCount(long Value, int MinimumCellSize)
{
    public bool Suppressed => Value > 0 && Value < MinimumCellSize;

    public override string ToString() => Suppressed
        ? "< " + MinimumCellSize.ToString(CultureInfo.InvariantCulture)
        : Value.ToString("N0", CultureInfo.InvariantCulture);
}
