using System.Globalization;
using System.Text.Json;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using System.Data.Common;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>What a template's refresh rule saw on one pass: whether it fires, and the counts that decided it.</summary>
public sealed record RefreshCheck(bool Due, string Rule, int Participants, int WithNewData, int Unknown, double? DaysSinceLastRun);

/// <summary>
/// Keeps the federation's models current (docs/models.md, "Refresh"): a study posted with a <c>refresh:</c> block is a template; its
/// first run is offered at once, and the orchestrator's loop (<see cref="StudyOrchestrator"/>) creates the next run when every rule of
/// the block holds: <c>every</c> has elapsed since the last run was created, at least <c>min_nodes_with_new_data</c> of the last run's
/// participants (enrolled, not revoked) report a data version other than the one they had when they accepted it, and at least
/// <c>min_new_data_fraction</c> of those participants do. Each run is a normal study (id &lt;template&gt;-r&lt;n&gt;): every node
/// decides on it under its own site policy and privacy ledger, and it is audited like any study, after a
/// <c>study_refresh_triggered</c> record naming the rule and its counts (never a node's data). A template never has two runs live at
/// once: the next is created only when the last has completed, failed or been cancelled, in the same transaction that checks it.
/// </summary>
public sealed class StudyRefresh(CoordinatorStore store, RoundEngine engine, CoordinatorAuditTrail audit, CoordinatorSignals signals)
{
    /// <summary>Stores a template and offers its first run; returns the run's study id. Throws <see cref="InvalidOperationException"/> when the id is taken.</summary>
    public StudyId CreateTemplate(StudyTemplate template, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(template);
        var refresh = template.Refresh ?? throw new ArgumentException("The study has no refresh block.", nameof(template));
        engine.Validate(template.Spec);
        var run = StudyTemplate.RunId(template.Spec.Id, 1);
        store.Write((c, t) =>
        {
            if (RefreshQueries.TemplateExists(c, t, template.Spec.Id.Value) || StudyQueries.Exists(c, t, template.Spec.Id.Value))
            {
                throw new InvalidOperationException($"A study or study template with id '{template.Spec.Id}' already exists.");
            }

            RefreshQueries.InsertTemplate(c, t, template.Spec.Id.Value, JsonSerializer.Serialize(template.Spec, WireJson.Options), refresh.Describe(),
                refresh.Every is { } e ? (long)e.TotalSeconds : null, refresh.MinNodesWithNewData, refresh.MinNewDataFraction, now);
            StartRun(c, t, template.Spec, 1, new RefreshCheck(true, "first run", 0, 0, 0, null), now);
        });
        signals.PhaseChanged.Pulse();
        return run;
    }

    /// <summary>Stops a template's refresh (its runs stay as they are); false when it is unknown or already stopped.</summary>
    public bool Stop(string template, DateTimeOffset now) => store.Write((c, t) =>
    {
        var stopped = RefreshQueries.Stop(c, t, template, now);
        if (stopped)
        {
            RoundEngine.Event(c, t, now, "study_refresh_stopped", null, null, template);
        }

        return stopped;
    });

    /// <summary>One pass over every active template: creates each due run. Returns the runs created.</summary>
    public IReadOnlyList<StudyId> Advance(DateTimeOffset now)
    {
        var created = new List<StudyId>();
        foreach (var template in store.Read(c => RefreshQueries.Active(c, null)))
        {
            if (store.Write((c, t) => AdvanceTemplate(c, t, template.template_id, now)) is { } run)
            {
                created.Add(run);
            }
        }

        if (created.Count > 0)
        {
            signals.PhaseChanged.Pulse(); // an offer is work for every node
        }

        return created;
    }

    /// <summary>What the template's rule sees now (the dashboard and the admin API show it), or null for an unknown template.</summary>
    public RefreshCheck? Check(string template, DateTimeOffset now) => store.Read(c =>
    {
        var row = RefreshQueries.All(c).FirstOrDefault(x => x.template_id == template);
        var last = row is null ? null : RefreshQueries.Runs(c, null, template).FirstOrDefault();
        return row is null || last is null ? null : Evaluate(c, null, row, last, now);
    });

    private StudyId? AdvanceTemplate(DbConnection c, DbTransaction t, string id, DateTimeOffset now)
    {
        var template = RefreshQueries.Active(c, t).FirstOrDefault(x => x.template_id == id);
        var last = RefreshQueries.Runs(c, t, id).FirstOrDefault();
        if (template is null || last is null)
        {
            return null;
        }

        // Never two runs of a template at once: checked in the transaction that would create the next.
        if (StudyStates.Parse(last.state) is StudyState.Offered or StudyState.Running)
        {
            return null;
        }

        var check = Evaluate(c, t, template, last, now);
        if (!check.Due || last.seq >= StudyTemplate.MaxRuns)
        {
            return null;
        }

        var spec = WireJson.Deserialize<StudySpec>(System.Text.Encoding.UTF8.GetBytes(template.spec_json));
        return StartRun(c, t, spec, (int)last.seq + 1, check, now);
    }

    private StudyId StartRun(DbConnection c, DbTransaction t, StudySpec template, int seq, RefreshCheck check, DateTimeOffset now)
    {
        var id = StudyTemplate.RunId(template.Id, seq);
        var run = template with
        {
            Id = id,
            Description = $"{(template.Description is { Length: > 0 } d ? d + " " : string.Empty)}(run {seq} of study template {template.Id})",
        };
        audit.Append(c, t, CoordinatorAuditRecords.StudyRefreshTriggered(template.Id.Value, run, seq, check), now);
        RoundEngine.Event(c, t, now, "study_refresh_triggered", id.Value, null, $"run {seq} of {template.Id}: {check.Rule}");
        engine.CreateStudy(c, t, run, now);
        RefreshQueries.InsertRun(c, t, template.Id.Value, seq, id.Value, now, check.Rule);
        return id;
    }

    private static RefreshCheck Evaluate(DbConnection c, DbTransaction? t, TemplateRow template, TemplateRunRow last, DateTimeOffset now)
    {
        var since = now - StoredTime.Parse(last.created_at);
        var participants = RefreshQueries.Participants(c, t, last.study_id).Where(p => p.revoked == 0).ToList();
        // A node is counted when the version it reports now differs from the one it had when it accepted the last run (a restore from
        // a backup is a change too); a node that reported none then or now is unknown, never new.
        var withNew = participants.Count(p => p.used is { } used && p.now is { } current && current != used);
        var unknown = participants.Count(p => p.used is null || p.now is null);
        var reasons = new List<string>();
        var due = true;
        if (template.every_seconds is { } every)
        {
            var holds = since >= TimeSpan.FromSeconds(every);
            due &= holds;
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"every {System.Xml.XmlConvert.ToString(TimeSpan.FromSeconds(every))}: {since.TotalDays:0.##} days since run {last.seq}{(holds ? string.Empty : " (not yet)")}"));
        }

        if (template.min_nodes_with_new_data is { } k)
        {
            var holds = withNew >= k;
            due &= holds;
            reasons.Add($"min_nodes_with_new_data {k}: {withNew} of {participants.Count} participants of run {last.seq} report new data{(holds ? string.Empty : " (not enough)")}");
        }

        if (template.min_new_data_fraction is { } f)
        {
            var holds = participants.Count > 0 && withNew >= f * participants.Count;
            due &= holds;
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"min_new_data_fraction {f:G4}: {withNew} of {participants.Count}{(holds ? string.Empty : " (not enough)")}"));
        }

        return new RefreshCheck(due, string.Join("; ", reasons), participants.Count, withNew, unknown, since.TotalDays);
    }
}
