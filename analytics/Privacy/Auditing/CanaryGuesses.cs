namespace FederatedTwin.Analytics.Privacy.Auditing;

/// <summary>What an audit certifies: among m canaries it guessed r and got v right, so ε ≥ the bound at this confidence.</summary>
public sealed record AuditBound(int Canaries, int Guesses, int Correct, double Delta, double Confidence, double EpsilonLowerBound);

/// <summary>
/// The guesser of the one-run audit (Steinke, Nasr &amp; Jagielski 2023, §4 "abstain"): rank the canaries by a score that
/// is larger when the canary's presence is more likely, guess "included" for the k highest, "excluded" for the k lowest and
/// abstain on the rest; count the correct guesses and bound ε with <see cref="OneRunAudit"/>. Guessing only where the score
/// is extreme is what lets an audit certify a large ε: a handful of near-certain guesses beats many coin flips.
/// The best k is not known in advance (it depends on how private the mechanism really is), so the guesser tries a fixed
/// ladder of k, each at significance α/L (Bonferroni over the L rungs), and reports the rung with the largest bound: the
/// reported bound then holds at confidence 1 − α whichever rung it comes from.
/// </summary>
public static class CanaryGuesses
{
    /// <summary>k/m on each side for the ladder: from a few very confident guesses to half the canaries.</summary>
    public static IReadOnlyList<double> DefaultLadder { get; } = [0.01, 0.03, 0.1, 0.25];

    /// <summary>Correct guesses when the <paramref name="perSide"/> highest scores are guessed in and as many lowest out.</summary>
    public static int Correct(IReadOnlyList<double> scores, IReadOnlyList<bool> included, int perSide)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(included);
        if (scores.Count != included.Count)
        {
            throw new ArgumentException("one inclusion bit per score", nameof(included));
        }

        if (perSide < 0 || 2 * perSide > scores.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(perSide), "the two guessed ends cannot overlap");
        }

        if (scores.Any(double.IsNaN))
        {
            throw new ArgumentException("a score is not a number", nameof(scores));
        }

        // Ties are broken by canary index, which is independent of the inclusion bits: still a function of the output.
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ThenBy(i => i).ToArray();
        int correct = 0;
        for (int j = 0; j < perSide; j++)
        {
            correct += included[order[^(j + 1)]] ? 1 : 0;
            correct += included[order[j]] ? 0 : 1;
        }

        return correct;
    }

    /// <summary>
    /// The audit's bound at <paramref name="confidence"/>: the best rung of the ladder, each rung bounded at significance
    /// (1 − confidence)/L. <paramref name="ladder"/> holds k/m per side (default <see cref="DefaultLadder"/>).
    /// </summary>
    public static AuditBound Audit(IReadOnlyList<double> scores, IReadOnlyList<bool> included, double delta, double confidence, IReadOnlyList<double>? ladder = null)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (!(confidence > 0 && confidence < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(confidence), "the confidence must be in (0, 1)");
        }

        ladder ??= DefaultLadder;
        int m = scores.Count;
        var rungs = ladder.Select(f => f > 0 && f <= 0.5 ? Math.Max(1, (int)Math.Floor(f * m)) : throw new ArgumentOutOfRangeException(nameof(ladder), "each rung guesses a fraction in (0, ½] of the canaries on each side"))
            .Where(k => 2 * k <= m).Distinct().ToList();
        if (rungs.Count == 0)
        {
            throw new ArgumentException("an audit needs at least two canaries", nameof(scores));
        }

        double significance = (1 - confidence) / ladder.Count;
        AuditBound? best = null;
        foreach (var k in rungs)
        {
            int correct = Correct(scores, included, k);
            var epsilon = OneRunAudit.EpsilonLowerBound(m, 2 * k, correct, delta, significance);
            if (best is null || epsilon > best.EpsilonLowerBound)
            {
                best = new AuditBound(m, 2 * k, correct, delta, confidence, epsilon);
            }
        }

        return best!;
    }
}
