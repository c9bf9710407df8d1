using FederatedTwin.Analytics.Studies;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// The study as this node accepted it (decisions.spec_json) and its zCDP ρ per hospital record (privacy_ledger.rho; the ledger's
/// charge is k²ρ in the policy's privacy unit, <see cref="Policy.PrivacyUnit"/>, which the rounds' own ρ is not). Every round
/// the coordinator asks for is checked against it before the node computes or releases anything (docs/threat-model.md):
/// the coordinator re-sends the study and derives each round's parameters from it, and a malicious one could otherwise
/// raise dp_min_honest_nodes h (each node's noise share is σ²/h, so a larger h would thin every share), drop or change
/// dp_rho, the clipping bounds or the planned rounds, or simply run more rounds than planned — each extra round a release
/// of fresh noisy statistics the ledger never charged. h is a study parameter (or derived from min_nodes), so it is held
/// both by <see cref="CheckSameStudy"/> and, as the round parameter every DP round carries, by <see cref="CheckRequest"/>.
/// Rule names: <see cref="NotAccepted"/>, <see cref="StudyChanged"/>, <see cref="RoundParameters"/>, <see cref="PlannedRounds"/>,
/// <see cref="RoundRho"/>, <see cref="StudyBudget"/>, and at the decision <see cref="TrueRho"/>.
/// </summary>
public sealed record AcceptedStudy(StudySpec Spec, double AcceptedRho, long? DataVersion = null, string? SnapshotReleased = null)
{
    /// <summary>The study's pinned data version was released (its last round was long decrypted, or it was idle here for days): no round computes on other data.</summary>
    public const string SnapshotReleasedRule = "snapshot_released";

    /// <summary>The node never accepted the study (refused it, or was never offered it): it contributes nothing.</summary>
    public const string NotAccepted = "study_not_accepted";

    /// <summary>The work item's study differs from the one accepted (min_nodes, rounds, purpose, parameters, …).</summary>
    public const string StudyChanged = "study_changed";

    /// <summary>The round's parameters are not the accepted study's plus what the coordinator derives from it exactly.</summary>
    public const string RoundParameters = "round_parameters";

    /// <summary>A round number outside 1…the rounds a DP study's ρ was split over.</summary>
    public const string PlannedRounds = "planned_rounds";

    /// <summary>The round would spend another ρ than the accepted ρ over the planned rounds.</summary>
    public const string RoundRho = "round_rho";

    /// <summary>The study's rounds together would spend more than the study was accepted (and charged) for.</summary>
    public const string StudyBudget = "study_budget";

    /// <summary>
    /// At the decision: the study's true ρ (its releases as sums of discrete Gaussian shares, Kairouz, Liu &amp; Steinke 2021
    /// Prop. 14, worst case over h to max_nodes honest shares) exceeds its stated dp_rho by more than 1%, or cannot be computed.
    /// </summary>
    public const string TrueRho = "dp_true_rho";

    /// <summary>Slack for the floating-point ρ arithmetic (ρ/rounds summed back): far below any meaningful spend.</summary>
    private const double Tolerance = 1e-9;

    /// <summary>The accepted study of <paramref name="study"/>, or a refusal (rule <see cref="NotAccepted"/>).</summary>
    public static AcceptedStudy Load(NodeStore store, StudyId study)
    {
        ArgumentNullException.ThrowIfNull(store);
        var row = store.Read(c => StudyQueries.Accepted(c, study.Value));
        if (row is not { Accept: 1 } accepted)
        {
            throw new ParticipationRefusedException(
                row is null ? $"This node was never offered study {study}, so it never accepted it: it contributes nothing to it." : $"This node refused study {study}: it contributes nothing to it.",
                NotAccepted);
        }

        // A decision from before the study was stored with it (schema v4) cannot be checked, so it is not trusted.
        var spec = accepted.SpecJson is { } json
            ? WireJson.Deserialize<StudySpec>(System.Text.Encoding.UTF8.GetBytes(json))
            : throw new ParticipationRefusedException($"This node's decision on study {study} does not hold the study it accepted, so no round can be checked against it.", NotAccepted);
        var snapshot = store.Read(c => StudyQueries.Snapshot(c, study.Value));
        return new AcceptedStudy(spec, accepted.Charged ?? 0, snapshot?.DataVersion, snapshot?.ReleaseReason);
    }

    /// <summary>
    /// The data every round of the study is computed on: the version the node published when it accepted the study (pinned in
    /// the decision's transaction, docs/architecture.md "Snapshots"), whatever was ingested since. A study accepted before studies
    /// were pinned reads the current data, as it always did. Once the pin was released, a round is refused (rule
    /// <see cref="SnapshotReleasedRule"/>): the rows it saw may be gone, and other data would mix into its result.
    /// </summary>
    public Features.DataSnapshot Data(NodeStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (SnapshotReleased is { } why)
        {
            throw new ParticipationRefusedException(
                $"Study {Spec.Id} computed on data version {DataVersion}, released at this node ({why}): no round of it is computed on other data.", SnapshotReleasedRule);
        }

        return DataVersion is { } version ? new Features.DataSnapshot(store, version) : Features.DataSnapshot.Current(store);
    }

    /// <summary>The study in a work item must be the accepted one, field by field and parameter by parameter.</summary>
    public void CheckSameStudy(StudySpec offered)
    {
        ArgumentNullException.ThrowIfNull(offered);
        var changed = new List<string>();
        void Compare<T>(string field, T sent, T accepted)
        {
            if (!EqualityComparer<T>.Default.Equals(sent, accepted))
            {
                changed.Add($"{field} {sent} (accepted {accepted})");
            }
        }

        Compare("algorithm", offered.Algorithm, Spec.Algorithm);
        Compare("purpose of use", offered.PurposeOfUse, Spec.PurposeOfUse);
        Compare("min_nodes", offered.MinNodes, Spec.MinNodes);
        Compare("max_nodes", offered.MaxNodes, Spec.MaxNodes);
        Compare("rounds", offered.Rounds, Spec.Rounds);
        Compare("phase_deadline_seconds", offered.PhaseDeadlineSeconds, Spec.PhaseDeadlineSeconds);
        Compare("committee_threshold", offered.CommitteeThreshold, Spec.CommitteeThreshold);
        changed.AddRange(Differences(Spec.Parameters ?? new Dictionary<string, string>(), offered.Parameters ?? new Dictionary<string, string>(), "parameters."));
        if (changed.Count > 0)
        {
            throw new ParticipationRefusedException($"The coordinator sent study {Spec.Id} with {string.Join("; ", changed)}: not the study this node accepted.", StudyChanged);
        }
    }

    /// <summary>
    /// The round's request must be exactly the accepted study's parameters with the keys the algorithm derives from the
    /// study (purpose_of_use, min_nodes, dp_min_honest_nodes, …) set to the accepted values; the only other keys allowed are the algorithm's
    /// per-round state (the GLM request, FedAvg's weights or point), which its own code validates against the study.
    /// </summary>
    public void CheckRequest(RoundRequest request, ILocalAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(algorithm);
        if (request.Algorithm != Spec.Algorithm || algorithm.Name != Spec.Algorithm)
        {
            throw new ParticipationRefusedException($"The round asks for algorithm {request.Algorithm}; study {Spec.Id} was accepted for {Spec.Algorithm}.", RoundParameters);
        }

        var expected = new Dictionary<string, string>(Spec.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var (key, value) in algorithm.Basis(Spec).Parameters)
        {
            expected[key] = value;
        }

        var perRound = algorithm.StateKeys;
        var sent = request.Parameters.Where(p => !perRound.Contains(p.Key) || expected.ContainsKey(p.Key)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var differences = Differences(expected, sent, string.Empty);
        if (differences.Count > 0)
        {
            throw new ParticipationRefusedException($"Round parameters differ from study {Spec.Id} as accepted: {string.Join("; ", differences)}.", RoundParameters);
        }
    }

    /// <summary>
    /// Round numbers start at 1; a study with dp_rho releases noisy statistics in at most the rounds its ρ was split over
    /// (the algorithm's plan, derived from the accepted study), and a round beyond them is refused: it would spend budget
    /// the ledger never charged.
    /// </summary>
    public void CheckRound(int round, ILocalAlgorithm algorithm, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (round < 1)
        {
            throw new ParticipationRefusedException($"Round {round} is not a round of study {Spec.Id} (rounds start at 1).", PlannedRounds);
        }

        if (Planned(algorithm, maxParties) is { } planned && round > planned)
        {
            throw new ParticipationRefusedException(
                FormattableString.Invariant($"Round {round} is beyond the {planned} round(s) study {Spec.Id} planned and was charged for (zCDP rho {AcceptedRho:G4} per hospital record): another noisy release would spend privacy budget this node never agreed to."),
                PlannedRounds);
        }
    }

    /// <summary>
    /// The ρ this round would spend (<paramref name="roundRho"/>, from the request) must be the accepted ρ over the planned
    /// rounds, and with what the study's other rounds already spent (<paramref name="spentByOtherRounds"/>, privacy_rounds)
    /// must stay within the charge. A study accepted without noise may spend nothing.
    /// </summary>
    public void CheckSpend(double roundRho, double spentByOtherRounds, ILocalAlgorithm algorithm, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (roundRho <= 0)
        {
            return;
        }

        if (Planned(algorithm, maxParties) is not { } planned || AcceptedRho <= 0)
        {
            throw new ParticipationRefusedException(FormattableString.Invariant($"The round would spend zCDP rho {roundRho:G4}, but study {Spec.Id} was accepted without noise and nothing was charged for it."), RoundRho);
        }

        var expected = AcceptedRho / planned;
        if (Math.Abs(roundRho - expected) > Tolerance * expected)
        {
            throw new ParticipationRefusedException(
                FormattableString.Invariant($"The round would spend zCDP rho {roundRho:G6}; study {Spec.Id} was accepted for {AcceptedRho:G6} over {planned} round(s), {expected:G6} each."), RoundRho);
        }

        if (spentByOtherRounds + roundRho > AcceptedRho * (1 + Tolerance))
        {
            throw new ParticipationRefusedException(
                FormattableString.Invariant($"Study {Spec.Id} already spent zCDP rho {spentByOtherRounds:G6} of the {AcceptedRho:G6} it was accepted for; this round's {roundRho:G6} would exceed it."), StudyBudget);
        }
    }

    /// <summary>The rounds a DP study's ρ is split over, from the accepted study; null for a study without noise.</summary>
    private int? Planned(ILocalAlgorithm algorithm, int maxParties)
    {
        if (StudyRho() <= 0)
        {
            return null;
        }

        try
        {
            // An algorithm that cannot say how its ρ is split is not trusted with a DP study: refused, never unlimited.
            return algorithm.PlannedRounds(Spec, maxParties)
                ?? throw new ParticipationRefusedException($"Study {Spec.Id} declares dp_rho, but {Spec.Algorithm} has no plan of rounds to hold it to.", PlannedRounds);
        }
        catch (FormatException e)
        {
            throw new ParticipationRefusedException($"Study {Spec.Id} as accepted cannot be read: {e.Message}", PlannedRounds);
        }
    }

    private double StudyRho()
    {
        try
        {
            return StudyPrivacy.Rho(Spec.Parameters);
        }
        catch (StudyFileException e)
        {
            throw new ParticipationRefusedException($"Study {Spec.Id} as accepted has an unreadable dp_rho: {e.Message}", RoundRho);
        }
    }

    private static List<string> Differences(IReadOnlyDictionary<string, string> expected, IReadOnlyDictionary<string, string> sent, string prefix)
    {
        var differences = new List<string>();
        foreach (var (key, value) in expected.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!sent.TryGetValue(key, out var actual))
            {
                differences.Add($"{prefix}{key} missing (accepted '{Short(value)}')");
            }
            else if (actual != value)
            {
                differences.Add($"{prefix}{key} '{Short(actual)}' (accepted '{Short(value)}')");
            }
        }

        differences.AddRange(sent.Keys.Where(k => !expected.ContainsKey(k)).Order(StringComparer.Ordinal).Select(k => $"{prefix}{k} added (not in the accepted study)"));
        return differences;
    }

    /// <summary>Parameter values are the study's own (no patient data), but kept short in reasons and audits.</summary>
    private static string Short(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 77), "...");
}
