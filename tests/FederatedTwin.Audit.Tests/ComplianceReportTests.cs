using FederatedTwin.Analytics.Census;
using System.Xml.Linq;
using Dapper;
using FederatedTwin.Cli.Compliance;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Node.Audit;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Composition;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Audit.Tests;

/// <summary>
/// The compliance report's small counts follow the protocol's one suppression rule (a one-dimensional margin table),
/// its "what left the node" lists the statistic kinds and sizes each study's submissions carried, and its privacy section
/// says whom the guarantee protects and what the node spent over its life against its lifetime budget.
/// </summary>
public sealed class ComplianceReportTests
{
    private static readonly XNamespace X = "http://www.w3.org/1999/xhtml";

    [Theory]
    [InlineData(new long[] { 5, 100, 200 }, new[] { "< 11", "< 11", "200" }, "305")]   // the smallest other count hides with the small one
    [InlineData(new long[] { 0, 50, 60 }, new[] { "< 11", "< 11", "60" }, "110")]      // zero is a small count too
    [InlineData(new long[] { 3, 4 }, new[] { "< 11", "< 11" }, "< 11")]                // a small total is hidden as well
    [InlineData(new long[] { 12, 40, 90 }, new[] { "12", "40", "90" }, "142")]          // nothing small, nothing hidden
    [InlineData(new long[] { 7 }, new[] { "< 11" }, "< 11")]
    public void Small_counts_are_hidden_with_a_complement_so_the_total_cannot_reveal_them(long[] counts, string[] rows, string total)
    {
        var keys = counts.Select((_, i) => ((char)('a' + i)).ToString()).ToList();
        var (shown, shownTotal) = ComplianceReport.Suppressed(keys.Zip(counts).ToDictionary(k => k.First, k => k.Second), 11);
        Assert.Equal(rows, shown.Select(r => r.Shown));
        Assert.Equal(total, shownTotal);
    }

    [Fact]
    public void Every_pattern_it_shows_passes_the_protocols_suppression_verifier()
    {
        var random = new Random(8);
        for (var trial = 0; trial < 300; trial++)
        {
            var counts = Enumerable.Range(0, random.Next(1, 7)).Select(_ => (long)(random.Next(3) == 0 ? random.Next(0, 11) : random.Next(0, 200))).ToArray();
            var (rows, total) = ComplianceReport.Suppressed(counts.Select((n, i) => (i.ToString("D2", System.Globalization.CultureInfo.InvariantCulture), n)).ToDictionary(x => x.Item1, x => x.n), 11);
            var hidden = rows.Select(r => r.Shown == "< 11").Append(total == "< 11").ToList();
            var audit = SuppressionVerifier.Verify(new MarginTable([counts.Length], counts), hidden, 11);
            Assert.True(audit.Passed, $"counts {string.Join(",", counts)} shown as {string.Join(",", rows.Select(r => r.Shown))} / {total}");
            Assert.All(rows.Zip(counts), r => Assert.True(r.First.Shown == "< 11" || r.Second >= 11));
        }
    }

    [Fact]
    public void What_left_the_node_lists_each_studys_statistic_kinds_and_sizes_from_its_submissions()
    {
        var dir = AuditTestSupport.TempDir("report-sent");
        var clock = AuditTestSupport.Clock();
        using (var node = NodeDirectory.OpenOrInitialize(dir, time: clock))
        {
            var glm = new StudySpec(new StudyId("glm-admission"), "federated-glm", new PurposeOfUse("HOPERAT"), 3, 5, 3, 30);
            var census = new StudySpec(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30);
            FixedPointBlock[] irls = [new("count", 2, 1), new(GlmLayoutNames.Xtwx, 15, 1024), new(GlmLayoutNames.Xtwz, 5, 1024), new(GlmLayoutNames.Deviance, 1, 1024)];
            Submit(node, new WorkItem(WorkKind.CommitUpdate, glm, 1, 1), irls, clock);
            Submit(node, new WorkItem(WorkKind.CommitUpdate, glm, 2, 1), irls, clock);
            Submit(node, new WorkItem(WorkKind.CommitUpdate, census, 1, 1), [new(LocalVectors.PatientsByAgeBandAndSex, 40, 1)], clock);
        }

        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var document = Report(dir, today, today, clock);
        var sent = document.Descendants(X + "table").Single(t => (string?)t.Attribute("id") == "sent").Elements(X + "tr").Skip(1)
            .ToDictionary(r => r.Elements().First().Value, r => r.Elements().Select(c => c.Value).ToList());
        Assert.Equal(["glm-admission", "2", "2"], sent["glm-admission"].Take(3));
        var kinds = document.Descendants(X + "table").Single(t => (string?)t.Attribute("id") == "sent").Descendants(X + "li").Select(l => l.Value).ToList();
        Assert.Contains("xtwx: 15 × 2", kinds);
        Assert.Contains("xtwz: 5 × 2", kinds);
        Assert.Contains("deviance: 1 × 2", kinds);
        Assert.Contains($"{LocalVectors.PatientsByAgeBandAndSex}: 40 × 1", kinds);
        Assert.Equal("46", sent["glm-admission"][4]); // values: 23 per submission, two submissions
        Assert.Equal("1", sent["census"][2]);

        // Every sensitive category and purpose has a row, data or not; with no data, each is "< 11".
        var sensitive = document.Descendants(X + "table").Single(t => (string?)t.Attribute("id") == "sensitive").Elements(X + "tr").Skip(1).Select(r => r.Elements().Select(c => c.Value).ToList()).ToList();
        Assert.Contains(sensitive, r => r[0] == "sud" && r[1] == "< 11");
        Assert.Contains(sensitive, r => r[0] == "total" && r[1] == "< 11");
    }

    [Theory]
    [InlineData(null, "hospital record", "Per hospital record: the site policy sets no max_sites_per_person", "0.1")]
    [InlineData(3, "person", "Per person: the site policy states that a person is treated at no more than 3 hospitals of the federation", "0.9")]
    public void The_privacy_section_says_which_unit_applies_and_shows_the_lifetime_spend_against_the_lifetime_budget(int? maxSitesPerPerson, string unit, string statement, string spent)
    {
        // Three hospitals with their officers and pinned roster, as a federation sets them up; the first one's policy and a DP study.
        var root = AuditTestSupport.TempDir("report-privacy");
        var sites = new[] { "site-a", "site-b", "site-c" }.Select(n => (Name: n, Dir: Path.Combine(root, n))).ToList();
        foreach (var (_, siteDir) in sites)
        {
            NodeDirectory.OpenOrInitialize(siteDir).Dispose();
        }

        FederatedTwin.Cli.Demo.DemoRoster.Establish(root, sites);
        var dir = sites[0].Dir;
        var policy = LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT", privacyBudget: 1.0, lifetimeBudget: 2.0, maxSitesPerPerson: maxSitesPerPerson);
        File.WriteAllText(Path.Combine(dir, "policy.yaml"), policy);
        using (var officer = Ed25519Identity.Import(Convert.FromBase64String(File.ReadAllText(Path.Combine(FederatedTwin.Cli.Demo.DemoRoster.OfficersDir(root), "site-a.key")).Trim())))
        {
            File.WriteAllText(Path.Combine(dir, "policy.yaml.sig"), FederatedTwin.Node.Policy.PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(policy), officer).ToJson());
        }

        var clock = AuditTestSupport.Clock();
        using (var node = NodeDirectory.OpenOrInitialize(dir, time: clock))
        {
            var study = new StudySpec(new StudyId("glm-dp"), "federated-glm", new PurposeOfUse("HOPERAT"), 3, 3, 1, 30) { Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["family"] = "binomial", ["outcome"] = "admission_next_year", ["features"] = "age,sex_male", ["dp_rho"] = "0.1" } };
            var decision = new FederatedTwin.Node.Federation.StudyDecisions(node, clock: clock).Decide(study);
            Assert.True(decision.Accept, decision.Reason);
        }

        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var document = Report(dir, today, today, clock);
        var said = document.Descendants(X + "p").Single(p => (string?)p.Attribute("id") == "privacy-unit").Value;
        Assert.StartsWith($"Privacy unit: {unit}. {statement}", said, StringComparison.Ordinal);
        Assert.EndsWith("Every figure below is in this unit.", said, StringComparison.Ordinal);

        var lifetime = document.Descendants(X + "table").Single(t => (string?)t.Attribute("id") == "lifetime").Elements(X + "tr").Skip(1)
            .ToDictionary(r => r.Elements().First().Value, r => r.Elements().Skip(1).Select(c => c.Value).ToList());
        Assert.Equal(spent, lifetime["spent"][0]);
        Assert.StartsWith(FormattableString.Invariant($"{FederatedTwin.Analytics.Privacy.ZcdpAccountant.EpsilonCanonneKamathSteinke(new(double.Parse(spent, System.Globalization.CultureInfo.InvariantCulture)), 1e-6):G4} at δ = 10⁻⁶"), lifetime["spent"][1], StringComparison.Ordinal);
        Assert.Equal(["2", FormattableString.Invariant($"{FederatedTwin.Analytics.Privacy.ZcdpAccountant.EpsilonCanonneKamathSteinke(new(2), 1e-6):G4} at δ = 10⁻⁶")], lifetime["lifetime budget"]);
        Assert.Equal(FormattableString.Invariant($"{2 - double.Parse(spent, System.Globalization.CultureInfo.InvariantCulture):G4}"), lifetime["remaining"][0]);
        Assert.Equal("1 accepted studies, 0 re-run noise draws", lifetime["charges"][0]);

        // The per-purpose table is in the same unit: this year's HOPERAT spend is the study's charge.
        var hoperat = document.Descendants(X + "table").Single(t => (string?)t.Attribute("id") == "privacy").Elements(X + "tr").Single(r => r.Elements().First().Value == "HOPERAT");
        Assert.Equal(spent, hoperat.Elements().ElementAt(1).Value);
    }

    [Theory]
    [InlineData(0, true)] // the report's last day to its last tick (UTC)
    [InlineData(1, false)] // the next day's first tick
    public void A_reports_period_is_whole_utc_days_from_its_first_to_its_last(long ticksAfterMidnight, bool listed)
    {
        var dir = AuditTestSupport.TempDir("report-period");
        var clock = AuditTestSupport.Clock();
        var day = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        using (var node = NodeDirectory.OpenOrInitialize(dir, time: clock))
        {
            clock.SetUtcNow(new DateTimeOffset(day.AddDays(1), TimeOnly.MinValue, TimeSpan.Zero).AddTicks(ticksAfterMidnight - 1));
            Submit(node, new WorkItem(WorkKind.CommitUpdate, new StudySpec(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30), 1, 1), [new(LocalVectors.PatientsByAgeBandAndSex, 40, 1)], clock);
        }

        var sent = Report(dir, day, day, clock).Descendants(X + "table").Single(t => (string?)t.Attribute("id") == "sent").Elements(X + "tr").Skip(1).Select(r => r.Elements().First().Value);
        Assert.Equal(listed, sent.Contains("census"));
    }

    private static XDocument Report(string dir, DateOnly from, DateOnly to, TimeProvider clock) =>
        XDocument.Load(System.Xml.XmlReader.Create(new StringReader(ComplianceReport.Build(dir, from, to, clock)), new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Ignore }));

    /// <summary>A submission as RoundParticipant stores it (ciphertext, digest, time) with its audit entry, at the clock's time.</summary>
    private static void Submit(NodeDirectory node, WorkItem work, FixedPointBlock[] blocks, FakeTimeProvider clock)
    {
        var values = blocks.Sum(b => b.Length);
        var ciphertext = new byte[1000 + values];
        var digest = SignedStatement.Digest(ciphertext);
        node.Store.Write((c, t) =>
        {
            c.Execute("INSERT INTO submissions(study_id, round, attempt, ciphertext, digest, value_count, submitted_at) VALUES (@s, @r, @a, @ct, @d, @n, @now)",
                new { s = work.Study.Id.Value, r = work.Round, a = work.Attempt, ct = ciphertext, d = digest, n = values, now = clock.GetUtcNow().ToString("O") }, t);
            return node.Audit.Append(c, t, NodeAuditRecords.Submission(work, digest, values, ciphertext.Length, blocks));
        });
    }

    private static class GlmLayoutNames
    {
        public const string Xtwx = FederatedTwin.Analytics.Glm.GlmLayout.Xtwx;
        public const string Xtwz = FederatedTwin.Analytics.Glm.GlmLayout.Xtwz;
        public const string Deviance = FederatedTwin.Analytics.Glm.GlmLayout.Deviance;
    }
}
