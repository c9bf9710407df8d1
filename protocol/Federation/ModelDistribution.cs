using System.Text;

namespace FederatedTwin.Protocol.Federation;

/// <summary>
/// One registry document (a model the federation trained) as the coordinator hands it to its nodes, signed with the coordinator's
/// identity key. The response that carries it is signed too (RFC 9421), but that signature covers one exchange: this one travels
/// with the document into the node's own registry, so the node re-checks it, under the key its site policy pins, every time it
/// uses the model. A document changed at rest (a local user editing node.db), or one a coordinator relays from elsewhere, fails.
/// </summary>
/// <param name="Id">The registry id (glm/&lt;outcome&gt;/&lt;study&gt;).</param>
/// <param name="Kind">The registry kind ("glm", "composition", ...).</param>
/// <param name="StudyId">The study that trained it.</param>
/// <param name="Outcome">Its outcome column (empty for a document without one).</param>
/// <param name="ReleasedAt">When the coordinator registered it (ISO 8601).</param>
/// <param name="Document">The registry document exactly as the coordinator stores it (JSON text).</param>
/// <param name="Signature">Ed25519 over <see cref="Statement"/>, base64.</param>
public sealed record SignedModel(string Id, string Kind, string StudyId, string Outcome, string ReleasedAt, string Document, string Signature)
{
    /// <summary>The document's version: the SHA-256 of its text (a registry id never changes content, so a new version is a new document).</summary>
    public string Version => SignedStatement.Digest(Encoding.UTF8.GetBytes(Document));

    /// <summary>
    /// What the coordinator signs: a domain-separated statement of every field, each length-prefixed so that no two field lists
    /// give the same bytes, with the document by its SHA-256.
    /// </summary>
    public static byte[] Statement(string id, string kind, string studyId, string outcome, string releasedAt, string documentSha256)
    {
        var text = new StringBuilder($"ftwin/v{FederationProtocol.Version}/registry-model");
        foreach (var field in new[] { id, kind, studyId, outcome, releasedAt, documentSha256 })
        {
            text.Append('\n').Append(field.Length).Append(':').Append(field);
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>Signs a registry document with the coordinator's identity key.</summary>
    public static SignedModel Sign(Ed25519Identity coordinator, string id, string kind, string studyId, string outcome, string releasedAt, string document)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        ArgumentNullException.ThrowIfNull(document);
        var digest = SignedStatement.Digest(Encoding.UTF8.GetBytes(document));
        var signature = coordinator.Sign(Statement(id, kind, studyId, outcome, releasedAt, digest));
        return new SignedModel(id, kind, studyId, outcome, releasedAt, document, Convert.ToBase64String(signature));
    }

    /// <summary>Whether <see cref="Signature"/> verifies under <paramref name="coordinatorPublicKey"/> (base64 raw Ed25519); a malformed signature does not.</summary>
    public bool Verifies(string coordinatorPublicKey)
    {
        ArgumentNullException.ThrowIfNull(coordinatorPublicKey);
        Span<byte> signature = stackalloc byte[64];
        return Convert.TryFromBase64String(Signature ?? string.Empty, signature, out var written) && written == 64
            && Ed25519Identity.Verify(coordinatorPublicKey, Statement(Id ?? string.Empty, Kind ?? string.Empty, StudyId ?? string.Empty, Outcome ?? string.Empty,
                ReleasedAt ?? string.Empty, Version), signature);
    }
}

/// <summary>The coordinator's model registry as nodes fetch it (GET /v1/node/models): every document, oldest first.</summary>
public sealed record ModelCatalog(IReadOnlyList<SignedModel> Models)
{
    /// <summary>
    /// Names the catalog's content, relayed with every work answer (<see cref="WorkResponse.ModelsSha256"/>), so a node fetches it
    /// only when a model was added: the SHA-256 over each document's id and registration time, in id order (documents are never
    /// changed in place).
    /// </summary>
    public static string Digest(IEnumerable<(string Id, string ReleasedAt)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var text = new StringBuilder("ftwin/registry-catalog");
        foreach (var (id, at) in entries.OrderBy(e => e.Id, StringComparer.Ordinal))
        {
            text.Append('\n').Append(id.Length).Append(':').Append(id).Append(' ').Append(at);
        }

        return SignedStatement.Digest(Encoding.UTF8.GetBytes(text.ToString()));
    }
}
