using System.Text.Json.Nodes;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Audit;

/// <summary>
/// The node's audit records, one method per action (docs/operations.md lists them). Details hold
/// counts, codes, digests and rule names only: never a pseudonym, a patient attribute, a source file
/// name (Synthea names Bundles after the patient) or a value from the data.
/// </summary>
public static class NodeAuditRecords
{
    public static AuditRecord ServiceStarted(string softwareVersion, string? policySha256) => new(
        AuditActions.ServiceStarted, AuditOutcome.Success, new JsonObject { ["software_version"] = softwareVersion, ["policy_sha256"] = policySha256 });

    /// <summary>
    /// The node directory was restored from a backup bundle (`ftwin node restore`): when the backup was taken, the audit head it held
    /// (this entry follows it in the chain), and the attempt secrets deleted, at the backup and at the restore.
    /// </summary>
    public static AuditRecord StoreRestored(string backupCreatedAt, long backupAuditSeq, string? backupAuditHead, int secretsDeletedAtRestore, long secretsDeletedForRestore) => new(
        AuditActions.StoreRestored, AuditOutcome.Success, new JsonObject
        {
            ["backup_created_at"] = backupCreatedAt,
            ["backup_audit_seq"] = backupAuditSeq,
            ["backup_audit_head"] = backupAuditHead,
            ["attempt_secrets_deleted_at_restore"] = secretsDeletedAtRestore,
            ["attempt_secrets_deleted_for_restore"] = secretsDeletedForRestore,
        });

    public static AuditRecord ServiceStopped() => new(AuditActions.ServiceStopped, AuditOutcome.Success, new JsonObject());

    public static AuditRecord IdentityKeyCreated(string publicKey) => new(
        AuditActions.IdentityKeyCreated, AuditOutcome.Success, new JsonObject { ["public_key"] = publicKey, ["algorithm"] = "ed25519" });

    public static AuditRecord PseudonymKeyCreated() => new(
        AuditActions.PseudonymKeyCreated, AuditOutcome.Success, new JsonObject { ["algorithm"] = "hmac-sha256", ["sealed_with"] = "data-protection" });

    /// <summary>
    /// The node's SMART Backend Services client key was created, or replaced (the kid it replaced, when readable): the algorithm and the
    /// kid (a label or the public key's RFC 7638 thumbprint), never key material.
    /// </summary>
    public static AuditRecord SmartKeyCreated(string algorithm, string keyId, bool replaced, string? previousKeyId) => new(
        AuditActions.SmartKeyCreated, AuditOutcome.Success, new JsonObject
        {
            ["algorithm"] = algorithm,
            ["kid"] = keyId,
            ["replaced"] = replaced,
            ["previous_kid"] = previousKeyId,
            ["sealed_with"] = "data-protection",
        });

    /// <summary>The admin token was created, issued anew (replacing the old one) or its plaintext file replaced by its hash; never the token or its hash.</summary>
    public static AuditRecord AdminTokenCreated(string how) =>
        new(AuditActions.AdminTokenCreated, AuditOutcome.Success, new JsonObject { ["bits"] = 256, ["stored"] = "hmac-sha256", ["how"] = how });

    public static AuditRecord PolicyLoaded(string sha256, string? previousSha256, SitePolicy policy) => new(
        AuditActions.PolicyLoaded,
        AuditOutcome.Success,
        new JsonObject
        {
            ["sha256"] = sha256,
            ["previous_sha256"] = previousSha256,
            ["version"] = policy.Version,
            ["purposes_allowed"] = AuditRecord.Codes(policy.PurposesAllowed.Order(StringComparer.Ordinal)),
            ["algorithms_allowed"] = AuditRecord.Codes(policy.AlgorithmsAllowed.Order(StringComparer.Ordinal)),
            ["minimum_nodes"] = policy.MinimumNodes,
            ["trusted_coordinator_keys"] = AuditRecord.Codes(policy.TrustedCoordinators.Select(c => c.PublicKey).Order(StringComparer.Ordinal)),
            ["dp_may_be_off"] = policy.DpMayBeOff,
            ["exact_small_counts"] = policy.ExactSmallCounts,
            ["privacy_budgets_rho"] = new JsonObject(policy.PrivacyBudgets.OrderBy(b => b.Key, StringComparer.Ordinal).Select(b => new KeyValuePair<string, JsonNode?>(b.Key, b.Value))),
            ["lifetime_privacy_budget_rho"] = policy.LifetimeBudget?.Rho,
            ["max_sites_per_person"] = policy.PrivacyUnit.MaxSitesPerPerson,
            ["consent_opt_in"] = AuditRecord.Codes(policy.ConsentOptIn.Where(c => c.Value).Select(c => c.Key).Order(StringComparer.Ordinal)),
            ["sensitive_allowed"] = new JsonObject(policy.SensitiveAllowed.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => new KeyValuePair<string, JsonNode?>(s.Key, AuditRecord.Codes(s.Value.Order(StringComparer.Ordinal))))),
            ["minimum_cell_size"] = policy.MinimumCellSize,
            ["retention_years"] = policy.RetentionYears,
            ["custom_sensitive_categories"] = AuditRecord.Counts(policy.CustomSensitiveCodes.Select(c => new KeyValuePair<string, long>(c.Key, c.Value.Count))),
            ["custom_sensitive_codes_sha256"] = policy.SensitiveCodesFingerprint,
        });

    public static AuditRecord PolicyApproved(string sha256, string previousSha256, string officer) => new(
        AuditActions.PolicyApproved, AuditOutcome.Success, new JsonObject { ["sha256"] = sha256, ["previous_sha256"] = previousSha256, ["approved_by"] = officer });

    public static AuditRecord RecordsPruned(string table, int rows, string olderThan, int retentionYears) => new(
        AuditActions.RecordsPruned, AuditOutcome.Success, new JsonObject { ["table"] = table, ["rows"] = rows, ["older_than"] = olderThan, ["retention_years"] = retentionYears });

    public static AuditRecord PolicyRejected(string sha256, string? inForceSha256, string error) => new(
        AuditActions.PolicyRejected,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["sha256"] = sha256, ["policy_in_force_sha256"] = inForceSha256, ["reason"] = AuditRecord.Text(error) });

    /// <param name="runId">The ingest_runs row.</param>
    /// <param name="files">Files read.</param>
    /// <param name="summary">The run's counts.</param>
    /// <param name="sensitiveCodesFingerprint">The site policy's custom sensitive code lists the records were flagged with (null: built-in lists only).</param>
    public static AuditRecord IngestRun(long runId, int files, IngestSummary summary, string? sensitiveCodesFingerprint = null) => new(
        AuditActions.IngestRun,
        AuditOutcome.Success,
        new JsonObject
        {
            ["run_id"] = runId,
            ["files"] = files,
            ["lines_read"] = summary.LinesRead,
            ["accepted"] = summary.Accepted,
            ["unchanged"] = summary.Unchanged,
            ["quarantined"] = summary.Quarantined,
            ["quarantine_reasons"] = AuditRecord.Counts(summary.QuarantineReasons),
            ["accepted_by_type"] = AuditRecord.Counts(summary.PerType),
            ["patients_updated"] = summary.PatientsUpdated,
            ["bytes"] = summary.Bytes,
            ["milliseconds"] = (long)Math.Round(summary.Seconds * 1000),
            ["custom_sensitive_codes_sha256"] = sensitiveCodesFingerprint,
            // Files not read to their end and quarantined lines over the caps: counts by reason, never which file.
            ["failed_files"] = AuditRecord.Counts(summary.FailedFiles.GroupBy(f => f.Code).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => KeyValuePair.Create(g.Key, (long)g.Count()))),
            ["quarantine_not_stored"] = summary.QuarantineNotStored,
            // Resources removed because their source deleted them (Bulk Data `deleted`), and deletions of resources not held: counts only.
            ["deleted"] = summary.Deleted,
            ["deleted_not_found"] = summary.DeletedNotFound,
        });

    /// <summary>A source added (issue 22): where it pulls from (a Bulk Data base URL, an OMOP host and database), never a credential or a user name.</summary>
    public static AuditRecord SourceAdded(Sources.DataSource source) => new(AuditActions.SourceAdded, AuditOutcome.Success, SourceDetail(source));

    /// <summary>A source removed, and whether its pull state (watermark, last outcome) was forgotten with it.</summary>
    public static AuditRecord SourceRemoved(Sources.DataSource source, bool stateForgotten)
    {
        var detail = SourceDetail(source);
        detail["pull_state_forgotten"] = stateForgotten;
        return new(AuditActions.SourceRemoved, AuditOutcome.Success, detail);
    }

    /// <summary>A scheduled pull not run (no puller for its kind) or not finished (the puller failed: the exception's type only, its message may quote a server).</summary>
    public static AuditRecord SourcePullNotDone(string name, Sources.SourceKind kind, string reason, string? error = null) => new(
        AuditActions.SourcePullNotDone,
        AuditOutcome.MinorFailure,
        new JsonObject { ["source"] = name, ["kind"] = Sources.SourceConfiguration.KindName(kind), ["reason"] = reason, ["error"] = error });

    private static JsonObject SourceDetail(Sources.DataSource source)
    {
        var detail = new JsonObject { ["source"] = source.Name, ["kind"] = Sources.SourceConfiguration.KindName(source.Kind), ["every"] = source.Every is { } e ? Sources.SourceConfiguration.FormatEvery(e) : null };
        if (source.Kind == Sources.SourceKind.FhirBulk)
        {
            detail["fhir_base"] = source.FhirBase;
            detail["group"] = source.Group is not null;
        }
        else
        {
            var (host, database) = Sources.SourceConfiguration.OmopServer(source.OmopConnection ?? string.Empty);
            (detail["host"], detail["database"], detail["schema"]) = (host, database, source.OmopSchema);
        }

        return detail;
    }

    public static AuditRecord IngestFailed(long runId, long linesRead, long accepted, long quarantined, Exception error) => new(
        AuditActions.IngestFailed,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["run_id"] = runId, ["lines_read"] = linesRead, ["accepted"] = accepted, ["quarantined"] = quarantined, ["error"] = error.GetType().Name });

    /// <summary>
    /// A data source pulled (issue 22), in the transaction that moved its watermark: the source's key (configuration: its name, or
    /// base URL, client id, level, group, types), what the ingest did, the export's error counts by severity and code (never their
    /// text), `since` and the transaction time. Never a status or file URL, a connection string, nothing from the data. One shape for
    /// every kind of source (an OMOP pull has no level, types or export errors).
    /// </summary>
    public static AuditRecord SourcePulled(string source, Sources.SourceKind kind, Sources.ExportLevel? level, IReadOnlyList<string>? types, Sources.PullSummary pull, long deletedMalformed = 0, int failedFiles = 0) => new(
        AuditActions.SourcePulled,
        AuditOutcome.Success,
        new JsonObject
        {
            ["source"] = source,
            ["kind"] = KindText(kind),
            ["level"] = level?.ToString().ToLowerInvariant(),
            ["types"] = AuditRecord.Codes((types ?? []).Order(StringComparer.Ordinal)),
            ["files"] = pull.Files,
            ["failed_files"] = failedFiles,
            ["lines_read"] = pull.LinesRead,
            ["accepted"] = pull.Accepted,
            ["quarantined"] = pull.Quarantined,
            ["deleted"] = pull.Deleted,
            ["deleted_malformed"] = deletedMalformed,
            ["export_errors"] = AuditRecord.Counts(pull.ExportErrors.OrderBy(e => e.Key, StringComparer.Ordinal)),
            ["since"] = pull.Since,
            ["transaction_time"] = pull.TransactionTime,
            ["retries"] = pull.Retries,
            ["bytes"] = pull.Bytes,
            ["complete"] = pull.Complete,
            ["milliseconds"] = (long)Math.Round(pull.Seconds * 1000),
        });

    /// <summary>A pull that failed: where (kick-off, status, manifest, download, deleted, error, ingest, cancelled), the HTTP status and a reason code; never the server's text.</summary>
    public static AuditRecord SourcePullFailed(string source, Sources.SourceKind kind, Sources.ExportLevel? level, string stage, int? httpStatus, string reasonCode, int retries = 0) => new(
        AuditActions.SourcePullFailed,
        AuditOutcome.SeriousFailure,
        new JsonObject
        {
            ["source"] = source,
            ["kind"] = KindText(kind),
            ["level"] = level?.ToString().ToLowerInvariant(),
            ["stage"] = stage,
            ["http_status"] = httpStatus,
            ["reason_code"] = reasonCode,
            ["retries"] = retries,
        });

    /// <summary>A source kind as node-config.json names it.</summary>
    private static string KindText(Sources.SourceKind kind) => kind == Sources.SourceKind.Omop ? "omop" : "fhir-bulk";

    /// <summary>Records excluded from features as sensitive, by category; patient-years whose consent denies a purpose, by purpose. Counts only.</summary>
    public static AuditRecord Exclusions(long runId, IReadOnlyDictionary<string, long> sensitiveRecords, IReadOnlyDictionary<string, long> consentDeniedPatientYears) => new(
        AuditActions.ExclusionsCounted,
        AuditOutcome.Success,
        new JsonObject
        {
            ["run_id"] = runId,
            ["sensitive_records_excluded"] = AuditRecord.Counts(sensitiveRecords.OrderBy(p => p.Key, StringComparer.Ordinal)),
            ["consent_denied_patient_years"] = AuditRecord.Counts(consentDeniedPatientYears.OrderBy(p => p.Key, StringComparer.Ordinal)),
        });

    /// <summary>
    /// A study decision; an accepted DP study with what it charged: ρ per hospital record, the policy's k and k²ρ; an accepted study with the
    /// data version it computes every round on (<c>data_version</c>, the store's published version when it was accepted).
    /// </summary>
    public static AuditRecord StudyDecision(StudySpec study, PolicyDecision decision, string policySha256, PrivacyCharge? charge = null, long? dataVersion = null) => new(
        AuditActions.StudyDecision,
        decision.Accept ? AuditOutcome.Success : AuditOutcome.MinorFailure,
        new JsonObject
        {
            ["decision"] = decision.Accept ? "accept" : "refuse",
            ["rule"] = decision.Rule,
            ["reason"] = AuditRecord.Text(decision.Reason),
            ["algorithm"] = study.Algorithm,
            ["min_nodes"] = study.MinNodes,
            ["max_nodes"] = study.MaxNodes,
            ["rounds"] = study.Rounds,
            ["policy_sha256"] = policySha256,
            ["privacy_charge"] = charge is null ? null : new JsonObject
            {
                ["rho_per_hospital_record"] = charge.Rho,
                ["max_sites_per_person"] = charge.Unit.MaxSitesPerPerson,
                ["charged_rho"] = charge.Charged,
            },
            ["data_version"] = dataVersion,
        },
        study.Id.Value,
        study.PurposeOfUse.Code);

    /// <summary>De-identified features written out on the node's host (`ftwin node features export`): which scope, how many rows and columns; never the rows.</summary>
    /// <summary>
    /// A facility twin run on the node's own patients (45 CFR 164.312(b): use of the data is recorded): the command, the purpose
    /// of use the rows were read under, the cohort's size and feature year, the years and replicates simulated, whether a scenario
    /// ran, and the models used (ids; fallbacks named). Never a pseudonym, a patient's value or the table itself.
    /// </summary>
    public static AuditRecord FacilityTwinRun(string purpose, int featureYear, int cohortSize, int years, int replicates, bool scenario,
        IEnumerable<string> modelIds, IEnumerable<string> fallbackOutcomes) => new(
        AuditActions.FacilityTwinRun, AuditOutcome.Success, new JsonObject
        {
            ["command"] = "node twin facility",
            ["purpose"] = purpose,
            ["feature_year"] = featureYear,
            ["cohort_size"] = cohortSize,
            ["years"] = years,
            ["replicates"] = replicates,
            ["scenario"] = scenario,
            ["models"] = AuditRecord.Codes(modelIds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)),
            ["fallback_outcomes"] = AuditRecord.Codes(fallbackOutcomes.Order(StringComparer.Ordinal)),
        });

    public static AuditRecord FeaturesExported(string? studyId, long rows, int columns) => new(
        AuditActions.FeaturesExported, AuditOutcome.Success, new JsonObject { ["scope"] = studyId is null ? "all" : "study", ["rows"] = rows, ["columns"] = columns }, studyId);

    /// <summary>
    /// A patient twin run on the node's host (`ftwin node twin patients`): purpose, how many patients were scored and listed, the
    /// ranking, the scenario's digest and the models used by id; never a pseudonym or a patient's value.
    /// </summary>
    public static AuditRecord PatientTwinRun(string command, string purpose, long scored, long listed, string rankBy, string? scenarioSha256, IReadOnlyList<string> modelsUsed, IReadOnlyList<string> missingOutcomes) => new(
        AuditActions.PatientTwinRun, AuditOutcome.Success, new JsonObject
        {
            ["command"] = command,
            ["purpose"] = purpose,
            ["patients_scored"] = scored,
            ["patients_listed"] = listed,
            ["rank_by"] = rankBy,
            ["scenario_sha256"] = scenarioSha256,
            ["models_used"] = new JsonArray([.. modelsUsed.Select(m => (JsonNode?)JsonValue.Create(m))]),
            ["missing_outcomes"] = new JsonArray([.. missingOutcomes.Select(m => (JsonNode?)JsonValue.Create(m))]),
        }, null, purpose);

    /// <summary>
    /// Pseudonyms mapped back to the hospital's own patient ids (`ftwin node twin reidentify`), deliberately and locally: purpose,
    /// worklist size, how many were found, the SHA-256 of the owner-only output file and who ran it; never an identifier or a pseudonym.
    /// </summary>
    public static AuditRecord Reidentification(string purpose, long worklist, long matched, string outputSha256, string operatorName) => new(
        AuditActions.Reidentification, AuditOutcome.Success, new JsonObject
        {
            ["purpose"] = purpose,
            ["worklist_size"] = worklist,
            ["matched"] = matched,
            ["output_sha256"] = outputSha256,
            ["operator"] = AuditRecord.Text(operatorName, 200),
        }, null, purpose);

    /// <summary>A re-identification the site policy refused, and the rule (e.g. reidentification_purpose_refused).</summary>
    public static AuditRecord ReidentificationRefused(string purpose, string rule, string reason, string operatorName) => new(
        AuditActions.ReidentificationRefused, AuditOutcome.MinorFailure, new JsonObject
        {
            ["purpose"] = AuditRecord.Text(purpose, 40),
            ["rule"] = rule,
            ["reason"] = AuditRecord.Text(reason),
            ["operator"] = AuditRecord.Text(operatorName, 200),
        });

    public static AuditRecord KeyShareGenerated(WorkItem work, string publicShareSha256) =>
        Round(AuditActions.KeyShareGenerated, AuditOutcome.Success, work, new JsonObject { ["public_share_sha256"] = publicShareSha256, ["crp_seed"] = work.CrpSeed is null ? null : Convert.ToHexStringLower(work.CrpSeed) });

    /// <summary>What left the node: the ciphertext's digest and size, and the kinds and sizes of the statistics inside it (block names and lengths, never values).</summary>
    public static AuditRecord Submission(WorkItem work, string ciphertextSha256, int valueCount, int ciphertextBytes, IReadOnlyList<Crypto.Codec.FixedPointBlock> blocks, int draw = 0) =>
        Round(AuditActions.Submission, AuditOutcome.Success, work, new JsonObject
        {
            ["algorithm"] = work.Request?.Algorithm,
            ["ciphertext_sha256"] = ciphertextSha256,
            ["value_count"] = valueCount,
            ["ciphertext_bytes"] = ciphertextBytes,
            ["statistics"] = new JsonArray([.. blocks.Select(b => (JsonNode)new JsonObject { ["kind"] = b.Name, ["values"] = b.Length })]),
            ["noise_draw"] = draw == 0 ? null : draw,
        });

    /// <summary>
    /// A complete commitment set of an attempt, checked against the pinned roster before this node revealed anything: which member
    /// committed to which key share or ciphertext (their SHA-256), so every contribution in a sum the node helped decrypt is
    /// attributable from this node's own trail.
    /// </summary>
    public static AuditRecord CommitmentSetAccepted(WorkItem work, CommitmentSet set, FederationRoster roster) =>
        Round(AuditActions.CommitmentSetAccepted, AuditOutcome.Success, work, new JsonObject
        {
            ["kind"] = set.Kind,
            ["commitment_set_sha256"] = set.Digest(),
            ["roster_version"] = roster.Version,
            ["commitments"] = new JsonArray([.. set.Commitments.OrderBy(c => c.NodePublicKey, StringComparer.Ordinal).Select(c => (JsonNode)new JsonObject
            {
                ["member"] = roster.MemberOf(c.NodePublicKey)?.Name,
                ["node_key"] = c.NodePublicKey,
                ["committed_sha256"] = Convert.ToHexStringLower(c.Digest),
            })]),
        });

    /// <summary>
    /// The node's decryption share: the aggregate it decrypts, the commitment set it was checked against and the submitters it sums
    /// (the set the node binds this release to: docs/threat-model.md, "attempt differencing"), and the share's own digest.
    /// </summary>
    public static AuditRecord DecryptionShareIssued(WorkItem work, string aggregateSha256, string updateSetSha256, IReadOnlyList<string> submitterKeys, string submittersSha256, string shareSha256, int ciphertexts) =>
        Round(AuditActions.DecryptionShareIssued, AuditOutcome.Success, work, new JsonObject
        {
            ["aggregate_sha256"] = aggregateSha256,
            ["submissions"] = submitterKeys.Count,
            ["update_commitment_set_sha256"] = updateSetSha256,
            ["submitters"] = AuditRecord.Codes(submitterKeys),
            ["submitters_sha256"] = submittersSha256,
            ["ciphertexts"] = ciphertexts,
            ["share_sha256"] = shareSha256,
        });

    /// <summary>A t-of-n study: the Shamir shares this node dealt (recipients and the digests of the sealed shares; never a share).</summary>
    public static AuditRecord CommitteeSharesDealt(WorkItem work, int threshold, IReadOnlyList<ShareManifestEntry> manifest, int bytes) =>
        Round(AuditActions.CommitteeSharesDealt, AuditOutcome.Success, work, new JsonObject
        {
            ["threshold"] = threshold,
            ["recipients"] = AuditRecord.Codes([.. manifest.Select(m => m.RecipientKey)]),
            ["sealed_shares_sha256"] = new JsonArray([.. manifest.Select(m => (JsonNode)m.Sha256)]),
            ["bytes"] = bytes,
        });

    /// <summary>A t-of-n study: the committee secret formed from every dealer's share (dealers by key, the node's point), sealed at rest.</summary>
    public static AuditRecord CommitteeSecretFormed(WorkItem work, int threshold, int point, IReadOnlyList<string> dealerKeys) =>
        Round(AuditActions.CommitteeSecretFormed, AuditOutcome.Success, work, new JsonObject
        {
            ["threshold"] = threshold,
            ["point"] = point,
            ["dealers"] = AuditRecord.Codes(dealerKeys),
        });

    /// <summary>A committee secret deleted, and why (share_issued, superseded, deadline).</summary>
    public static AuditRecord CommitteeSecretDeleted(string study, int round, int attempt, string reason) => new(
        AuditActions.CommitteeSecretDeleted, AuditOutcome.Success, new JsonObject { ["round"] = round, ["attempt"] = attempt, ["reason"] = reason }, study);

    public static AuditRecord RosterPinned(FederationRoster roster, string sha256, string approvedBy, string source, FederationRoster? previous) => new(
        AuditActions.RosterPinned,
        AuditOutcome.Success,
        new JsonObject
        {
            ["federation"] = roster.Federation,
            ["version"] = roster.Version,
            ["sha256"] = sha256,
            ["approved_by"] = approvedBy,
            ["source"] = AuditRecord.Text(source, 200),
            ["members"] = new JsonArray([.. roster.Members.Select(m => (JsonNode)new JsonObject { ["name"] = m.Name, ["node_key"] = m.NodeKey })]),
            ["previous_version"] = previous?.Version,
            ["added"] = AuditRecord.Codes(roster.Members.Where(m => previous?.MemberOf(m.NodeKey) is null).Select(m => m.Name)),
            ["removed"] = AuditRecord.Codes((previous?.Members ?? []).Where(m => roster.MemberOf(m.NodeKey) is null).Select(m => m.Name)),
        });

    public static AuditRecord RosterRefused(string documentSha256, string source, string rule, string reason) => new(
        AuditActions.RosterRefused,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["document_sha256"] = documentSha256, ["source"] = AuditRecord.Text(source, 200), ["rule"] = rule, ["reason"] = AuditRecord.Text(reason) });

    /// <summary>A registry model the node stored after checking the coordinator's signature on it (never patient data: a model is aggregate coefficients).</summary>
    public static AuditRecord ModelReceived(SignedModel model, bool released, string? notReleasedReason) => new(
        AuditActions.ModelReceived,
        AuditOutcome.Success,
        new JsonObject
        {
            ["model_id"] = AuditRecord.Text(model.Id, 200),
            ["version"] = model.Version,
            ["kind"] = AuditRecord.Text(model.Kind, 40),
            ["study"] = AuditRecord.Text(model.StudyId, 200),
            ["outcome"] = AuditRecord.Text(model.Outcome, 100),
            ["released_at"] = AuditRecord.Text(model.ReleasedAt, 40),
            ["released"] = released,
            ["not_released_reason"] = notReleasedReason is null ? null : AuditRecord.Text(notReleasedReason),
        });

    /// <summary>A model the node refused, on receipt or when a twin would use its stored copy, with the rule (<c>model_signature_invalid</c>, ...).</summary>
    public static AuditRecord ModelRefused(string modelId, string version, string source, string rule, string reason) => new(
        AuditActions.ModelRefused,
        AuditOutcome.SeriousFailure,
        new JsonObject
        {
            ["model_id"] = AuditRecord.Text(modelId, 200),
            ["version"] = AuditRecord.Text(version, 64),
            ["source"] = source,
            ["rule"] = rule,
            ["reason"] = AuditRecord.Text(reason),
        });

    /// <summary>A contribution the node refused to make, the rule that refused it and why (a check on the coordinator's announcement, the roster, a commitment, a deadline, a superseded attempt).</summary>
    public static AuditRecord Refused(string action, WorkItem work, string reason, string? rule = null)
    {
        var detail = new JsonObject { ["reason"] = AuditRecord.Text(reason) };
        if (rule is not null)
        {
            detail["rule"] = rule; // the named check that refused (AcceptedStudy's and ProtocolRules' rule names)
        }

        return Round(action, AuditOutcome.MinorFailure, work, detail);
    }

    public static AuditRecord Enrolled(string nodeId, Uri coordinator, string coordinatorPublicKey) => new(
        AuditActions.Enrolled,
        AuditOutcome.Success,
        new JsonObject { ["node_id"] = nodeId, ["coordinator_url"] = coordinator.ToString(), ["coordinator_public_key"] = coordinatorPublicKey });

    public static AuditRecord EnrollmentRefused(Uri coordinator, string? presentedKey, string reason) => new(
        AuditActions.EnrollmentRefused,
        AuditOutcome.MinorFailure,
        new JsonObject { ["coordinator_url"] = coordinator.ToString(), ["coordinator_public_key"] = presentedKey, ["reason"] = AuditRecord.Text(reason) });

    public static AuditRecord EnrollmentFailed(Uri coordinator, int status, string reason) => new(
        AuditActions.EnrollmentFailed,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["coordinator_url"] = coordinator.ToString(), ["status"] = status, ["reason"] = AuditRecord.Text(reason) });

    public static AuditRecord CoordinatorResponseRejected(int status, string reason) => new(
        AuditActions.CoordinatorResponseRejected,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["status"] = status, ["reason"] = AuditRecord.Text(reason, 300) });

    /// <summary>
    /// The node's identity key replaced by one the coordinator accepted (node/Federation/IdentityRotation.cs): both keys,
    /// and both keys' signatures over the rotation statement the coordinator checked, so a verifier can tell that the
    /// handover was made by the holder of the old key (protocol/Audit/IdentityKeyChain.cs).
    /// </summary>
    public static AuditRecord IdentityKeyRotated(string nodeId, string oldPublicKey, string newPublicKey, byte[] oldKeySignature, byte[] newKeySignature, DateTimeOffset validFrom, string coordinatorUrl)
    {
        var detail = IdentityKeyChain.RotationDetail(nodeId, oldPublicKey, newPublicKey, oldKeySignature, newKeySignature);
        detail["algorithm"] = "ed25519";
        detail["coordinator_url"] = coordinatorUrl;
        detail["coordinator_valid_from"] = AuditChain.Timestamp(validFrom);
        return new AuditRecord(AuditActions.IdentityKeyRotated, AuditOutcome.Success, detail);
    }

    /// <summary>A key rotation the coordinator refused (the pending key was destroyed; the old key stays the identity).</summary>
    public static AuditRecord IdentityKeyRotationFailed(string nodeId, string oldPublicKey, string newPublicKey, int status, string reason) => new(
        AuditActions.IdentityKeyRotationFailed, AuditOutcome.MinorFailure, IdentityKeyChain.RotationRefusalDetail(nodeId, oldPublicKey, newPublicKey, status, reason));

    /// <summary>
    /// The coordinator refused this node's signed request because it no longer accepts its identity (revoked, unknown, or
    /// another key enrolled under its node id), in a response whose signature verified under the pinned coordinator key.
    /// </summary>
    public static AuditRecord EnrollmentRevoked(string nodeId, string coordinatorUrl, string kind, int status, string problemType, string? enrolledKeySha256, string ownKeySha256, string reason) => new(
        AuditActions.EnrollmentRevoked,
        AuditOutcome.SeriousFailure,
        new JsonObject
        {
            ["node_id"] = nodeId,
            ["coordinator_url"] = coordinatorUrl,
            ["kind"] = kind,
            ["status"] = status,
            ["problem_type"] = AuditRecord.Text(problemType, 200),
            ["enrolled_key_sha256"] = enrolledKeySha256 is null ? null : AuditRecord.Text(enrolledKeySha256, 64),
            ["own_key_sha256"] = ownKeySha256,
            ["reason"] = AuditRecord.Text(reason, 300),
        });

    public static AuditRecord AdminAuthenticationFailure(string method, string path) => new(
        AuditActions.AdminAuthenticationFailure,
        AuditOutcome.SeriousFailure,
        new JsonObject { ["method"] = AuditRecord.Text(method, 16), ["path"] = AuditRecord.Text(path, 200) });

    private static AuditRecord Round(string action, AuditOutcome outcome, WorkItem work, JsonObject detail)
    {
        detail["round"] = work.Round;
        detail["attempt"] = work.Attempt;
        return new AuditRecord(action, outcome, detail, work.Study.Id.Value, work.Study.PurposeOfUse.Code);
    }
}
