namespace FederatedTwin.Protocol.Audit;

/// <summary>A code from a FHIR code system: system URI, code, display.</summary>
public sealed record AuditCoding(string System, string Code, string Display);

/// <summary>
/// How an audit action is exported as a FHIR R4 AuditEvent: type and optional subtype from the DICOM
/// audit codes (http://dicom.nema.org/resources/ontology/DCM, PS3.16 CID 400 and 401, as the FHIR
/// spec's AuditEvent examples use them), the AuditEvent.action code (C, R, U, D, E) and a sentence.
/// The exporter adds the action's own name as a second subtype coding.
/// </summary>
public sealed record AuditActionCoding(AuditCoding Type, AuditCoding? Subtype, string FhirAction, string Description);

/// <summary>
/// Every action the node and coordinator audit (docs/operations.md lists them), and its FHIR coding.
/// Node and coordinator share the names, so one exporter and one report read both trails.
/// </summary>
public static class AuditActions
{
    public const string DcmSystem = "http://dicom.nema.org/resources/ontology/DCM";

    // Both services.
    public const string AuditTrailStarted = "audit_trail_started";
    public const string ServiceStarted = "service_started";
    public const string ServiceStopped = "service_stopped";
    public const string IdentityKeyCreated = "identity_key_created";
    public const string AdminAuthenticationFailure = "admin_authentication_failure";
    public const string EnrollmentRefused = "enrollment_refused";

    // Node.
    public const string PseudonymKeyCreated = "pseudonym_key_created";
    public const string AdminTokenCreated = "admin_token_created";
    public const string PolicyLoaded = "policy_loaded";
    public const string PolicyRejected = "policy_rejected";
    public const string PolicyApproved = "policy_approved";
    public const string RecordsPruned = "records_pruned";
    public const string IngestRun = "ingest_run";
    public const string IngestFailed = "ingest_failed";
    /// <summary>A data source (Bulk Data server, OMOP database) was pulled through the ingest (issue 22): counts only.</summary>
    public const string SourcePulled = "source_pulled";
    /// <summary>A pull of a data source failed: the stage and a code, never a value from the source.</summary>
    public const string SourcePullFailed = "source_pull_failed";
    public const string ExclusionsCounted = "exclusions_counted";
    public const string StudyDecision = "study_decision";
    public const string KeyShareGenerated = "key_share_generated";
    public const string KeyShareRefused = "key_share_refused";
    public const string Submission = "submission";
    public const string SubmissionRefused = "submission_refused";
    public const string DecryptionShareIssued = "decryption_share_issued";
    public const string DecryptionShareRefused = "decryption_share_refused";
    /// <summary>A t-of-n study: the node dealt Shamir shares of its attempt secret, sealed to each other key holder (digests and sizes only).</summary>
    public const string CommitteeSharesDealt = "committee_shares_dealt";
    /// <summary>A t-of-n study: the node checked every dealer's share and sealed its committee secret (which replaces its attempt secret).</summary>
    public const string CommitteeSecretFormed = "committee_secret_formed";
    /// <summary>A t-of-n study: a committee secret was deleted (share issued, attempt superseded or past its deadline).</summary>
    public const string CommitteeSecretDeleted = "committee_secret_deleted";
    /// <summary>A t-of-n study: the coordinator chose the decrypting set (the first t participants ready to decrypt).</summary>
    public const string DecryptSetChosen = "decrypt_set_chosen";
    public const string Enrolled = "enrolled";
    public const string EnrollmentFailed = "enrollment_failed";
    public const string CoordinatorResponseRejected = "coordinator_response_rejected";
    public const string FeaturesExported = "features_exported";
    /// <summary>The facility twin ran on the node's own patients (`ftwin node twin facility`): purpose, cohort size, years, models; aggregates only.</summary>
    public const string FacilityTwinRun = "facility_twin_run";
    public const string RosterPinned = "roster_pinned";
    public const string RosterRefused = "roster_refused";
    public const string ModelReceived = "model_received";
    public const string ModelRefused = "model_refused";
    public const string CommitmentSetAccepted = "commitment_set_accepted";
    public const string IdentityKeyRotated = "identity_key_rotated";
    public const string IdentityKeyRotationFailed = "identity_key_rotation_failed";
    public const string EnrollmentRevoked = "enrollment_revoked";
    /// <summary>A data source added to or removed from node-config.json (issue 22): name, kind, base URL or host and database; never a credential.</summary>
    public const string SourceAdded = "source_added";
    public const string SourceRemoved = "source_removed";
    /// <summary>A scheduled pull that did not run or did not finish (no puller for its kind, or the puller failed): the source's name and the reason's code.</summary>
    public const string SourcePullNotDone = "source_pull_not_done";
    public const string StoreRestored = "store_restored";
    public const string PatientTwinRun = "patient_twin_run";
    public const string Reidentification = "reidentification";
    public const string ReidentificationRefused = "reidentification_refused";
    /// <summary>The node's SMART Backend Services client key was created or replaced (`ftwin node smart-key create`): algorithm and kid, never key material.</summary>
    public const string SmartKeyCreated = "smart_key_created";

    // Coordinator.
    public const string EnrollmentTokenCreated = "enrollment_token_created";
    public const string NodeEnrolled = "node_enrolled";
    public const string AuthenticationFailure = "authentication_failure";
    public const string RequestRefused = "request_refused";
    public const string StudyCreated = "study_created";
    public const string StudyCancelled = "study_cancelled";
    public const string StudyRefreshTriggered = "study_refresh_triggered";
    public const string StudyStarted = "study_started";
    public const string StudyCompleted = "study_completed";
    public const string StudyFailed = "study_failed";
    public const string StudyDecisionReceived = "study_decision_received";
    public const string AttemptStarted = "attempt_started";
    public const string AttemptSuperseded = "attempt_superseded";
    public const string ContributionReceived = "contribution_received";
    public const string ContributionRefused = "contribution_refused";
    public const string CollectiveKeyFormed = "collective_key_formed";
    public const string RoundAggregated = "round_aggregated";
    public const string ResultDecrypted = "result_decrypted";
    public const string EnrollmentTokenRevoked = "enrollment_token_revoked";
    public const string NodeRevoked = "node_revoked";
    public const string DashboardUserCreated = "dashboard_user_created";
    public const string DashboardSignIn = "dashboard_sign_in";
    public const string DashboardSignInFailed = "dashboard_sign_in_failed";
    public const string DashboardSignInLockedOut = "dashboard_sign_in_locked_out";
    public const string RosterPublished = "roster_published";
    public const string CommitmentsComplete = "commitments_complete";
    public const string NodeKeyRotated = "node_key_rotated";
    public const string NodeKeyRotationRefused = "node_key_rotation_refused";
    public const string LeaderAcquired = "leader_acquired";
    public const string LeaderLost = "leader_lost";

    private static readonly AuditCoding ApplicationActivity = new(DcmSystem, "110100", "Application Activity");
    private static readonly AuditCoding Export = new(DcmSystem, "110106", "Export");
    private static readonly AuditCoding Import = new(DcmSystem, "110107", "Import");
    private static readonly AuditCoding SecurityAlert = new(DcmSystem, "110113", "Security Alert");
    private static readonly AuditCoding UserAuthentication = new(DcmSystem, "110114", "User Authentication");
    private static readonly AuditCoding ApplicationStart = new(DcmSystem, "110120", "Application Start");
    private static readonly AuditCoding ApplicationStop = new(DcmSystem, "110121", "Application Stop");
    private static readonly AuditCoding Login = new(DcmSystem, "110122", "Login");
    private static readonly AuditCoding NodeAuthentication = new(DcmSystem, "110126", "Node Authentication");
    private static readonly AuditCoding SecurityConfiguration = new(DcmSystem, "110129", "Security Configuration");
    private static readonly AuditCoding AuditRecordingStarted = new(DcmSystem, "110134", "Audit Recording Started");
    private static readonly AuditCoding UserSecurityAttributesChanged = new(DcmSystem, "110137", "User Security Attributes Changed");

    private static readonly Dictionary<string, AuditActionCoding> Codings = new(StringComparer.Ordinal)
    {
        [AuditTrailStarted] = new(ApplicationActivity, AuditRecordingStarted, "E", "audit trail started"),
        [ServiceStarted] = new(ApplicationActivity, ApplicationStart, "E", "service started"),
        [ServiceStopped] = new(ApplicationActivity, ApplicationStop, "E", "service stopped"),
        [IdentityKeyCreated] = new(SecurityAlert, SecurityConfiguration, "C", "Ed25519 identity key created"),
        [AdminAuthenticationFailure] = new(UserAuthentication, Login, "E", "admin API request with a wrong or missing token"),
        [EnrollmentRefused] = new(SecurityAlert, NodeAuthentication, "C", "enrollment refused"),
        [PseudonymKeyCreated] = new(SecurityAlert, SecurityConfiguration, "C", "pseudonymization key created"),
        [AdminTokenCreated] = new(SecurityAlert, UserSecurityAttributesChanged, "C", "local admin token created"),
        [PolicyLoaded] = new(SecurityAlert, SecurityConfiguration, "U", "site policy loaded (new or changed)"),
        [PolicyRejected] = new(SecurityAlert, SecurityConfiguration, "R", "site policy invalid, not used"),
        [PolicyApproved] = new(SecurityAlert, SecurityConfiguration, "U", "site policy change approved by a compliance officer's signature"),
        [RecordsPruned] = new(SecurityAlert, SecurityConfiguration, "D", "records past the site policy's retention deleted"),
        [IngestRun] = new(Import, null, "C", "FHIR ingest run"),
        [IngestFailed] = new(Import, null, "C", "FHIR ingest run failed"),
        [SourcePulled] = new(Import, null, "C", "data source pulled into the node (Bulk Data export or OMOP)"),
        [SourcePullFailed] = new(Import, null, "C", "data source pull failed; its watermark kept"),
        [SourceAdded] = new(SecurityAlert, SecurityConfiguration, "C", "data source added to the node's configuration"),
        [SourceRemoved] = new(SecurityAlert, SecurityConfiguration, "D", "data source removed from the node's configuration"),
        [SourcePullNotDone] = new(Import, null, "C", "scheduled pull of a data source not run or not finished"),
        [ExclusionsCounted] = new(ApplicationActivity, null, "E", "consent and sensitivity exclusions counted"),
        [StudyDecision] = new(ApplicationActivity, null, "E", "study accepted or refused under the site policy"),
        [KeyShareGenerated] = new(SecurityAlert, SecurityConfiguration, "C", "attempt key share generated"),
        [KeyShareRefused] = new(SecurityAlert, SecurityConfiguration, "C", "attempt key share refused"),
        [Submission] = new(Export, null, "R", "encrypted update sealed and signed for the coordinator"),
        [SubmissionRefused] = new(Export, null, "R", "encrypted update refused"),
        [DecryptionShareIssued] = new(Export, null, "R", "decryption share issued"),
        [DecryptionShareRefused] = new(Export, null, "R", "decryption share refused"),
        [CommitteeSharesDealt] = new(SecurityAlert, SecurityConfiguration, "C", "Shamir shares of the attempt secret dealt to the committee, sealed to each member"),
        [CommitteeSecretFormed] = new(SecurityAlert, SecurityConfiguration, "C", "committee secret formed from every dealer's share and sealed"),
        [CommitteeSecretDeleted] = new(SecurityAlert, SecurityConfiguration, "D", "committee secret deleted"),
        [DecryptSetChosen] = new(ApplicationActivity, null, "E", "decrypting set of a t-of-n attempt chosen"),
        [Enrolled] = new(SecurityAlert, NodeAuthentication, "C", "enrolled with a coordinator"),
        [EnrollmentFailed] = new(SecurityAlert, NodeAuthentication, "C", "enrollment failed"),
        [CoordinatorResponseRejected] = new(SecurityAlert, NodeAuthentication, "E", "coordinator response failed authentication"),
        [FeaturesExported] = new(Export, null, "R", "de-identified patient-year features exported on the node's host"),
        [FacilityTwinRun] = new(ApplicationActivity, null, "E", "facility twin run on the node's own patients (aggregate table)"),
        [RosterPinned] = new(SecurityAlert, SecurityConfiguration, "U", "federation roster pinned (approved by a compliance officer)"),
        [RosterRefused] = new(SecurityAlert, SecurityConfiguration, "R", "federation roster document refused"),
        [ModelReceived] = new(Import, null, "C", "federated model received from the coordinator, its signature checked under the pinned key"),
        [ModelRefused] = new(SecurityAlert, NodeAuthentication, "R", "federated model refused (signature, document or id check failed)"),
        [CommitmentSetAccepted] = new(SecurityAlert, NodeAuthentication, "E", "complete commitment set of an attempt checked against the pinned roster"),
        [IdentityKeyRotated] = new(SecurityAlert, SecurityConfiguration, "U", "Ed25519 identity key replaced by a new one the coordinator accepted"),
        [IdentityKeyRotationFailed] = new(SecurityAlert, SecurityConfiguration, "U", "identity key rotation refused by the coordinator"),
        [EnrollmentRevoked] = new(SecurityAlert, NodeAuthentication, "E", "the coordinator refuses this node's identity (revoked, unknown or replaced)"),
        [StoreRestored] = new(SecurityAlert, SecurityConfiguration, "U", "node restored from a backup; the attempt secrets it held deleted"),
        [PatientTwinRun] = new(ApplicationActivity, null, "E", "patient twin scored the node's own patients on its host (counts and models; never who)"),
        [Reidentification] = new(Export, null, "R", "worklist pseudonyms mapped back to the hospital's own patient ids in an owner-only file on its host"),
        [ReidentificationRefused] = new(SecurityAlert, null, "R", "re-identification refused: the purpose is not one the site policy allows"),
        [SmartKeyCreated] = new(SecurityAlert, SecurityConfiguration, "C", "SMART Backend Services client key created or replaced (its public JWKS is registered with the EHR)"),
        [EnrollmentTokenCreated] = new(SecurityAlert, UserSecurityAttributesChanged, "C", "enrollment token issued"),
        [NodeEnrolled] = new(SecurityAlert, NodeAuthentication, "C", "node enrolled"),
        [AuthenticationFailure] = new(SecurityAlert, NodeAuthentication, "E", "node request failed signature or nonce checks"),
        [RequestRefused] = new(SecurityAlert, null, "E", "request refused before it was served: body too large or too slow, over a rate limit, or on the wrong listener"),
        [StudyCreated] = new(ApplicationActivity, null, "C", "study created"),
        [StudyCancelled] = new(ApplicationActivity, null, "U", "study cancelled"),
        [StudyRefreshTriggered] = new(ApplicationActivity, null, "C", "a study template's refresh rule fired and created its next run"),
        [StudyStarted] = new(ApplicationActivity, null, "U", "study started with its participants"),
        [StudyCompleted] = new(ApplicationActivity, null, "U", "study completed"),
        [StudyFailed] = new(ApplicationActivity, null, "U", "study failed"),
        [StudyDecisionReceived] = new(ApplicationActivity, null, "C", "node's study decision recorded"),
        [AttemptStarted] = new(ApplicationActivity, null, "E", "round attempt started"),
        [AttemptSuperseded] = new(ApplicationActivity, null, "U", "round attempt superseded"),
        [ContributionReceived] = new(Import, null, "C", "signed contribution received"),
        [ContributionRefused] = new(Import, null, "C", "contribution refused"),
        [CollectiveKeyFormed] = new(SecurityAlert, SecurityConfiguration, "C", "collective public key formed"),
        [RoundAggregated] = new(ApplicationActivity, null, "E", "encrypted submissions aggregated"),
        [ResultDecrypted] = new(ApplicationActivity, null, "E", "aggregate decrypted from the decryption shares"),
        [EnrollmentTokenRevoked] = new(SecurityAlert, UserSecurityAttributesChanged, "U", "unused enrollment token revoked"),
        [NodeRevoked] = new(SecurityAlert, NodeAuthentication, "U", "node's enrollment revoked"),
        [DashboardUserCreated] = new(SecurityAlert, UserSecurityAttributesChanged, "C", "dashboard account created"),
        [DashboardSignIn] = new(UserAuthentication, Login, "E", "dashboard sign-in"),
        [DashboardSignInFailed] = new(UserAuthentication, Login, "E", "dashboard sign-in with a wrong name or password, or while the name is locked"),
        [DashboardSignInLockedOut] = new(SecurityAlert, Login, "E", "dashboard user name locked after repeated wrong passwords"),
        [RosterPublished] = new(SecurityAlert, SecurityConfiguration, "C", "federation roster document published for nodes to fetch"),
        [CommitmentsComplete] = new(ApplicationActivity, null, "E", "every participant's commitment received; the set is relayed before anything is revealed"),
        [NodeKeyRotated] = new(SecurityAlert, NodeAuthentication, "U", "node's identity key replaced, with proof of possession of the new key"),
        [NodeKeyRotationRefused] = new(SecurityAlert, NodeAuthentication, "U", "node's key rotation refused"),
        [LeaderAcquired] = new(ApplicationActivity, null, "E", "coordinator replica took the round engine's lease under a new fencing token"),
        [LeaderLost] = new(ApplicationActivity, null, "E", "coordinator replica stopped leading: lease released, taken by another, or a write fenced"),
    };

    public static IReadOnlyCollection<string> All => Codings.Keys;

    /// <summary>The FHIR coding of an action; an unknown action (from a newer build) is an Application Activity.</summary>
    public static AuditActionCoding Coding(string action) =>
        Codings.TryGetValue(action, out var coding) ? coding : new AuditActionCoding(ApplicationActivity, null, "E", action.Replace('_', ' '));
}
