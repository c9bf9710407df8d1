using System.CommandLine;
using System.CommandLine.Parsing;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// Options whose value is a service's base URL. System.CommandLine 2.0 converts option values only to the
/// types it has parsers for (strings, numbers, enums, files, directories ...), not to <see cref="Uri"/>: an
/// <c>Option&lt;Uri&gt;</c> without a parser failed with "Cannot parse argument ... as expected type
/// 'System.Uri'" as soon as its value was read, so `node enroll`, `study ...` and `model ...` could not run.
/// Every URL option is therefore made here, with a parser that accepts an absolute http or https URI (RFC 3986
/// section 4.3; the schemes of RFC 9110 section 4.2) and otherwise reports one line naming the option and
/// the expected form.
/// </summary>
internal static class HttpUrlOption
{
    /// <summary>Where `ftwin coordinator run` listens by default.</summary>
    public static readonly Uri DefaultCoordinator = new("http://127.0.0.1:7400");

    /// <summary>--coordinator: required (enrollment must name its coordinator) or defaulting to the local coordinator.</summary>
    public static Option<Uri> Coordinator(bool required = false) =>
        Create("--coordinator", "The coordinator's base URL, e.g. https://aco.example or http://127.0.0.1:7400.", required ? null : DefaultCoordinator);

    /// <summary>An option taking an absolute http(s) URL; without a default it is required.</summary>
    public static Option<Uri> Create(string name, string description, Uri? defaultValue)
    {
        var option = new Option<Uri>(name)
        {
            Description = description,
            Required = defaultValue is null,
            CustomParser = result => Parse(result, name),
        };
        if (defaultValue is not null)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }

        return option;
    }

    /// <summary>
    /// An absolute http or https URL with a host and no user information, query or fragment: the services are
    /// addressed by scheme, host and port, and credentials never travel in a URL (RFC 9110 section 4.2.4).
    /// </summary>
    public static bool TryParse(string text, out Uri? url, out string? error)
    {
        url = null;
        error = null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
        {
            error = "is not an absolute http:// or https:// URL (for example http://127.0.0.1:7400)";
        }
        else if (string.IsNullOrEmpty(parsed.Host))
        {
            error = "has no host";
        }
        else if (parsed.UserInfo.Length > 0)
        {
            error = "carries user information; give credentials with their own option, never in a URL";
        }
        else if (parsed.Query.Length > 0 || parsed.Fragment.Length > 0)
        {
            error = "has a query or fragment; give the base URL only";
        }
        else
        {
            url = parsed;
            return true;
        }

        return false;
    }

    private static Uri? Parse(ArgumentResult result, string name)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty;
        if (TryParse(text, out var url, out var error))
        {
            return url;
        }

        result.AddError($"{name}: '{text}' {error}.");
        return null;
    }
}
