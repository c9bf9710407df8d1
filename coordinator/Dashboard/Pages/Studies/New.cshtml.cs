using FederatedTwin.Analytics.Studies;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages.Studies;

/// <summary>Creates a study from the form or from an uploaded study.yaml; each validation error is shown next to its field.</summary>
public sealed class NewModel(RoundEngine engine, StudyRefresh refresh, AlgorithmCatalog algorithms, TimeProvider? clock = null) : DashboardPageModel
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    private const int MaxYamlBytes = 64 * 1024;

    public override string Section => "studies";

    [BindProperty]
    public StudyForm Form { get; set; } = new();

    [BindProperty]
    public string? Yaml { get; set; }

    [BindProperty]
    public IFormFile? YamlFile { get; set; }

    public IEnumerable<string> Algorithms => algorithms.Names;

    public static IEnumerable<string> Purposes => PurposeOfUse.Known.Order(StringComparer.Ordinal);

    public void OnGet()
    {
        Form.Algorithm ??= Algorithms.FirstOrDefault();
    }

    public async Task<IActionResult> OnPostFormAsync()
    {
        // The page's convention already requires the Analyze policy; the handler checks again before it changes anything.
        if (!await Allowed(DashboardPolicies.Analyze))
        {
            return Forbid();
        }

        ModelState.Clear();
        string yaml;
        try
        {
            yaml = Form.ToYaml();
        }
        catch (StudyFileException e)
        {
            ModelState.AddModelError("Form.parameters", StudyForm.Message(e));
            return Page();
        }

        return Create(yaml, e => ModelState.AddModelError(StudyForm.FieldOf(e) is { Length: > 0 } field ? "Form." + field : string.Empty, StudyForm.Message(e)));
    }

    public async Task<IActionResult> OnPostYamlAsync()
    {
        if (!await Allowed(DashboardPolicies.Analyze))
        {
            return Forbid();
        }

        ModelState.Clear();
        var yaml = Yaml;
        if (YamlFile is { Length: > 0 })
        {
            if (YamlFile.Length > MaxYamlBytes)
            {
                ModelState.AddModelError(nameof(Yaml), $"study.yaml is larger than {MaxYamlBytes / 1024} KiB.");
                return Page();
            }

            using var reader = new StreamReader(YamlFile.OpenReadStream());
            yaml = await reader.ReadToEndAsync(HttpContext.RequestAborted);
        }

        if (string.IsNullOrWhiteSpace(yaml))
        {
            ModelState.AddModelError(nameof(Yaml), "Choose a study.yaml file or paste one.");
            return Page();
        }

        Yaml = yaml;
        return Create(yaml, e => ModelState.AddModelError(nameof(Yaml), StudyForm.Describe(e, yaml)));
    }

    private IActionResult Create(string yaml, Action<StudyFileException> fieldError)
    {
        try
        {
            // A file with a refresh: block is a study template: its first run is offered now (docs/models.md, "Refresh and versions").
            var template = StudyFile.ParseTemplate(yaml);
            var spec = template.Spec;
            if (template.Refresh is not null)
            {
                return Redirect("/studies/" + Uri.EscapeDataString(refresh.CreateTemplate(template, _clock.GetUtcNow()).Value));
            }

            engine.CreateStudy(spec, _clock.GetUtcNow());
            return Redirect("/studies/" + Uri.EscapeDataString(spec.Id.Value));
        }
        catch (StudyFileException e)
        {
            fieldError(e);
        }
        catch (InvalidOperationException e)
        {
            fieldError(new StudyFileException("id", e.Message));
        }
        catch (ArgumentException e)
        {
            ModelState.AddModelError(string.Empty, e.Message);
        }

        return Page();
    }

    /// <summary>The error shown next to a form field, or null.</summary>
    public string? ErrorFor(string key) => ModelState.TryGetValue(key, out var entry) && entry.Errors.Count > 0 ? entry.Errors[0].ErrorMessage : null;
}
