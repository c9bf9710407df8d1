using FederatedTwin.Analytics.Studies;
using System.Globalization;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Studies;

/// <summary>Every study with its state, progress and the privacy spend it declared.</summary>
public sealed class IndexModel(CoordinatorStore store) : DashboardPageModel
{
    public override string Section => "studies";

    public IReadOnlyList<StudyRow> Studies { get; private set; } = [];

    public void OnGet() => Studies = store.Read(c =>
        StudyQueries.Summaries(c, newestFirst: true)
        .Select(s =>
        {
            var spec = s.Spec;
            return new StudyRow(s.study_id, s.state, spec.Algorithm, spec.PurposeOfUse.Code, s.current_round, s.current_attempt, spec.Rounds,
                StoredTime.Parse(s.created_at), DeclaredRho(spec));
        }).ToList());

    /// <summary>
    /// The zCDP ρ a study declared it spends at each node, as text: "none" for an exact study. The ρ protects a hospital
    /// record (a patient's records at one hospital); a person treated at k hospitals of the federation is k records in the same
    /// sum, so k²ρ for them (group privacy, Bun &amp; Steinke 2016, Prop. 1.9). The coordinator does not know k: a node whose
    /// policy states it charges per person, and says so in its decision's reason (docs/privacy.md, "The privacy unit").
    /// </summary>
    public static string DeclaredRho(StudySpec spec)
    {
        try
        {
            var rho = StudyPrivacy.Rho(spec.Parameters);
            return rho == 0 ? "none (exact)" : string.Create(CultureInfo.InvariantCulture, $"ρ = {rho:0.####} zCDP per hospital record, at each node");
        }
        catch (StudyFileException e)
        {
            return "invalid: " + e.Message;
        }
    }

    /// <summary>Whether the study declares a valid, positive dp_rho.</summary>
    public static bool IsNoisy(StudySpec spec)
    {
        try
        {
            return StudyPrivacy.Rho(spec.Parameters) > 0;
        }
        catch (StudyFileException)
        {
            return false;
        }
    }

    public sealed record StudyRow(string Id, string State, string Algorithm, string Purpose, long Round, long Attempt, int Rounds, DateTimeOffset Created, string DeclaredPrivacy);
}
