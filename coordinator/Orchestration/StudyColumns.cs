using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The columns a GLM or FedAvg study names, checked against the patient-year schema (<see cref="PatientYearSchema.Columns"/>)
/// when the study is created: an unknown column is a 400 naming the field, not a refusal from every node rounds later.
/// </summary>
internal static class StudyColumns
{
    public static void Require(GlmStudy glm)
    {
        // A categorical feature enters as indicators column[level] (GlmStudy.Expand); the schema knows the column.
        PatientYearSchema.RequireColumns("parameters.features", glm.Features.Select(f => GlmStudy.Indicator(f)?.Column ?? f));
        PatientYearSchema.RequireColumns("parameters.outcome", [glm.Outcome]);
        if (glm.Offset is { } offset)
        {
            PatientYearSchema.RequireColumns("parameters.offset", [offset]);
        }
    }
}
