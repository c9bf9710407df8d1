using System.CommandLine;
using System.CommandLine.Parsing;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// Options whose value is a service's base URL. System.CommandLine 2.0 converts option values only to the
/// types it has parsers for (strings, numbers, enums, files, directories ...), not to <see cref="Uri"/>: an
/// <c>Option&lt;Uri&gt;</c> without a parser failed with "Cannot parse argument ... as expected type
/// 'System.Uri'" as soon as its value was read, so `node enroll`, `study ...` and `model ...` could not run.
/// Every URL option is therefore made here, with a parser that accepts an absolute http or https URI (RFC 3986
/// section 4.3; the schemes of RFC 9110 section 4.2) and otherwise reports one line naming the option and
/// the expected form. The parser also applies the transport rule (<see cref="UrlPolicy"/>: https beyond loopback), so a
/// command given http://aco.example fails while its command line is parsed, before it reads a node directory, a pinned key
/// or a token, looks up a name or connects anywhere.
/// </summary>
internal static class HttpUrlOption
{
    /// <summary>Where `ftwin coordinator run` serves nodes by default.</summary>
    public static readonly Uri DefaultCoordinator = new("http://127.0.0.1:7400");

    /// <summary>Where `ftwin coordinator run` serves its admin API by default (its own listener, loopback).</summary>
    public static readonly Uri DefaultCoordinatorAdmin = new("http://127.0.0.1:7401");

    /// <summary>--coordinator for enrollment: the coordinator's node API, required (enrollment must name its coordinator).</summary>
    public static Option<Uri> Coordinator() =>
        Create("--coordinator", "The coordinator's base URL, e.g. https://aco.example (http only on loopback, e.g. http://127.0.0.1:7400).", null);

    /// <summary>
    /// --coordinator (alias --admin-url) for the analysts' commands: the coordinator's admin API, which listens on its own
    /// address (Coordinator:AdminUrl), defaulting to the local coordinator's.
    /// </summary>
    public static Option<Uri> CoordinatorAdmin()
    {
        var option = Create("--coordinator", "The coordinator's admin API URL (its admin listener), e.g. https://aco-admin.example; default the local coordinator's, http://127.0.0.1:7401.", DefaultCoordinatorAdmin);
        option.Aliases.Add("--admin-url");
        return option;
    }

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
        if (!TryParse(text, out var url, out var error))
        {
            result.AddError($"{name}: '{text}' {error}.");
            return null;
        }

        if (UrlPolicy.Refusal(url!, name) is { } refusal)
        {
            result.AddError(refusal + ".");
            return null;
        }

        return url;
    }
}
