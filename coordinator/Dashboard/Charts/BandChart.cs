namespace FederatedTwin.Coordinator.Dashboard.Charts;

/// <summary>One line of a band chart: its name, its CSS class and, per year, a mean with a 95% interval.</summary>
public sealed record BandSeries(string Name, string CssClass, IReadOnlyList<(int Year, double Mean, double Low, double High)> Points);

/// <summary>Year-by-year lines with their 95% bands (baseline against scenario): the twin's results over the horizon.</summary>
public static class BandChart
{
    private const double Width = 520;
    private const double Height = 260;
    private const double Left = 78;
    private const double Right = 16;
    private const double Top = 30;
    private const double Bottom = 34;

    /// <summary>Renders the chart; <paramref name="domain"/> fixes the value axis, so charts compared side by side share one scale.</summary>
    public static string Render(string title, string unit, IReadOnlyList<BandSeries> series, (double Low, double High)? domain = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        var points = series.SelectMany(s => s.Points).ToList();
        var svg = new SvgCanvas(Width, Height, title, $"{string.Join(" and ", series.Select(s => s.Name))} by year with 95% intervals, in {unit}.");
        if (points.Count == 0)
        {
            return svg.ToString();
        }

        var (minYear, maxYear) = (points.Min(p => p.Year), points.Max(p => p.Year));
        var (low, high) = domain ?? (points.Min(p => p.Low), points.Max(p => p.High));
        var pad = Math.Max((high - low) * 0.08, Math.Abs(high) * 0.01 + 1e-9);
        var x = new LinearScale(minYear, maxYear, Left, Width - Right);
        var y = new LinearScale(low - pad, high + pad, Height - Bottom, Top);
        foreach (var tick in y.Ticks())
        {
            svg.Line(Left, y[tick], Width - Right, y[tick], "grid").Text(Left - 6, y[tick] + 4, Compact(tick), "tick", "end");
        }

        for (var year = minYear; year <= maxYear; year++)
        {
            svg.Text(x[year], Height - Bottom + 16, year.ToString(System.Globalization.CultureInfo.InvariantCulture), "tick", "middle");
        }

        foreach (var s in series)
        {
            var ordered = s.Points.OrderBy(p => p.Year).ToList();
            svg.Polygon(ordered.Select(p => (x[p.Year], y[p.High])).Concat(ordered.AsEnumerable().Reverse().Select(p => (x[p.Year], y[p.Low]))), "band " + s.CssClass);
            svg.Polyline(ordered.Select(p => (x[p.Year], y[p.Mean])), "line " + s.CssClass);
            foreach (var p in ordered)
            {
                svg.Circle(x[p.Year], y[p.Mean], 3, "dot " + s.CssClass);
            }
        }

        var legendX = Left;
        foreach (var s in series)
        {
            svg.Rect(legendX, 8, 14, 10, "band " + s.CssClass).Line(legendX, 13, legendX + 14, 13, "line " + s.CssClass).Text(legendX + 20, 17, s.Name, "label");
            legendX += 30 + (s.Name.Length * 7);
        }

        svg.Text(Width - Right, 17, unit, "axis-label", "end");
        return svg.ToString();
    }

    /// <summary>A tick label short enough for the axis: 12.4M, 350k, 0.25.</summary>
    public static string Compact(double v) => Math.Abs(v) switch
    {
        >= 1e9 => (v / 1e9).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "B",
        >= 1e6 => (v / 1e6).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "M",
        >= 1e4 => (v / 1e3).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + "k",
        _ => v.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture),
    };
}
