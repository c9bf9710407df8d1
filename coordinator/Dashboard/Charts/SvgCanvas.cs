using System.Globalization;
using System.Net;
using System.Text;

namespace FederatedTwin.Coordinator.Dashboard.Charts;

/// <summary>
/// A chart's SVG, written on the server so the browser needs no script and no network (every chart is an
/// <c>&lt;svg role="img"&gt;</c> with a title and description for screen readers; the page shows the same numbers as a table).
/// </summary>
internal sealed class SvgCanvas
{
    private readonly StringBuilder _svg = new();

    public SvgCanvas(double width, double height, string title, string description)
    {
        Width = width;
        Height = height;
        _svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {N(width)} {N(height)}\" width=\"100%\" role=\"img\" aria-labelledby=\"t d\" class=\"chart\">");
        _svg.Append("<title id=\"t\">").Append(WebUtility.HtmlEncode(title)).Append("</title><desc id=\"d\">").Append(WebUtility.HtmlEncode(description)).Append("</desc>");
    }

    public double Width { get; }

    public double Height { get; }

    public static string N(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    public SvgCanvas Line(double x1, double y1, double x2, double y2, string cssClass) =>
        Raw($"<line x1=\"{N(x1)}\" y1=\"{N(y1)}\" x2=\"{N(x2)}\" y2=\"{N(y2)}\" class=\"{cssClass}\"/>");

    public SvgCanvas Rect(double x, double y, double width, double height, string cssClass) =>
        Raw($"<rect x=\"{N(x)}\" y=\"{N(y)}\" width=\"{N(Math.Max(0, width))}\" height=\"{N(Math.Max(0, height))}\" class=\"{cssClass}\"/>");

    public SvgCanvas Circle(double x, double y, double r, string cssClass) =>
        Raw($"<circle cx=\"{N(x)}\" cy=\"{N(y)}\" r=\"{N(r)}\" class=\"{cssClass}\"/>");

    public SvgCanvas Text(double x, double y, string text, string cssClass, string anchor = "start") =>
        Raw($"<text x=\"{N(x)}\" y=\"{N(y)}\" text-anchor=\"{anchor}\" class=\"{cssClass}\">{WebUtility.HtmlEncode(text)}</text>");

    public SvgCanvas Polyline(IEnumerable<(double X, double Y)> points, string cssClass) =>
        Raw($"<polyline points=\"{string.Join(' ', points.Select(p => N(p.X) + "," + N(p.Y)))}\" class=\"{cssClass}\"/>");

    public SvgCanvas Polygon(IEnumerable<(double X, double Y)> points, string cssClass) =>
        Raw($"<polygon points=\"{string.Join(' ', points.Select(p => N(p.X) + "," + N(p.Y)))}\" class=\"{cssClass}\"/>");

    public override string ToString() => _svg + "</svg>";

    private SvgCanvas Raw(string element)
    {
        _svg.Append(element);
        return this;
    }
}

/// <summary>A linear map from data values to pixels.</summary>
internal readonly record struct LinearScale(double DomainLow, double DomainHigh, double RangeLow, double RangeHigh)
{
    public double this[double value] => DomainHigh == DomainLow
        ? (RangeLow + RangeHigh) / 2
        : RangeLow + ((value - DomainLow) / (DomainHigh - DomainLow) * (RangeHigh - RangeLow));

    /// <summary>About five round tick values across the domain (1, 2 or 5 times a power of ten apart).</summary>
    public IEnumerable<double> Ticks()
    {
        var span = DomainHigh - DomainLow;
        if (span <= 0 || double.IsNaN(span) || double.IsInfinity(span))
        {
            yield return DomainLow;
            yield break;
        }

        var raw = span / 5;
        var power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = raw / power < 1.5 ? power : raw / power < 3.5 ? 2 * power : raw / power < 7.5 ? 5 * power : 10 * power;
        for (var v = Math.Ceiling(DomainLow / step) * step; v <= DomainHigh + (step * 1e-9); v += step)
        {
            yield return Math.Abs(v) < step * 1e-9 ? 0 : v;
        }
    }
}
