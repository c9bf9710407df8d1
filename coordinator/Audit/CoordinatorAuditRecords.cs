using System.Text.Json.Nodes;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Audit;

/// <summary>
/// The coordinator's audit records, one method per action (docs/operations.md lists them). The
/// coordinator holds ciphertexts and decrypted sums; its entries name them by SHA-256 digest and count,
/// never by value.
/// </summary>
public static class CoordinatorAuditRecords
{
    /// <summary>Who asked for an action through the admin API (the bearer of the admin token).</summary>
    public const string AdminApi = "admin-api";

    public static AuditRecord ServiceStarted(string softwareVersion, string publicKey) => new(
        AuditActions.ServiceStarted, AuditOutcome.Success, new JsonObject { ["software_version"] = softwareVersion, ["public_key"] = publicKey });

    public static AuditRecord ServiceStopped() => new(AuditActions.ServiceStopped, AuditOutcome.Success, new JsonObject());

    /// <summary>A replica took the round engine's lease (docs/operations.md, "Running replicas"): its holder name, the new fencing token and the one before it.</summary>
    public static AuditRecord LeaderAcquired(string replica, long token, long? previousToken, int leaseSeconds) => new(
        AuditActions.LeaderAcquired, AuditOutcome.Success, new JsonObject { ["replica"] = AuditRecord.Text(replica, 200), ["token"] = token, ["previous_token"] = previousToken, ["lease_seconds"] = leaseSeconds });

    /// <summary>A replica stopped leading: released at stop, a renewal refused, or a transition fenced (<paramref name="reason"/> names the rule and the token seen).</summary>
    public static AuditRecord LeaderLost(string replica, long token, string reason) => new(
        AuditActions.LeaderLost, AuditOutcome.MinorFailure, new JsonObject { ["replica"] = AuditRecord.Text(replica, 200), ["token"] = token, ["reason"] = AuditRecord.Text(reason, 300) });

    public static AuditRecord IdentityKeyCreated(string publicKey) => new(
        AuditActions.IdentityKeyCreated, AuditOutcome.Success, new JsonObject { ["public_key"] = publicKey, ["algorithm"] = "ed25519" });

    /// <summary>
    /// The admin token was created, issued anew (replacing the old one) or its plaintext file replaced by its hash
    /// (<paramref name="how"/>: created, issued, migrated); never the token, nor its hash.
    /// </summary>
    public static AuditRecord AdminTokenCreated(string how, string requestedBy) => new(
        AuditActions.AdminTokenCreated, AuditOutcome.Success, new JsonObject { ["bits"] = 256, ["stored"] = "hmac-sha256", ["how"] = how, ["requested_by"] = AuditRecord.Text(requestedBy, 100) });

    public static AuditRecord EnrollmentTokenCreated(string tokenSha256, string expiresAt) => new(
        AuditActions.EnrollmentTokenCreated, AuditOutcome.Success, new JsonObject { ["token_sha256"] = tokenSha256, ["expires_at"] = expiresAt, ["requested_by"] = AdminApi });

    public static AuditRecord NodeEnrolled(string nodeId, string nodeName, string publicKey, string tokenSha256) => new(
        AuditActions.NodeEnrolled,
        AuditOutcome.Success,
        new JsonObject { ["node_id"] = nodeId, ["node_name"] = AuditRecord.Text(nodeName, 100), ["public_key"] = publicKey, ["token_sha256"] = tokenSha256 });

    public static AuditRecord EnrollmentTokenRevoked(string tokenSha256, string requestedBy) => new(
        AuditActions.EnrollmentTokenRevoked, AuditOutcome.Success, new JsonObject { ["token_sha256"] = tokenSha256, ["requested_by"] = AuditRecord.Text(requestedBy, 100) });

    public static AuditRecord NodeRevoked(string nodeId, string requestedBy) => new(
        AuditActions.NodeRevoked, AuditOutcome.Success, new JsonObject { ["node_id"] = nodeId, ["requested_by"] = AuditRecord.Text(requestedBy, 100) });

    /// <summary>
    /// A node replaced its identity key: both keys, their fingerprints, and both keys' signatures over the rotation
    /// statement (protocol/Federation/KeyRotation.cs), so the record shows that the holder of the old key handed over
    /// to a holder of the new one.
    /// </summary>
    public static AuditRecord NodeKeyRotated(string nodeId, string oldPublicKey, string newPublicKey, byte[] oldKeySignature, byte[] newKeySignature) => new(
        AuditActions.NodeKeyRotated, AuditOutcome.Success, IdentityKeyChain.RotationDetail(nodeId, oldPublicKey, newPublicKey, oldKeySignature, newKeySignature));

    /// <summary>A key rotation refused (a missing or wrong proof of possession, a key already in use, a malformed body), with the status answered.</summary>
    public static AuditRecord NodeKeyRotationRefused(string nodeId, string? oldPublicKey, string? newPublicKey, int status, string reason) => new(
        AuditActions.NodeKeyRotationRefused, AuditOutcome.MinorFailure, IdentityKeyChain.RotationRefusalDetail(nodeId, oldPublicKey, newPublicKey, status, reason));

    public static AuditRecord DashboardUserCreated(string userName, string role, string requestedBy) => new(
        AuditActions.DashboardUserCreated, AuditOutcome.Success, new JsonObject { ["user"] = AuditRecord.Text(userName, 100), ["role"] = role, ["requested_by"] = AuditRecord.Text(requestedBy, 100) });

    public static AuditRecord DashboardSignIn(string userName, string role, string method) => new(
        AuditActions.DashboardSignIn, AuditOutcome.Success, new JsonObject { ["user"] = AuditRecord.Text(userName, 100), ["role"] = role, ["method"] = method });

    public static AuditRecord DashboardSignInFailed(string userName, string reason = "wrong name or password") => new(
        AuditActions.DashboardSignInFailed, AuditOutcome.MinorFailure, new JsonObject { ["user"] = AuditRecord.Text(userName, 100), ["reason"] = reason });

    public static AuditRecord DashboardSignInLockedOut(string userName, int failures, DateTimeOffset until) => new(
        AuditActions.DashboardSignInLockedOut, AuditOutcome.SeriousFailure, new JsonObject
        {
            ["user"] = AuditRecord.Text(userName, 100),
            ["failures"] = failures,
            ["locked_until"] = until.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        });

    public static AuditRecord EnrollmentRefused(string publicKey, string reason) => new(
        AuditActions.EnrollmentRefused, AuditOutcome.MinorFailure, new JsonObject { ["public_key"] = AuditRecord.Text(publicKey, 100), ["reason"] = AuditRecord.Text(reason) });

    /// <summary>
    /// A /v1/node request whose RFC 9421 signature, Content-Digest, created time or nonce failed (45 CFR 164.312(d) person or entity
    /// authentication): the first of its failure and source in an interval; the rest are counted (<see cref="RefusalsRepeated"/>).
    /// </summary>
    public static AuditRecord AuthenticationFailure(string failure, string method, string path, string? keyId, string? source = null) => new(
        AuditActions.AuthenticationFailure,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["failure"] = failure, ["method"] = AuditRecord.Text(method, 16), ["path"] = AuditRecord.Text(path, 200), ["key_id"] = keyId is null ? null : AuditRecord.Text(keyId, 100), ["source"] = source });

    /// <summary>The rule of every wrong or missing admin token (there is one way to fail it).</summary>
    public const string AdminTokenRule = "admin-token";

    public static AuditRecord AdminAuthenticationFailure(string method, string path, string? source = null) => new(
        AuditActions.AdminAuthenticationFailure,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["rule"] = AdminTokenRule, ["method"] = AuditRecord.Text(method, 16), ["path"] = AuditRecord.Text(path, 200), ["source"] = source });

    /// <summary>
    /// A request refused before it was served (a body over its endpoint's limit or arriving too slowly, a rate limit, the admin API
    /// asked on the node listener), with its rule and status: the first of its rule and source in an interval.
    /// </summary>
    public static AuditRecord RequestRefused(string rule, int status, string method, string path, string source) => new(
        AuditActions.RequestRefused,
        AuditOutcome.MinorFailure,
        new JsonObject { ["rule"] = rule, ["status"] = status, ["method"] = AuditRecord.Text(method, 16), ["path"] = AuditRecord.Text(path, 200), ["source"] = source });

    /// <summary>
    /// How many more refusals of one action, rule and source followed the first (recorded in full) in one interval: one entry
    /// per interval instead of one per request, with the same rule name (authentication failures name it "failure", as their
    /// first entry does).
    /// </summary>
    public static AuditRecord RefusalsRepeated(RefusalSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return new(
            summary.Action,
            summary.Action == AuditActions.RequestRefused ? AuditOutcome.MinorFailure : AuditOutcome.SeriousFailure,
            new JsonObject
            {
                [summary.Action == AuditActions.AuthenticationFailure ? "failure" : "rule"] = summary.Rule,
                ["source"] = summary.Source,
                ["repeats"] = summary.Repeats,
                ["from"] = summary.From.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                ["to"] = summary.To.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            });
    }

    public static AuditRecord StudyCreated(StudySpec spec, string specSha256) => Study(AuditActions.StudyCreated, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
    {
        ["algorithm"] = spec.Algorithm,
        ["min_nodes"] = spec.MinNodes,
        ["max_nodes"] = spec.MaxNodes,
        ["rounds"] = spec.Rounds,
        ["phase_deadline_seconds"] = spec.PhaseDeadlineSeconds,
        ["spec_sha256"] = specSha256,
        ["requested_by"] = AdminApi,
    });

    /// <summary>
    /// A study template's refresh rule fired (or its first run was offered): the template, the run's number, the rule with the
    /// counts that decided it (participants of the last run, how many report new data, how many are unknown). No node is named and
    /// no data version is given: only that so many hospitals' data changed.
    /// </summary>
    public static AuditRecord StudyRefreshTriggered(string template, StudySpec run, int sequence, Orchestration.RefreshCheck check) =>
        Study(AuditActions.StudyRefreshTriggered, AuditOutcome.Success, run.Id.Value, run.PurposeOfUse.Code, new JsonObject
        {
            ["template"] = template,
            ["run"] = sequence,
            ["rule"] = AuditRecord.Text(check.Rule, 500),
            ["participants_of_last_run"] = check.Participants,
            ["with_new_data"] = check.WithNewData,
            ["unknown"] = check.Unknown,
            ["days_since_last_run"] = check.DaysSinceLastRun is { } d ? Math.Round(d, 3) : null,
        });

    public static AuditRecord StudyCancelled(string study, string? purpose) =>
        Study(AuditActions.StudyCancelled, AuditOutcome.Success, study, purpose, new JsonObject { ["requested_by"] = AdminApi });

    public static AuditRecord StudyStarted(StudySpec spec, IReadOnlyList<string> participants, long decisions) =>
        Study(AuditActions.StudyStarted, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["participants"] = AuditRecord.Codes(participants),
            ["decisions"] = decisions,
        });

    public static AuditRecord StudyCompleted(StudySpec spec, long rounds) =>
        Study(AuditActions.StudyCompleted, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject { ["rounds"] = rounds });

    public static AuditRecord StudyFailed(StudySpec spec, string reason) =>
        Study(AuditActions.StudyFailed, AuditOutcome.MinorFailure, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject { ["reason"] = AuditRecord.Text(reason) });

    public static AuditRecord StudyDecisionReceived(string study, string? purpose, string nodeId, bool accept, string rule) =>
        Study(AuditActions.StudyDecisionReceived, AuditOutcome.Success, study, purpose, new JsonObject
        {
            ["node_id"] = nodeId,
            ["decision"] = accept ? "accept" : "refuse",
            ["rule"] = AuditRecord.Text(rule, 200),
        });

    public static AuditRecord AttemptStarted(StudySpec spec, int round, int attempt, IReadOnlyList<string> participants) =>
        Study(AuditActions.AttemptStarted, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["participants"] = AuditRecord.Codes(participants.Order(StringComparer.Ordinal)),
        });

    public static AuditRecord AttemptSuperseded(StudySpec spec, long round, long attempt, string phase, IReadOnlyList<string> missing) =>
        Study(AuditActions.AttemptSuperseded, AuditOutcome.MinorFailure, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["phase"] = phase,
            ["missed_deadline"] = AuditRecord.Codes(missing),
        });

    public static AuditRecord ContributionReceived(string study, string? purpose, string nodeId, string kind, int round, int attempt, string sha256, int bytes) =>
        Study(AuditActions.ContributionReceived, AuditOutcome.Success, study, purpose, new JsonObject
        {
            ["node_id"] = nodeId,
            ["kind"] = kind,
            ["round"] = round,
            ["attempt"] = attempt,
            ["sha256"] = sha256,
            ["bytes"] = bytes,
        });

    public static AuditRecord ContributionRefused(string study, string? purpose, string nodeId, string kind, int round, int attempt, int status, string reason) =>
        Study(AuditActions.ContributionRefused, AuditOutcome.MinorFailure, study, purpose, new JsonObject
        {
            ["node_id"] = nodeId,
            ["kind"] = AuditRecord.Text(kind, 40),
            ["round"] = round,
            ["attempt"] = attempt,
            ["status"] = status,
            ["reason"] = AuditRecord.Text(reason),
        });

    public static AuditRecord CommitmentsComplete(StudySpec spec, long round, long attempt, string kind, int commitments, string setSha256) =>
        Study(AuditActions.CommitmentsComplete, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["kind"] = kind,
            ["commitments"] = commitments,
            ["commitment_set_sha256"] = setSha256,
        });

    public static AuditRecord RosterPublished(string federation, int version, string sha256, int members, int approvals) => new(
        AuditActions.RosterPublished,
        AuditOutcome.Success,
        new JsonObject { ["federation"] = federation, ["version"] = version, ["sha256"] = sha256, ["members"] = members, ["approvals"] = approvals });

    public static AuditRecord CollectiveKeyFormed(StudySpec spec, long round, long attempt, int shares, string keySha256) =>
        Study(AuditActions.CollectiveKeyFormed, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["key_shares"] = shares,
            ["collective_key_sha256"] = keySha256,
        });

    public static AuditRecord RoundAggregated(StudySpec spec, long round, long attempt, IReadOnlyList<string> submissionDigests, string aggregateSha256) =>
        Study(AuditActions.RoundAggregated, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["submissions"] = submissionDigests.Count,
            ["submission_sha256"] = AuditRecord.Codes(submissionDigests),
            ["aggregate_sha256"] = aggregateSha256,
        });

    public static AuditRecord ResultDecrypted(StudySpec spec, long round, long attempt, int shares, int valueCount) =>
        Study(AuditActions.ResultDecrypted, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["decryption_shares"] = shares,
            ["value_count"] = valueCount,
        });

    /// <summary>A t-of-n attempt's decrypting set: the first t participants ready to decrypt (node ids), and the threshold.</summary>
    public static AuditRecord DecryptSetChosen(StudySpec spec, long round, long attempt, int threshold, IReadOnlyList<string> decryptSet, int ready) =>
        Study(AuditActions.DecryptSetChosen, AuditOutcome.Success, spec.Id.Value, spec.PurposeOfUse.Code, new JsonObject
        {
            ["round"] = round,
            ["attempt"] = attempt,
            ["threshold"] = threshold,
            ["decrypt_set"] = new JsonArray([.. decryptSet.Select(n => (JsonNode)n)]),
            ["ready"] = ready,
        });

    private static AuditRecord Study(string action, AuditOutcome outcome, string study, string? purpose, JsonObject detail) => new(action, outcome, detail, study, purpose);
}
