using FederatedTwin.Analytics.Studies;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The demo's studies are typed values written once as study.yaml: what the coordinator parses must be the very spec
/// the demo built (same fields, same parameters in the same order, so the stored spec is the one the demo meant).
/// </summary>
public sealed class DemoStudiesTests
{
    public static TheoryData<bool> DpSettings => [true, false];

    [Theory]
    [MemberData(nameof(DpSettings))]
    public void Every_demo_study_reads_back_as_the_spec_it_was_written_from(bool dp)
    {
        StudySpec[] studies = [DemoStudies.Census(), DemoStudies.Composition(dp), .. DemoStudies.Models.Select(m => DemoStudies.Model(m, dp))];
        Assert.Equal(18, studies.Length);
        foreach (var spec in studies)
        {
            var read = StudyFile.Parse(StudyYaml.Write(spec));
            Assert.Equal(spec.Id, read.Id);
            Assert.Equal(spec.Algorithm, read.Algorithm);
            Assert.Equal(spec.PurposeOfUse, read.PurposeOfUse);
            Assert.Equal((spec.MinNodes, spec.MaxNodes, spec.Rounds, spec.PhaseDeadlineSeconds), (read.MinNodes, read.MaxNodes, read.Rounds, read.PhaseDeadlineSeconds));
            Assert.Equal(spec.Description, read.Description);
            Assert.Equal(spec.Parameters!.ToList(), read.Parameters!.ToList());
        }
    }

    [Fact]
    public void A_dp_onset_study_carries_the_parameters_the_demo_always_sent()
    {
        var onset = DemoStudies.Model(DemoStudies.Models.Single(m => m.Id == "demo-onset-copd"), dp: true);
        Assert.Equal(("federated-glm", 3, 3, 1, 120), (onset.Algorithm, onset.MinNodes, onset.MaxNodes, onset.Rounds, onset.PhaseDeadlineSeconds));
        Assert.Equal("binomial GLM of onset_copd_next_year for the population twin.", onset.Description);
        Assert.Equal(
            [
                new("family", "binomial"), new("outcome", "onset_copd_next_year"),
                new("features", "age,sex_male,diabetes,hypertension,heart_failure,ckd,cad,condition_count,inpatient_admissions,ed_visits"),
                new("max_rows_per_node", "1000000"), new("max_abs_feature", "1000"), new("holdout", "0"), new("start", "null_model"),
                new("min_year", "2019"), new("max_year", "2021"), // issue 20: trained on the 3 years before the back-test's cut-off (2022)
                new("dp_rho", "1"), new("feature_bounds", "inpatient_admissions:0:10,ed_visits:0:20"),
                new("dp_min_honest_nodes", "2"), new("max_iterations", "4"),
            ],
            onset.Parameters!.ToList<KeyValuePair<string, string>>());

        var cost = DemoStudies.Model(DemoStudies.Models.Single(m => m.Id == "demo-cost"), dp: true).Parameters!;
        Assert.Equal(("100000", "100000", "2", "0.2"), (cost["max_abs_response"], cost["max_abs_mean"], cost["dp_rho"], cost["holdout"]));
        Assert.Equal("5000000", DemoStudies.Model(DemoStudies.Models.Single(m => m.Id == "demo-cost"), dp: false).Parameters!["max_abs_response"]);
    }
}
