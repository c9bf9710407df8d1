namespace FederatedTwin.Coordinator.Dashboard.Charts;

/// <summary>One row of a forest plot: a coefficient and its 95% confidence interval.</summary>
public sealed record ForestRow(string Name, double Estimate, double? Low, double? High);

/// <summary>
/// A forest plot of a model's coefficients (intercept excluded: it sits on another scale) with their 95% confidence
/// intervals and the line of no effect at zero, on the link scale (log-odds, log-rate or the outcome's units).
/// </summary>
public static class ForestPlot
{
    private const double RowHeight = 26;
    private const double LabelWidth = 230;
    private const double PlotWidth = 470;
    private const double Top = 16;
    private const double Bottom = 40;

    public static string Render(IReadOnlyList<ForestRow> rows, string scaleLabel)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var height = Top + (Math.Max(1, rows.Count) * RowHeight) + Bottom;
        var svg = new SvgCanvas(LabelWidth + PlotWidth + 20, height, "Forest plot of the coefficients",
            $"{rows.Count} coefficients with 95% confidence intervals on the {scaleLabel} scale; the vertical line marks no effect.");
        var values = rows.SelectMany(r => new[] { r.Estimate, r.Low ?? r.Estimate, r.High ?? r.Estimate }).Append(0).ToList();
        var (low, high) = (values.Min(), values.Max());
        var pad = Math.Max((high - low) * 0.05, 1e-6);
        var x = new LinearScale(low - pad, high + pad, LabelWidth, LabelWidth + PlotWidth);
        var axisY = height - Bottom + 6;
        foreach (var tick in x.Ticks())
        {
            svg.Line(x[tick], Top - 4, x[tick], axisY, "grid").Text(x[tick], axisY + 16, SvgCanvas.N(tick), "tick", "middle");
        }

        svg.Line(x[0], Top - 6, x[0], axisY, "zero").Text(LabelWidth + (PlotWidth / 2), height - 4, scaleLabel, "axis-label", "middle");
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var y = Top + (i * RowHeight) + (RowHeight / 2);
            svg.Text(LabelWidth - 8, y + 4, r.Name, "label", "end");
            if (r.Low is { } lo && r.High is { } hi)
            {
                svg.Line(x[lo], y, x[hi], y, "ci").Line(x[lo], y - 5, x[lo], y + 5, "ci").Line(x[hi], y - 5, x[hi], y + 5, "ci");
            }

            svg.Rect(x[r.Estimate] - 4.5, y - 4.5, 9, 9, "estimate");
        }

        return svg.ToString();
    }
}
