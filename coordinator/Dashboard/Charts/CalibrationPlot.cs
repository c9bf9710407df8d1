namespace FederatedTwin.Coordinator.Dashboard.Charts;

/// <summary>One calibration group: mean predicted risk and observed rate (a group under the minimum cell size is not drawn).</summary>
public sealed record CalibrationPoint(double MeanPredicted, double ObservedRate, bool Shown);

/// <summary>A calibration plot: observed event rate against mean predicted risk per decile of risk, with the diagonal of perfect calibration.</summary>
public static class CalibrationPlot
{
    private const double Size = 300;
    private const double Margin = 48;

    public static string Render(IReadOnlyList<CalibrationPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var shown = points.Where(p => p.Shown).ToList();
        var max = Math.Min(1, Math.Max(0.05, shown.SelectMany(p => new[] { p.MeanPredicted, p.ObservedRate }).DefaultIfEmpty(0).Max() * 1.1));
        var svg = new SvgCanvas(Size + Margin + 16, Size + Margin + 24, "Calibration plot",
            $"Observed rate against mean predicted risk in {shown.Count} risk groups; groups under the minimum cell size are left out. The diagonal is perfect calibration.");
        var x = new LinearScale(0, max, Margin, Margin + Size);
        var y = new LinearScale(0, max, Size + 24, 24);
        foreach (var tick in x.Ticks())
        {
            svg.Line(x[tick], y[0], x[tick], y[max], "grid").Text(x[tick], y[0] + 16, SvgCanvas.N(tick), "tick", "middle");
            svg.Line(x[0], y[tick], x[max], y[tick], "grid").Text(x[0] - 6, y[tick] + 4, SvgCanvas.N(tick), "tick", "end");
        }

        svg.Line(x[0], y[0], x[max], y[max], "diagonal");
        svg.Polyline(shown.Select(p => (x[p.MeanPredicted], y[p.ObservedRate])), "series");
        foreach (var p in shown)
        {
            svg.Circle(x[p.MeanPredicted], y[p.ObservedRate], 4, "point");
        }

        svg.Text(Margin + (Size / 2), Size + Margin + 20, "mean predicted risk", "axis-label", "middle");
        svg.Text(4, 12, "observed rate", "axis-label");
        return svg.ToString();
    }
}
