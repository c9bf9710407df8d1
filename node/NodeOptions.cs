using System.ComponentModel.DataAnnotations;
using System.Net;

namespace FederatedTwin.Node;

/// <summary>The node's settings (section "Node"), validated at start-up: a misconfigured node refuses to start and says why.</summary>
public sealed class NodeOptions() : Hosting.CommonServiceOptions("http://127.0.0.1:7480")
{
    public const string Section = "Node";

    /// <summary>The node directory: node.db, keys/, policy.yaml, admin.token.</summary>
    [Required]
    public string NodeDir { get; set; } = string.Empty;

    /// <summary>How long one long-poll for work may be held by the coordinator.</summary>
    [Range(0, 120)]
    public int PollWaitSeconds { get; set; } = 10;

    /// <summary>Pause after a failed poll before retrying.</summary>
    [Range(50, 60_000)]
    public int RetryDelayMilliseconds { get; set; } = 1000;

    /// <summary>
    /// How many studies the node works on at once (their work items in parallel, each study's items in order). Most of an item's time
    /// is spent waiting on the coordinator and the other nodes, so the default is twice the cores (4 on 2 cores).
    /// </summary>
    [Range(1, 256)]
    public int MaxConcurrentStudies { get; set; } = Math.Max(2, 2 * Environment.ProcessorCount);

    /// <summary>
    /// The store size cap in MB (node.db may not grow past it; docs/operations.md, "Store size cap"): a step that would grow it fails
    /// with "store full" and is rolled back. Null: bounded only by the disk.
    /// </summary>
    [Range(1, 16 * 1024 * 1024)]
    public int? MaxStoreMegabytes { get; set; }

    protected override (string Section, string Name, string Path) ServiceDirectory => (Section, nameof(NodeDir), NodeDir);

    protected override IEnumerable<ValidationResult> ValidateService(ValidationContext validationContext)
    {
        if (!Uri.TryCreate(AdminUrl, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            yield return new ValidationResult($"Node:AdminUrl must be an http:// URL on a loopback address, got '{AdminUrl}'.", [nameof(AdminUrl)]);
        }
        else if (!(uri.IsLoopback && (uri.Host == "localhost" || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)))))
        {
            yield return new ValidationResult($"Node:AdminUrl must be on a loopback address (127.0.0.1 or [::1]); '{uri.Host}' would accept connections from outside the host.", [nameof(AdminUrl)]);
        }

        if (!NodeHost.PolicyIsValid(this, out var policyError))
        {
            yield return new ValidationResult($"The site policy is invalid: {policyError}", [nameof(NodeDir)]);
        }
    }
}
