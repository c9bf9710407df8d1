using FederatedTwin.Twin.Scenarios;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using Hl7.Fhir.Validation;

namespace FederatedTwin.Twin.Tests;

/// <summary>The FHIR R4 MeasureReport of a scenario's quality-measure proxies, parsed strictly and validated with the Firely SDK.</summary>
public sealed class MeasureReportTests
{
    [Fact]
    public void The_measure_report_parses_as_a_valid_r4_measurereport_with_the_results_numbers()
    {
        var yaml = File.ReadAllText(Path.Combine(ModelSetTests.DemoRegistryDirectory, "../../../scenarios/chf-transitional-care.yaml"));
        var definition = ScenarioParser.Parse(yaml);
        var result = ScenarioRunner.RunScenario(definition, replicates: 4);
        var json = MeasureReportExport.ToJson(result, definition.StartYear, DateTimeOffset.Parse("2026-11-29T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

        var deserializer = new BaseFhirJsonDeserializer(ModelInfo.ModelInspector, new DeserializerSettings().UsingMode(DeserializationMode.Strict));
        var reader = new System.Text.Json.Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.True(deserializer.TryDeserializeResource(ref reader, out var resource, out var issues), string.Join("; ", issues.Select(i => i.Message)));
        var report = Assert.IsType<MeasureReport>(resource);
        Assert.Empty(report.Validate(ModelInfo.ModelInspector, NarrativeValidationKind.FhirXhtml, null, validateRecursively: true));

        Assert.Equal(MeasureReport.MeasureReportStatus.Complete, report.Status);
        Assert.Equal(MeasureReport.MeasureReportType.Summary, report.Type);
        Assert.Equal("2027-01-01", report.Period!.Start);
        Assert.Equal("2031-12-31", report.Period!.End);
        Assert.Equal(9, report.Group.Count);
        var mcc = report.Group.Single(g => g.Code!.Coding[0].Code == "mcc_admissions_per_1000:scenario");
        var total = result.Years[0].Single(r => r.Measure == "mcc_admissions_per_1000").Scenario;
        Assert.Equal((decimal)Math.Round(total.Mean, 6), mcc.MeasureScore!.Value);
        var interval = Assert.IsType<Hl7.Fhir.Model.Range>(mcc.Extension.Single(e => e.Url == MeasureReportExport.IntervalExtension).Value);
        Assert.Equal((decimal)Math.Round(total.Low, 6), interval.Low!.Value);
        Assert.Equal((decimal)Math.Round(total.High, 6), interval.High!.Value);
        var strata = mcc.Stratifier.Single().Stratum;
        Assert.Equal(["2027", "2028", "2029", "2030", "2031"], strata.Select(s => s.Value!.Text));
        Assert.Equal((decimal)Math.Round(result.Years[2029].Single(r => r.Measure == "mcc_admissions_per_1000").Scenario.Mean, 6), strata[2].MeasureScore!.Value);
        var difference = report.Group.Single(g => g.Code!.Coding[0].Code == "admissions_per_1000:difference");
        Assert.True(difference.MeasureScore!.Value < 0); // CHF transitional care lowers admissions
    }
}
