using System.Globalization;
using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Node;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Analytics.Composition;

namespace FederatedTwin.Cli.Compliance;

/// <summary>
/// `ftwin compliance report`: one self-contained HTML file (no scripts, no external resources; prints to PDF)
/// a compliance officer hands to an auditor. Everything in it comes from the node's own store and files:
/// the policy in force with its hash, every study decision with its rule, what was sent per study (statistic
/// kinds and sizes, never values), the privacy unit the guarantee is stated in (per person where the policy sets
/// max_sites_per_person, else per hospital record), privacy spent over the node's life against its lifetime budget and per
/// purpose against the yearly budget (with a chart), consent and
/// sensitivity exclusion counts, quarantine summary, the audit chain's verification and the software version.
/// Counts of people or records under the minimum cell size (the policy's, never below 11) are shown as "&lt; 11",
/// with the protocol's complementary suppression over the list and its total (<see cref="ComplementarySuppression"/>
/// on a one-dimensional <see cref="MarginTable"/>): the same rule the composition release uses, so neither a total nor
/// the other rows can give a hidden count away. Zero is a small count like any other (docs/privacy.md).
/// </summary>
internal static class ComplianceReport
{
    public static string Build(string nodeDir, DateOnly from, DateOnly to, TimeProvider? clock = null)
    {
        var generated = (clock ?? TimeProvider.System).GetUtcNow();
        using var node = NodeDirectory.OpenOrInitialize(nodeDir);
        var policyBytes = File.ReadAllBytes(node.PolicyPath);
        var policySha = Convert.ToHexStringLower(SHA256.HashData(policyBytes));
        var policy = node.LoadPolicy();
        // CMS cell size suppression policy: no count from 1 to 10; a site may ask for more (minimum_cell_size), never less here.
        var minimumCellSize = Math.Max(ComplementarySuppression.DefaultMinimumCellSize, policy.MinimumCellSize);
        var (fromText, toText) = (from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), to.AddDays(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        var decisions = node.Store.Read(c => StudyQueries.DecisionsBetween(c, fromText, toText));
        var sent = node.Store.Read(c => ComplianceQueries.Sent(c, fromText, toText));
        var ledger = PrivacyLedgerReport.Read(node.Store, policy, to.Year);
        var lifetime = PrivacyLedgerReport.Lifetime(node.Store, policy);
        var features = new FeatureBuilder(node.Store);
        var sensitive = features.SensitiveExclusions();
        var consent = features.ConsentDenials();
        var quarantine = node.Store.Read(c => ComplianceQueries.QuarantineByReason(c, fromText, toText));
        var runs = node.Store.Read(c => ComplianceQueries.IngestRuns(c, fromText, toText));
        string auditSummary;
        bool auditOk;
        IReadOnlyList<AuditEntry> entries = [];
        try
        {
            var source = AuditSource.Open(AuditService.Node, nodeDir);
            entries = source.Entries;
            var key = source.ServicePublicKey();
            var verification = source.Verify(key);
            auditOk = verification.Ok;
            auditSummary = AuditVerifier.Summary(verification, key);
        }
        catch (AuditSourceException e)
        {
            auditOk = false;
            auditSummary = e.Message;
        }

        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $$"""
            <!DOCTYPE html>
            <html lang="en" xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/><title>Compliance report {{E(nodeDir)}}</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a;max-width:60rem} h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #999}
            table{border-collapse:collapse;margin:.5rem 0} th,td{border:1px solid #888;padding:.25rem .5rem;text-align:left;vertical-align:top} th{background:#eee}
            .ok{color:#0a5a0a;font-weight:bold} .bad{color:#a00000;font-weight:bold} code{font-size:.85em;word-break:break-all} pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}
            @media print { body{margin:0} }
            </style></head><body>
            <h1>FederatedTwin node compliance report</h1>
            <p>Period <strong id="period">{{fromText}} to {{to.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}}</strong> (UTC). Generated {{generated:yyyy-MM-dd HH:mm}} UTC by ftwin <span id="software-version">{{E(SoftwareVersion)}}</span>.
            Node id <code>{{E(node.Store.GetEnrollment()?.NodeId ?? "not enrolled")}}</code>; node public key <code>{{E(node.Identity.PublicKey)}}</code>.
            Counts of patients or records under {{minimumCellSize}} are shown as “&lt; {{minimumCellSize}}”.</p>
            <h2>Audit trail</h2>
            <p id="audit-status" class="{{(auditOk ? "ok" : "bad")}}">{{(auditOk ? "Verified" : "NOT verified")}}</p><pre>{{E(auditSummary)}}</pre>
            <h2>Site policy in force</h2>
            <p>SHA-256 <code id="policy-sha256">{{policySha}}</code></p><pre>{{E(Encoding.UTF8.GetString(policyBytes))}}</pre>
            <h2>Studies joined and refused</h2>
            <table id="decisions"><tr><th>study</th><th>decided (UTC)</th><th>purpose</th><th>algorithm</th><th>decision</th><th>rule</th><th>reason</th></tr>
           """);;
        foreach (var d in decisions)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(d.StudyId)}</td><td>{E(d.DecidedAt)}</td><td>{E(d.PurposeOfUse)}</td><td>{E(d.Algorithm)}</td><td>{(d.Accept == 1 ? "joined" : "refused")}</td><td>{E(d.Rule)}</td><td>{E(d.Reason)}</td></tr>\n");
        }

        html.Append("</table>\n<h2>What left the node</h2>\n<p>Per study: encrypted statistic vectors only (threshold RLWE ciphertexts of fixed-point sums), and decryption shares of the aggregate. Never a row, never a plaintext value. ");
        html.Append("The statistic kinds are the named blocks of each submitted vector, with how many values each holds, as the audit trail recorded them when the ciphertext was sealed.</p>\n");
        html.Append("<table id=\"sent\"><tr><th>study</th><th>rounds</th><th>submissions</th><th>statistics sent (kind: values per submission × submissions)</th><th>values sent (encrypted)</th><th>ciphertext bytes</th><th>decryption shares issued</th></tr>\n");
        var statistics = SubmittedStatistics(entries, fromText, toText);
        foreach (var s in sent)
        {
            var kinds = statistics.GetValueOrDefault(s.StudyId) is { Count: > 0 } k
                ? "<ul>" + string.Concat(k.Select(b => $"<li><code>{E(b.Kind)}</code>: {b.Values} × {b.Submissions}</li>")) + "</ul>"
                : "not recorded";
            var shares = entries.Count(e => e.Action == AuditActions.DecryptionShareIssued && e.StudyId == s.StudyId && InPeriod(e, fromText, toText));
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(s.StudyId)}</td><td>{s.Rounds}</td><td>{s.Submissions}</td><td>{kinds}</td><td>{s.Values}</td><td>{s.Bytes}</td><td>{shares}</td></tr>\n");
        }

        html.Append("</table>\n<h2>Privacy budget</h2>\n<p>zCDP ρ charged when the node accepts a study that declares it, and for each re-run's fresh noise draw; (ε, δ) by Canonne, Kamath &amp; Steinke 2020.</p>\n");
        html.Append(LifetimeSection(lifetime));
        html.Append("<h3>Per purpose</h3>\n<table id=\"privacy\"><tr><th>purpose</th><th>ρ spent ").Append(to.Year).Append("</th><th>ρ budget ").Append(to.Year).Append("</th><th>ρ lifetime</th><th>ε lifetime (δ = 10⁻⁶)</th><th>studies</th></tr>\n");
        foreach (var p in ledger)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(p.Purpose)}</td><td>{p.PeriodSpent:G4}</td><td>{(p.PeriodBudget is { } b ? b.ToString("G4", CultureInfo.InvariantCulture) : "none")}</td><td>{p.LifetimeSpent:G4}</td><td>{p.LifetimeEpsilon:G4}</td><td>{p.Studies}</td></tr>\n");
        }

        html.Append("</table>\n").Append(BudgetChart(ledger));
        html.Append("<h2>Consent and sensitivity exclusions</h2>\n<p>Counts only, never who. Patient-years whose consent state denies a purpose; records left out of features as sensitive (42 CFR Part 2, HIV, psychotherapy, …).</p>\n");
        // Every purpose and every category the site knows gets a row, present in the data or not, so which rows appear tells nothing.
        html.Append(CountTable("consent", "purpose", "patient-years denied", WithRows(consent, FeatureBuilder.Purposes), minimumCellSize));
        html.Append(CountTable("sensitive", "category", "records excluded", WithRows(sensitive, SitePolicy.SensitiveCategories.Concat(policy.CustomSensitiveCodes.Keys)), minimumCellSize));
        html.Append(ReidentificationSection(entries, fromText, toText));
        html.Append("<h2>Ingest and quarantine</h2>\n<table id=\"ingest\"><tr><th>run</th><th>started (UTC)</th><th>lines read</th><th>accepted</th><th>quarantined</th></tr>\n");
        foreach (var r in runs)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{r.RunId}</td><td>{E(r.StartedAt)}</td><td>{r.LinesRead}</td><td>{r.Accepted}</td><td>{r.Quarantined}</td></tr>\n");
        }

        html.Append("</table>\n<p>Quarantined lines keep their position, a keyed hash and a reason code, never their content.</p>\n");
        // Quarantined lines are lines of files, not people: shown exactly.
        html.Append(CountTable("quarantine", "reason", "lines", quarantine.ToDictionary(q => q.ReasonCode, q => q.Count), minimumCellSize: 0));
        html.Append("</body></html>\n");
        return html.ToString();
    }

    /// <summary>
    /// Every re-identification in the period (`ftwin node twin reidentify`): when, the purpose, how many pseudonyms were asked for and
    /// found, the SHA-256 of the owner-only file written, and who ran it; and every refusal with its rule. From the audit trail, which
    /// holds no identifier.
    /// </summary>
    private static string ReidentificationSection(IReadOnlyList<AuditEntry> entries, string fromText, string toText)
    {
        var html = new StringBuilder("<h2>Re-identifications</h2>\n<p>Pseudonyms mapped back to this hospital's own patient ids on the node's host, for the purposes the site policy lists in <code>reidentification_purposes</code> (never research). The mapping was written to an owner-only file; only its digest is kept here.</p>\n");
        html.Append("<table id=\"reidentifications\"><tr><th>time (UTC)</th><th>purpose</th><th>outcome</th><th>worklist</th><th>matched</th><th>output SHA-256</th><th>operator</th><th>rule</th></tr>\n");
        foreach (var e in entries.Where(e => (e.Action == AuditActions.Reidentification || e.Action == AuditActions.ReidentificationRefused) && InPeriod(e, fromText, toText)))
        {
            var d = System.Text.Json.Nodes.JsonNode.Parse(e.Detail) as System.Text.Json.Nodes.JsonObject ?? [];
            var refused = e.Action == AuditActions.ReidentificationRefused;
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(e.At)}</td><td>{E(d["purpose"]?.ToString())}</td><td>{(refused ? "refused" : "done")}</td><td>{E(d["worklist_size"]?.ToString())}</td><td>{E(d["matched"]?.ToString())}</td><td><code>{E(d["output_sha256"]?.ToString())}</code></td><td>{E(d["operator"]?.ToString())}</td><td>{E(d["rule"]?.ToString())}</td></tr>\n");
        }

        return html.Append("</table>\n").ToString();
    }

    private static string SoftwareVersion =>
        typeof(ComplianceReport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>A count table with small counts hidden, and complementary suppression so the total cannot reveal a hidden one.</summary>
    private static string CountTable(string id, string key, string label, IReadOnlyDictionary<string, long> counts, int minimumCellSize)
    {
        var html = new StringBuilder().Append(CultureInfo.InvariantCulture, $"<table id=\"{id}\"><tr><th>{key}</th><th>{label}</th></tr>\n");
        if (counts.Count == 0)
        {
            return html.Append("<tr><th>total</th><th>0</th></tr></table>\n").ToString();
        }

        var (rows, total) = Suppressed(counts, minimumCellSize);
        foreach (var (k, shown) in rows)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(k)}</td><td>{E(shown)}</td></tr>\n");
        }

        return html.Append(CultureInfo.InvariantCulture, $"<tr><th>total</th><th>{E(total)}</th></tr></table>\n").ToString();
    }

    /// <summary>
    /// The counts (by key, in key order) and their total as they may be shown: the protocol's primary and complementary
    /// suppression (<see cref="ComplementarySuppression.Suppress(MarginTable, int)"/>) over the one-dimensional table of the
    /// counts with its total, so a hidden count is never the difference of shown ones. Hidden: "&lt; N".
    /// </summary>
    internal static (IReadOnlyList<(string Key, string Shown)> Rows, string Total) Suppressed(IReadOnlyDictionary<string, long> counts, int minimumCellSize)
    {
        var keys = counts.Keys.Order(StringComparer.Ordinal).ToList();
        var table = new MarginTable([keys.Count], [.. keys.Select(k => counts[k])]);
        var hidden = ComplementarySuppression.Suppress(table, minimumCellSize);
        string Show(int cell) => hidden[cell] ? $"< {minimumCellSize}" : table[cell].ToString(CultureInfo.InvariantCulture);
        return ([.. keys.Select((k, i) => (k, Show(i)))], Show(keys.Count));
    }

    private static Dictionary<string, long> WithRows(IReadOnlyDictionary<string, long> counts, IEnumerable<string> keys)
    {
        var all = keys.ToDictionary(k => k, _ => 0L, StringComparer.Ordinal);
        foreach (var (k, n) in counts)
        {
            all[k] = n;
        }

        return all;
    }

    private static bool InPeriod(AuditEntry e, string fromText, string toText) =>
        string.CompareOrdinal(e.At, fromText) >= 0 && string.CompareOrdinal(e.At, toText) < 0;

    /// <summary>Per study, the statistic blocks of its submissions (kind, values per submission, submissions), from the audit trail's submission entries.</summary>
    internal static Dictionary<string, List<(string Kind, long Values, int Submissions)>> SubmittedStatistics(IReadOnlyList<AuditEntry> entries, string fromText, string toText) =>
        entries.Where(e => e.Action == AuditActions.Submission && e.StudyId is not null && InPeriod(e, fromText, toText))
            .GroupBy(e => e.StudyId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g
                .SelectMany(e => System.Text.Json.Nodes.JsonNode.Parse(e.Detail)?["statistics"] is System.Text.Json.Nodes.JsonArray blocks
                    ? blocks.Select(b => (Kind: (string?)b?["kind"] ?? "?", Values: (long?)b?["values"] ?? 0))
                    : [])
                .GroupBy(b => b)
                .Select(b => (b.Key.Kind, b.Key.Values, b.Count()))
                .ToList(), StringComparer.Ordinal);

    /// <summary>
    /// Which privacy unit applies (the site's own statement of max_sites_per_person, or per hospital record), then the node's spend
    /// over its whole life, every purpose and year, against the lifetime budget, in ρ and as (ε, δ).
    /// </summary>
    private static string LifetimeSection(LifetimeSpend l)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<p id=\"privacy-unit\"><strong>Privacy unit: {E(l.Unit.Name)}.</strong> {E(l.Unit.Statement)} Every figure below is in this unit.</p>\n");
        html.Append("<h3>Lifetime: all purposes, all years</h3>\n<table id=\"lifetime\"><tr><th></th><th>ρ</th><th>ε at δ</th></tr>\n");
        html.Append(CultureInfo.InvariantCulture, $"<tr><td>spent</td><td>{l.Spent:G4}</td><td>{l.Epsilon:G4} at δ = {PrivacyLedgerReport.DeltaText(l.Delta)}</td></tr>\n");
        html.Append(l.Budget is { } b
            ? string.Create(CultureInfo.InvariantCulture, $"<tr><td>lifetime budget</td><td>{b.Rho:G4}</td><td>{b.Epsilon:G4} at δ = {PrivacyLedgerReport.DeltaText(b.Delta)}</td></tr>\n<tr><td>remaining</td><td>{l.Remaining:G4}</td><td></td></tr>\n")
            : "<tr><td>lifetime budget</td><td>none</td><td>none: the node joins no study that adds noise</td></tr>\n");
        html.Append(CultureInfo.InvariantCulture, $"<tr><td>charges</td><td colspan=\"2\">{l.Studies} accepted studies, {l.Redraws} re-run noise draws</td></tr>\n</table>\n");
        return html.ToString();
    }

    /// <summary>Spent vs budget per purpose as an inline SVG bar chart (no scripts, prints as is).</summary>
    private static string BudgetChart(IReadOnlyList<PrivacySpend> ledger)
    {
        if (ledger.Count == 0)
        {
            return "<p>No privacy budget configured or spent.</p>\n";
        }

        const int width = 420, barHeight = 18, gap = 10, left = 90;
        var max = Math.Max(1e-9, ledger.Max(p => Math.Max(p.PeriodSpent, p.PeriodBudget ?? 0)));
        var svg = new StringBuilder().Append(CultureInfo.InvariantCulture, $"<svg id=\"budget-chart\" role=\"img\" aria-label=\"Privacy budget spent against budget per purpose\" width=\"{left + width + 80}\" height=\"{(ledger.Count * (barHeight + gap)) + gap}\" xmlns=\"http://www.w3.org/2000/svg\">\n");
        for (var i = 0; i < ledger.Count; i++)
        {
            var p = ledger[i];
            var y = gap + (i * (barHeight + gap));
            var budget = (p.PeriodBudget ?? 0) / max * width;
            var spent = p.PeriodSpent / max * width;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 13}\" font-size=\"12\">{E(p.Purpose)}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{y}\" width=\"{budget:F1}\" height=\"{barHeight}\" fill=\"#ddd\" stroke=\"#666\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{y + 4}\" width=\"{spent:F1}\" height=\"{barHeight - 8}\" fill=\"{(p.PeriodBudget is { } b && p.PeriodSpent > b ? "#a00000" : "#1f5fa8")}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + Math.Max(budget, spent) + 6:F1}\" y=\"{y + 13}\" font-size=\"12\">{p.PeriodSpent:G3} / {(p.PeriodBudget is { } bb ? bb.ToString("G3", CultureInfo.InvariantCulture) : "none")}</text>\n");
        }

        return svg.Append("</svg>\n").ToString();
    }

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? string.Empty);
}
