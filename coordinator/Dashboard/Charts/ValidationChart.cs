namespace FederatedTwin.Coordinator.Dashboard.Charts;

/// <summary>
/// One outcome of the twin's back-test: per year, the predicted value (a square) with its 95% interval (a whisker) and what the
/// federation observed (a dot, filled when inside the interval, hollow and red when outside).
/// </summary>
public static class ValidationChart
{
    private const double Width = 300;
    private const double Height = 220;
    private const double Left = 64;
    private const double Right = 16;
    private const double Top = 28;
    private const double Bottom = 30;

    /// <summary>Renders the chart of one outcome from its rows (year, predicted, lower, upper, observed).</summary>
    public static string Render(string outcome, IReadOnlyList<(int Year, double Predicted, double Lower, double Upper, double Observed)> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var svg = new SvgCanvas(Width, Height, outcome,
            $"{outcome}: the twin's prediction with its 95% interval and the federation's observed value, for {rows.Count} years.");
        svg.Text(Left, 16, outcome, "label");
        if (rows.Count == 0)
        {
            return svg.ToString();
        }

        var values = rows.SelectMany(r => new[] { r.Lower, r.Upper, r.Observed, r.Predicted }).ToList();
        var (low, high) = (values.Min(), values.Max());
        var pad = Math.Max((high - low) * 0.1, Math.Abs(high) * 0.01 + 1e-9);
        var (minYear, maxYear) = (rows.Min(r => r.Year), rows.Max(r => r.Year));
        var x = new LinearScale(minYear - 0.5, maxYear + 0.5, Left, Width - Right);
        var y = new LinearScale(low - pad, high + pad, Height - Bottom, Top);
        foreach (var tick in y.Ticks())
        {
            svg.Line(Left, y[tick], Width - Right, y[tick], "grid").Text(Left - 6, y[tick] + 4, SvgCanvas.N(tick), "tick", "end");
        }

        foreach (var r in rows.OrderBy(r => r.Year))
        {
            var cx = x[r.Year];
            svg.Text(cx, Height - Bottom + 16, r.Year.ToString(System.Globalization.CultureInfo.InvariantCulture), "tick", "middle");
            svg.Line(cx - 10, y[r.Lower], cx - 10, y[r.Upper], "ci").Line(cx - 15, y[r.Lower], cx - 5, y[r.Lower], "ci").Line(cx - 15, y[r.Upper], cx - 5, y[r.Upper], "ci");
            svg.Rect(cx - 14.5, y[r.Predicted] - 4.5, 9, 9, "estimate");
            svg.Circle(cx + 10, y[r.Observed], 5, r.Observed >= r.Lower && r.Observed <= r.Upper ? "observed inside" : "observed outside");
        }

        return svg.ToString();
    }
}
