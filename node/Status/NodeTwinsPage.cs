using System.Globalization;
using System.Net;
using System.Text;
using FederatedTwin.Node.Twins;

namespace FederatedTwin.Node.Status;

/// <summary>One patient of the status page's worklist: by pseudonym only, with the risk it is ranked by.</summary>
internal sealed record WorklistRow(int Rank, string Pseudonym, string AgeBand, string Sex, IReadOnlyList<string> Conditions, double Risk, double RiskLow, double RiskHigh,
    double? ExpectedCost, double? Benefit);

/// <summary>One projected year of the facility twin, with its 95% intervals.</summary>
internal sealed record FacilityRow(int Year, (double Value, double Low, double High) Admissions, (double Value, double Low, double High) InpatientDays,
    (double Value, double Low, double High) Census, (double Value, double Low, double High)? Occupancy, (double Value, double Low, double High) EdVisits,
    (double Value, double Low, double High) Cost);

/// <summary>What the twins page shows: the worklist or why there is none, the facility projection or why there is none, and the models.</summary>
internal sealed record TwinsView(string RankedBy, IReadOnlyList<WorklistRow> Worklist, int Scored, string? WorklistProblem, IReadOnlyList<FacilityRow> Facility,
    int? StaffedBeds, string? FacilityProblem, IReadOnlyList<string> Notes, IReadOnlyList<NodeModelListing> Models);

/// <summary>
/// The node's twins page (GET /status/twins, issue 21), for hospital IT and care managers: the patient twin's worklist (pseudonyms
/// only: names come back only through `ftwin node twin reidentify`, on the hospital's own host, audited) and the facility twin's
/// projection as charts with tables beside them. Server-rendered, no script, every value HTML-encoded, like the status page.
/// </summary>
internal static class NodeTwinsPage
{
    public static string Render(TwinsView v, string antiforgeryField, string antiforgeryToken, string who)
    {
        var body = new StringBuilder();
        body.Append("<h1>Patient and facility twins</h1><p><a href=\"/status\">← Node status</a></p>");
        body.Append("<p class=\"muted\">Computed on this node from the federation's released models on this hospital's own patients; nothing here leaves the node. Patients are shown by pseudonym: re-identification for care management is `ftwin node twin reidentify` on this host, for treatment or operations only, and audited.</p>");

        body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"worklist-h\"><h2 id=\"worklist-h\">Worklist: top {v.Worklist.Count} of {v.Scored:N0} patients by {E(v.RankedBy)}</h2>");
        if (v.WorklistProblem is { } problem)
        {
            body.Append(CultureInfo.InvariantCulture, $"<p id=\"worklist\">{E(problem)}</p>");
        }
        else
        {
            body.Append("<figure>").Append(WorklistChart(v.Worklist, v.RankedBy)).Append("</figure>");
            body.Append("<table id=\"worklist\"><thead><tr><th scope=\"col\" class=\"num\">#</th><th scope=\"col\">Pseudonym</th><th scope=\"col\">Age band</th><th scope=\"col\">Sex</th><th scope=\"col\">Conditions</th><th scope=\"col\" class=\"num\">Risk (95% interval)</th><th scope=\"col\" class=\"num\">Expected cost</th></tr></thead><tbody>");
            foreach (var r in v.Worklist)
            {
                body.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"num\">{r.Rank}</td><td class=\"mono\">{E(r.Pseudonym)}</td><td>{E(r.AgeBand)}</td><td>{E(r.Sex)}</td><td>{E(string.Join(", ", r.Conditions))}</td><td class=\"num\">{r.Risk:P1} ({r.RiskLow:P1}–{r.RiskHigh:P1})</td><td class=\"num\">{(r.ExpectedCost is { } c ? c.ToString("$#,0", CultureInfo.InvariantCulture) : "—")}</td></tr>");
            }

            body.Append("</tbody></table>");
        }

        body.Append("</section>");

        body.Append("<section aria-labelledby=\"facility-h\"><h2 id=\"facility-h\">Facility projection</h2>");
        if (v.FacilityProblem is { } facilityProblem)
        {
            body.Append(CultureInfo.InvariantCulture, $"<p id=\"facility\">{E(facilityProblem)}</p>");
        }
        else
        {
            body.Append("<div class=\"grid\"><figure>").Append(BandChart("admissions-chart", "Admissions per year (95% interval)", v.Facility.Select(f => (f.Year, f.Admissions)).ToList(), null))
                .Append("</figure><figure>").Append(BandChart("census-chart", "Average daily census (95% interval)" + (v.StaffedBeds is { } b ? $" against {b} staffed beds" : string.Empty),
                    v.Facility.Select(f => (f.Year, f.Census)).ToList(), v.StaffedBeds)).Append("</figure></div>");
            body.Append("<table id=\"facility\"><thead><tr><th scope=\"col\">Year</th><th scope=\"col\" class=\"num\">Admissions</th><th scope=\"col\" class=\"num\">Bed-days</th><th scope=\"col\" class=\"num\">Average daily census</th><th scope=\"col\" class=\"num\">Occupancy</th><th scope=\"col\" class=\"num\">ED visits</th><th scope=\"col\" class=\"num\">Cost</th></tr></thead><tbody>");
            foreach (var f in v.Facility)
            {
                body.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\">{f.Year}</th><td class=\"num\">{Cell(f.Admissions, "N0")}</td><td class=\"num\">{Cell(f.InpatientDays, "N0")}</td><td class=\"num\">{Cell(f.Census, "N1")}</td><td class=\"num\">{(f.Occupancy is { } o ? Cell(o, "P0") : "no staffed beds declared")}</td><td class=\"num\">{Cell(f.EdVisits, "N0")}</td><td class=\"num\">{Cell(f.Cost, "$#,0")}</td></tr>");
            }

            body.Append("</tbody></table>");
        }

        foreach (var note in v.Notes)
        {
            body.Append(CultureInfo.InvariantCulture, $"<p class=\"muted\">{E(note)}</p>");
        }

        body.Append("</section>");

        body.Append("<section aria-labelledby=\"models-h\"><h2 id=\"models-h\">Models in this node's registry</h2>");
        body.Append("<table id=\"twin-models\"><thead><tr><th scope=\"col\">Model</th><th scope=\"col\">Version</th><th scope=\"col\">Release</th><th scope=\"col\">Used</th></tr></thead><tbody>");
        foreach (var m in v.Models)
        {
            var state = m.Used ? "used" : m.SupersededBy is { } by ? "superseded by " + by : "not used: " + m.Reason;
            body.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\" class=\"mono\">{E(m.Id)}</th><td class=\"mono\">{E(m.Version[..12])}</td><td>{E(m.Release ?? "—")}</td><td>{E(state)}</td></tr>");
        }

        if (v.Models.Count == 0)
        {
            body.Append("<tr><td colspan=\"4\">No models yet: the node fetches them from the coordinator when a study registers one.</td></tr>");
        }

        body.Append("</tbody></table></section>");
        var signOut = $"<form method=\"post\" action=\"/status/signout\"><input type=\"hidden\" name=\"{E(antiforgeryField)}\" value=\"{E(antiforgeryToken)}\"><button type=\"submit\" class=\"link\">Sign out</button></form>";
        return NodeStatusPage.Layout("Patient and facility twins", body.ToString(), signedIn: true, signOut, E(who));
    }

    private static string Cell((double Value, double Low, double High) x, string format) =>
        $"{x.Value.ToString(format, CultureInfo.InvariantCulture)} <span class=\"muted\">({x.Low.ToString(format, CultureInfo.InvariantCulture)}–{x.High.ToString(format, CultureInfo.InvariantCulture)})</span>";

    /// <summary>The worklist's risks as horizontal bars with their intervals, highest first.</summary>
    private static string WorklistChart(IReadOnlyList<WorklistRow> rows, string rankedBy)
    {
        const double label = 120, width = 380, row = 22, top = 10;
        var max = Math.Max(1e-9, rows.Count == 0 ? 1 : rows.Max(r => r.RiskHigh));
        var height = top + (rows.Count * row) + 30;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {label + width + 70} {height}\" width=\"100%\" role=\"img\" aria-labelledby=\"wl-t\" class=\"chart\" id=\"worklist-chart\"><title id=\"wl-t\">Worklist: {E(rankedBy)} per patient with its 95% interval</title>");
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var y = top + (i * row);
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label - 8}\" y=\"{y + 14}\" text-anchor=\"end\" class=\"mono\">{E(r.Pseudonym[..Math.Min(12, r.Pseudonym.Length)])}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{label}\" y=\"{y + 4}\" width=\"{r.Risk / max * width:0.##}\" height=\"12\" class=\"spent\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{label + (r.RiskLow / max * width):0.##}\" x2=\"{label + (r.RiskHigh / max * width):0.##}\" y1=\"{y + 10}\" y2=\"{y + 10}\" class=\"interval\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label + (r.RiskHigh / max * width) + 6:0.##}\" y=\"{y + 14}\" class=\"value\">{r.Risk:P1}</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label}\" y=\"{height - 8}\" class=\"legend\">bar: {E(rankedBy)} · line: 95% interval from the model's uncertainty</text></svg>");
        return svg.ToString();
    }

    /// <summary>A value per year with its interval (points with whiskers, joined), and an optional reference line (staffed beds).</summary>
    private static string BandChart(string id, string title, IReadOnlyList<(int Year, (double Value, double Low, double High) X)> points, int? reference)
    {
        const double left = 70, width = 460, top = 14, height = 200;
        var max = Math.Max(1e-9, Math.Max(points.Count == 0 ? 1 : points.Max(p => p.X.High), reference ?? 0) * 1.1);
        var n = Math.Max(1, points.Count);
        double X(int i) => left + ((i + 0.5) * width / n);
        double Y(double v) => top + height - (v / max * height);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {left + width + 20} {top + height + 40}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-t\" class=\"chart\" id=\"{id}\"><title id=\"{id}-t\">{E(title)}</title>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{top + height}\" class=\"axis\"/><line x1=\"{left}\" x2=\"{left + width}\" y1=\"{top + height}\" y2=\"{top + height}\" class=\"axis\"/>");
        for (var k = 0; k <= 4; k++)
        {
            var v = max * k / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{Y(v) + 4:0.##}\" text-anchor=\"end\" class=\"legend\">{v.ToString(max < 20 ? "N1" : "N0", CultureInfo.InvariantCulture)}</text>");
        }

        if (reference is { } r)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" x2=\"{left + width}\" y1=\"{Y(r):0.##}\" y2=\"{Y(r):0.##}\" class=\"reference\"/><text x=\"{left + width - 4}\" y=\"{Y(r) - 4:0.##}\" text-anchor=\"end\" class=\"legend\">{r} staffed beds</text>");
        }

        var path = new StringBuilder();
        for (var i = 0; i < points.Count; i++)
        {
            var (year, x) = points[i];
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(i):0.##}\" x2=\"{X(i):0.##}\" y1=\"{Y(x.Low):0.##}\" y2=\"{Y(x.High):0.##}\" class=\"interval\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(i):0.##}\" cy=\"{Y(x.Value):0.##}\" r=\"4\" class=\"point\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(i):0.##}\" y=\"{top + height + 18}\" text-anchor=\"middle\">{year}</text>");
            path.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "M" : " L")}{X(i):0.##},{Y(x.Value):0.##}");
        }

        if (points.Count > 1)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<path d=\"{path}\" class=\"trend\"/>");
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    private static string E(string? value) => WebUtility.HtmlEncode(value ?? string.Empty);
}
