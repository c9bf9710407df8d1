using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Node.Policy;

namespace FederatedTwin.Node.Status;

/// <summary>
/// The node's status page as HTML, rendered on the server with no script (it is one read-only page on loopback, so
/// it needs no page framework). Every value is HTML-encoded; the privacy chart is inline SVG with a table beside it.
/// </summary>
internal static class NodeStatusPage
{
    public static string SignIn(string antiforgeryField, string antiforgeryToken, string? error) => Layout("Node status: sign in", $"""
        <div class="signin">
          <h1>Node status</h1>
          <p>This page is behind the node's admin token (shown once when it was made; <code>ftwin node admin-token</code> makes a new one).</p>
          {(error is null ? string.Empty : $"<div class=\"error\" role=\"alert\" id=\"token-error\">{E(error)}</div>")}
          <form method="post" action="/status/session" class="panel">
            <input type="hidden" name="{E(antiforgeryField)}" value="{E(antiforgeryToken)}">
            <label for="token">Admin token</label>
            <input type="password" id="token" name="token" autocomplete="off" required autofocus>
            <p><button type="submit" id="open-status">Open the status page</button></p>
          </form>
        </div>
        """, signedIn: false, string.Empty, string.Empty);

    public static string Render(NodeStatusReport r, string antiforgeryField, string antiforgeryToken)
    {
        var body = new StringBuilder();
        body.Append("<h1>Node status</h1><p><a href=\"/status/twins\" id=\"twins-link\">Patient and facility twins →</a> (the worklist and the facility projection, from the federation's models on this hospital's patients)</p>");
        body.Append("<div class=\"grid\">");

        var enrollment = r.Enrollment;
        var healthy = r.PolicyValid && r.LastError is null && r.Audit.Ok && enrollment?.Refused != true;
        body.Append(CultureInfo.InvariantCulture, $"""
            <section class="panel" aria-labelledby="health-h"><h2 id="health-h">Health</h2><dl>
            <dt>Overall</dt><dd>{Badge(healthy ? "healthy" : "needs attention", healthy)}</dd>
            <dt>Site policy</dt><dd>{(r.PolicyValid ? Badge("valid", true) : Badge("invalid", false) + " " + E(r.PolicyError))}</dd>
            <dt>Last contact with the coordinator</dt><dd id="last-contact">{(r.LastContact is { } c ? E(Ago(r.At - c)) : "not yet")}</dd>
            <dt>Last error</dt><dd>{E(r.LastError ?? "none")}</dd>
            </dl></section>
            <section class="panel" aria-labelledby="enroll-h"><h2 id="enroll-h">Enrollment</h2><dl>
            <dt>State</dt><dd id="enrollment">{(r.NodeId is null ? Badge("not enrolled", false) : enrollment?.Refusal is { } refused ? Badge(enrollment.Describe(), false) + $" <span id=\"enrollment-refused\">since {E(refused.At)}: {E(refused.Reason)}</span>" : Badge("enrolled", true))}</dd>
            <dt>Node id</dt><dd class="mono">{E(r.NodeId ?? "—")}</dd>
            <dt>Coordinator</dt><dd class="mono">{E(r.CoordinatorUrl ?? "—")}</dd>
            <dt>Pinned coordinator key</dt><dd class="mono wrap">{E(r.PinnedCoordinatorKey ?? "—")}</dd>
            <dt>This node's key</dt><dd class="mono wrap" id="node-key">{E(r.PublicKey)}</dd>
            {KeyRows(enrollment)}
            </dl></section>
            <section class="panel" aria-labelledby="roster-h"><h2 id="roster-h">Federation roster</h2>
            {(r.Roster is not { } roster
                ? "<p id=\"roster\">" + Badge("no roster pinned", false) + " This node takes part in no study until its compliance officer pins the federation's roster (<code>ftwin node roster pin</code>).</p>"
                : $"<dl id=\"roster\"><dt>Federation</dt><dd>{E(roster.Roster.Federation)}, version {roster.Version}</dd><dt>Approved by</dt><dd class=\"mono wrap\">{E(roster.ApprovedBy)}</dd><dt>Pinned</dt><dd>{E(roster.PinnedAt)}</dd><dt>Members</dt><dd><ul>{string.Concat(roster.Roster.Members.Select(m => $"<li>{E(m.Name)} <span class=\"mono\">{E(m.NodeKey[..12])}…</span>{(m.NodeKey == r.PublicKey ? " (this node)" : string.Empty)}</li>"))}</ul></dd></dl>")}
            </section>
            """);
        body.Append("</div><div class=\"grid\">");

        var ingest = r.LastIngest;
        body.Append("<section class=\"panel\" aria-labelledby=\"ingest-h\"><h2 id=\"ingest-h\">Last ingest</h2>");
        body.Append(ingest is null
            ? "<p>No FHIR export ingested yet.</p>"
            : string.Create(CultureInfo.InvariantCulture, $"""
                <dl id="ingest"><dt>Run</dt><dd>#{ingest.RunId}, {E(ingest.StartedAt)}{(ingest.FinishedAt is null ? " (running or interrupted)" : string.Empty)}</dd>
                <dt>Lines read</dt><dd>{N(ingest.LinesRead)}</dd><dt>Accepted</dt><dd>{N(ingest.Accepted)}</dd>
                <dt>Unchanged</dt><dd>{N(ingest.Unchanged)}</dd><dt>Quarantined</dt><dd>{N(ingest.Quarantined)} (all runs: {N(r.QuarantinedLines)})</dd></dl>
                """));
        body.Append("</section>");
        body.Append("<section class=\"panel\" aria-labelledby=\"excl-h\"><h2 id=\"excl-h\">Exclusions (last ingest)</h2>");
        body.Append(CountsTable("sensitive-excluded", "Sensitive records excluded, by category", r.SensitiveExcluded));
        body.Append(CountsTable("consent-denied", "Patient-years excluded by consent, by purpose", r.ConsentDenied));
        body.Append("</section></div>");

        body.Append(SourcesTable(r));

        body.Append("<section aria-labelledby=\"privacy-h\"><h2 id=\"privacy-h\">Privacy budget (zCDP ρ)</h2>");
        if (r.Lifetime is { } lifetime)
        {
            body.Append(CultureInfo.InvariantCulture, $"<p id=\"privacy-unit\"><strong>Privacy unit: {E(lifetime.Unit.Name)}.</strong> {E(lifetime.Unit.Statement)}</p>");
            body.Append(LifetimePanel(lifetime));
        }

        body.Append("<h3>This year, per purpose</h3>");
        if (r.Privacy.Count == 0)
        {
            body.Append("<p>No purpose has a budget or a spend yet.</p>");
        }
        else
        {
            body.Append("<div class=\"grid\"><figure>").Append(BudgetChart(r.Privacy)).Append("</figure>");
            body.Append("<table id=\"privacy\"><thead><tr><th scope=\"col\">Purpose</th><th scope=\"col\" class=\"num\">Spent</th><th scope=\"col\" class=\"num\">Allowed</th><th scope=\"col\" class=\"num\">Studies</th><th scope=\"col\" class=\"num\">Lifetime ε (δ = 10⁻⁶)</th></tr></thead><tbody>");
            foreach (var p in r.Privacy)
            {
                body.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\">{E(p.Purpose)}</th><td class=\"num\">{p.PeriodSpent:0.####}</td><td class=\"num\">{(p.PeriodBudget is { } b ? b.ToString("0.####", CultureInfo.InvariantCulture) : "no budget (refused)")}</td><td class=\"num\">{p.Studies}</td><td class=\"num\">{p.LifetimeEpsilon:0.###}</td></tr>");
            }

            body.Append("</tbody></table></div>");
        }

        body.Append("</section>");

        var joined = r.Decisions.Count(d => d.Accept);
        body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"studies-h\"><h2 id=\"studies-h\">Studies: {joined} joined, {r.Decisions.Count - joined} refused</h2>");
        body.Append("<table id=\"decisions\"><thead><tr><th scope=\"col\">Study</th><th scope=\"col\">Decision</th><th scope=\"col\">Rule</th><th scope=\"col\">Reason</th><th scope=\"col\">Purpose</th><th scope=\"col\">Algorithm</th><th scope=\"col\">Decided</th></tr></thead><tbody>");
        foreach (var d in r.Decisions)
        {
            body.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\" class=\"mono\">{E(d.StudyId)}</th><td>{Badge(d.Accept ? "joined" : "refused", d.Accept)}</td><td class=\"mono\">{E(d.Rule)}</td><td>{E(d.Reason)}</td><td>{E(d.Purpose)}</td><td>{E(d.Algorithm)}</td><td>{E(d.DecidedAt)}</td></tr>");
        }

        if (r.Decisions.Count == 0)
        {
            body.Append("<tr><td colspan=\"7\">No study offered yet.</td></tr>");
        }

        body.Append("</tbody></table></section>");

        var a = r.Audit;
        body.Append(CultureInfo.InvariantCulture, $"""
            <section class="panel" aria-labelledby="audit-h"><h2 id="audit-h">Audit chain</h2><dl id="audit">
            <dt>Verification</dt><dd>{(a.Ok ? Badge("intact", true) : Badge("BROKEN", false) + " " + E(a.FirstProblem?.Message))}</dd>
            <dt>Entries</dt><dd>{N(a.Entries)} (last seq {a.LastSeq})</dd>
            <dt>Signed checkpoints</dt><dd>{a.CheckpointsVerified} of {a.Checkpoints} verified; {a.UnsignedTail} entries after the last one</dd>
            <dt>Head</dt><dd class="mono wrap">{E(a.HeadHash)}</dd></dl>
            <p class="muted">Verify a copy independently with <code>ftwin audit verify --node-dir …</code>.</p></section>
            """);
        var signOut = $"<form method=\"post\" action=\"/status/signout\"><input type=\"hidden\" name=\"{E(antiforgeryField)}\" value=\"{E(antiforgeryToken)}\"><button type=\"submit\" class=\"link\">Sign out</button></form>";
        return Layout("Node status", body.ToString(), signedIn: true, signOut, E(r.NodeId ?? "unenrolled node"));
    }

    /// <summary>The data sources of node-config.json (issue 22): where each pulls from, its last pull, watermark and next run.</summary>
    private static string SourcesTable(NodeStatusReport r)
    {
        var html = new StringBuilder("<section aria-labelledby=\"sources-h\"><h2 id=\"sources-h\">Data sources</h2>");
        if (r.SourcesError is { } error)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p id=\"sources-error\">{Badge("configuration invalid", false)} {E(error)}</p>");
        }

        var sources = r.Sources ?? [];
        if (sources.Count == 0)
        {
            return html.Append("<p id=\"sources\">No data source configured (<code>ftwin node source add</code>).</p></section>").ToString();
        }

        html.Append("<table id=\"sources\"><thead><tr><th scope=\"col\">Source</th><th scope=\"col\">Kind</th><th scope=\"col\">From</th><th scope=\"col\">Every</th><th scope=\"col\">Last pull</th><th scope=\"col\">Outcome</th><th scope=\"col\">Counts</th><th scope=\"col\">Watermark</th><th scope=\"col\">Next run</th></tr></thead><tbody>");
        foreach (var s in sources)
        {
            var outcome = s.LastStatus is null ? "never pulled" : s.LastStatus;
            var counts = string.Join(", ", s.LastCounts.Select(p => p.Value is long n ? $"{E(p.Key.Replace('_', ' '))} {N(n)}" : $"{E(p.Key)}: {E(Convert.ToString(p.Value, CultureInfo.InvariantCulture))}"));
            var next = s.NextRun is not { } at ? "by hand only" : at <= r.At ? "due now" : at.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
            html.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\" class=\"mono\">{E(s.Name)}</th><td>{E(s.Kind)}</td><td class=\"mono wrap\">{E(s.Where)}</td><td>{E(s.Every ?? "—")}</td><td>{E(s.LastPullAt ?? "—")}</td><td>{(s.LastStatus is null ? E(outcome) : Badge(outcome, s.LastStatus == "succeeded"))}</td><td>{(counts.Length == 0 ? "—" : counts)}</td><td class=\"mono\">{E(s.Watermark ?? "—")}</td><td>{E(next)}</td></tr>");
        }

        return html.Append("</tbody></table></section>").ToString();
    }

    /// <summary>The node's spend over its life, all purposes and years, against the policy's lifetime budget, with (ε, δ).</summary>
    private static string LifetimePanel(LifetimeSpend l)
    {
        var within = l.Budget is { } b && l.Spent <= b.Rho * (1 + 1e-9);
        var budget = l.Budget is { } bb
            ? string.Create(CultureInfo.InvariantCulture, $"{bb.Rho:0.####} (ε {bb.Epsilon:0.##} at δ = {PrivacyLedgerReport.DeltaText(bb.Delta)}); {l.Remaining:0.####} left")
            : "none set: this node joins no study that adds noise";
        return string.Create(CultureInfo.InvariantCulture, $"""
            <div class="panel" id="lifetime"><h3>Lifetime: all purposes, all years</h3><dl>
            <dt>Spent</dt><dd id="lifetime-spent">{l.Spent:0.####} (ε {l.Epsilon:0.##} at δ = {PrivacyLedgerReport.DeltaText(l.Delta)}) {Badge(l.Budget is null ? "no lifetime budget" : within ? "within budget" : "over budget", within)}</dd>
            <dt>Lifetime budget</dt><dd id="lifetime-budget">{E(budget)}</dd>
            <dt>Charges</dt><dd>{l.Studies} stud{(l.Studies == 1 ? "y" : "ies")} accepted, {l.Redraws} re-run draw{(l.Redraws == 1 ? string.Empty : "s")}</dd>
            </dl></div>
            """);
    }

    /// <summary>Retired keys and a pending rotation, when there are any.</summary>
    private static string KeyRows(EnrollmentState? state)
    {
        if (state is null)
        {
            return string.Empty;
        }

        var rows = new StringBuilder();
        if (state.KeyRotationPending)
        {
            rows.Append("<dt>Key rotation</dt><dd id=\"key-rotation\">").Append(Badge("pending", false)).Append(" run <code>ftwin node key rotate</code> again to finish it</dd>");
        }

        if (state.RetiredKeys.Count > 0)
        {
            rows.Append(CultureInfo.InvariantCulture, $"<dt>Retired keys</dt><dd id=\"retired-keys\" class=\"mono wrap\">{string.Join("<br>", state.RetiredKeys.Select(k => $"{E(k.PublicKey)} (until {E(k.RetiredAt)})"))}</dd>");
        }

        return rows.ToString();
    }

    /// <summary>Spent against allowed ρ per purpose: a light bar for the budget, a dark one for the spend (red past the budget).</summary>
    internal static string BudgetChart(IReadOnlyList<PrivacySpend> spends)
    {
        const double label = 110, width = 360, row = 34, top = 10;
        var max = Math.Max(1e-9, spends.Max(p => Math.Max(p.PeriodSpent, p.PeriodBudget ?? 0)));
        var height = top + (spends.Count * row) + 28;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {label + width + 90} {height}\" width=\"100%\" role=\"img\" aria-labelledby=\"pc-t\" class=\"chart\"><title id=\"pc-t\">Privacy budget spent against allowed, per purpose, this year</title>");
        for (var i = 0; i < spends.Count; i++)
        {
            var p = spends[i];
            var y = top + (i * row);
            var allowed = (p.PeriodBudget ?? 0) / max * width;
            var spent = p.PeriodSpent / max * width;
            var over = p.PeriodBudget is not { } b || p.PeriodSpent > b;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label - 8}\" y=\"{y + 17}\" text-anchor=\"end\">{E(p.Purpose)}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{label}\" y=\"{y + 2}\" width=\"{allowed:0.##}\" height=\"22\" class=\"allowed\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{label}\" y=\"{y + 7}\" width=\"{spent:0.##}\" height=\"12\" class=\"{(over && p.PeriodSpent > 0 ? "over" : "spent")}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label + Math.Max(allowed, spent) + 6:0.##}\" y=\"{y + 17}\" class=\"value\">{p.PeriodSpent:0.###} of {(p.PeriodBudget is { } bb ? bb.ToString("0.###", CultureInfo.InvariantCulture) : "—")}</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{label}\" y=\"{height - 8}\" class=\"legend\">light: allowed ρ · dark: spent ρ</text></svg>");
        return svg.ToString();
    }

    private static string CountsTable(string id, string caption, JsonObject? counts)
    {
        if (counts is null || counts.Count == 0)
        {
            return $"<p id=\"{id}\">{E(caption)}: none.</p>";
        }

        var table = new StringBuilder($"<table id=\"{id}\"><caption>{E(caption)}</caption><tbody>");
        foreach (var (key, value) in counts)
        {
            table.Append(CultureInfo.InvariantCulture, $"<tr><th scope=\"row\">{E(key)}</th><td class=\"num\">{N(value?.GetValue<long>() ?? 0)}</td></tr>");
        }

        return table.Append("</tbody></table>").ToString();
    }

    internal static string Layout(string title, string body, bool signedIn, string signOut, string who) => $"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{E(title)} · FederatedTwin node</title><link rel="stylesheet" href="/status.css"></head>
        <body><a class="skip" href="#content">Skip to content</a>
        <header class="top"><span class="brand">FederatedTwin node</span>{(signedIn ? $"<span class=\"who\">{who}</span>{signOut}" : string.Empty)}</header>
        <main id="content" tabindex="-1">{body}</main></body></html>
        """;

    private static string Badge(string text, bool good) => $"<span class=\"badge {(good ? "ok" : "bad")}\">{E(text)}</span>";

    private static string Ago(TimeSpan span) => span.TotalSeconds < 90 ? $"{(int)span.TotalSeconds} s ago" : span.TotalMinutes < 90 ? $"{(int)span.TotalMinutes} min ago" : $"{(int)span.TotalHours} h ago";

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string E(string? value) => WebUtility.HtmlEncode(value ?? string.Empty);

    public const string Stylesheet = """
        :root { --ink:#1b1f24; --muted:#4a5560; --line:#c9d1d9; --panel:#f4f6f8; --ok:#146c2e; --bad:#a4161a; --accent:#0b5cad; --focus:#ffbf47; }
        html { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 15px; color: var(--ink); background: #fff; }
        body { margin: 0; line-height: 1.45; }
        a:focus, button:focus, input:focus { outline: 3px solid var(--focus); outline-offset: 2px; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: .5rem; background: var(--ink); color: #fff; padding: .5rem; }
        header.top { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.5rem; background: #233142; color: #fff; }
        header.top .brand { font-weight: 700; } header.top .who { margin-left: auto; font-family: ui-monospace, monospace; } header.top form { margin: 0; }
        main { padding: 1rem 1.5rem 3rem; max-width: 1280px; }
        h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin: .2rem 0 .6rem; } h3 { font-size: 1rem; margin: .8rem 0 .4rem; } section { margin-bottom: 1.2rem; }
        .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem 2rem; }
        .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.25rem; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; } dt { color: var(--muted); } dd { margin: 0; }
        table { border-collapse: collapse; width: 100%; font-size: .93rem; margin-bottom: .8rem; } caption { text-align: left; font-weight: 600; margin: .3rem 0; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); } thead th { background: var(--panel); }
        .num { text-align: right; font-variant-numeric: tabular-nums; } .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .88rem; } .wrap { word-break: break-all; }
        .badge { border: 1px solid currentColor; border-radius: 3px; padding: 0 .4rem; font-weight: 600; font-size: .85rem; } .ok { color: var(--ok); } .bad { color: var(--bad); }
        .muted { color: var(--muted); } .error { border: 2px solid var(--bad); color: var(--bad); padding: .6rem 1rem; border-radius: 6px; }
        .signin { max-width: 28rem; margin: 3rem auto; } label { display: block; font-weight: 600; margin: .5rem 0 .25rem; }
        input[type=password] { font: inherit; width: 100%; padding: .4rem; border: 1px solid #6b7885; border-radius: 4px; }
        button { font: inherit; background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: .45rem 1rem; cursor: pointer; }
        button.link { background: none; text-decoration: underline; padding: 0; }
        svg.chart { max-width: 640px; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
        svg.chart text { font-size: 12px; fill: var(--ink); } svg.chart .legend { fill: var(--muted); font-size: 11px; }
        svg.chart .allowed { fill: #d9e2ec; } svg.chart .spent { fill: var(--accent); } svg.chart .over { fill: var(--bad); }
        svg.chart .interval { stroke: var(--ink); stroke-width: 1.5; } svg.chart .axis { stroke: var(--muted); } svg.chart .point { fill: var(--accent); }
        svg.chart .trend { fill: none; stroke: var(--accent); stroke-width: 1.5; } svg.chart .reference { stroke: var(--bad); stroke-dasharray: 6 4; }
        """;
}
