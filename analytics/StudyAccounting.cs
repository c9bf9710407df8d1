using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics;

/// <summary>
/// What a DP study's releases really spend at each node, from the study alone, for every algorithm that adds noise: the
/// coordinator refuses to create a study whose true ρ exceeds its stated one by more than 1%, and every node refuses it at
/// its decision on its own computation (it never trusts the coordinator's check). The worst case is taken over h (the study's
/// dp_min_honest_nodes) to N honest shares, N = the fewer of the study's max_nodes and the parties the encryption scheme
/// sums (no sum can hold more shares than it has key shares).
/// </summary>
public static class StudyAccounting
{
    /// <summary>The study's account, or null for a study without dp_rho. A study that cannot be read throws <see cref="StudyFileException"/>.</summary>
    public static PrivacyAccount? Account(StudySpec study, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(study);
        if (StudyPrivacy.Rho(study.Parameters) <= 0)
        {
            return null;
        }

        var maxShares = Math.Max(Math.Min(study.MaxNodes, maxParties), StudyPrivacy.MinHonestNodes(study));
        try
        {
            return study.Algorithm switch
            {
                CompositionStudy.AlgorithmName => CompositionStudy.Parse(study).Account(maxShares),
                Census.OutcomeTotalsStudy.AlgorithmName => Census.OutcomeTotalsStudy.Parse(study).Account(maxShares),
                GlmStudy.AlgorithmName => GlmStudy.Parse(study, maxParties).Account(maxShares),
                FedAvgStudy.AlgorithmName => FedAvgStudy.Parse(study, maxParties).Account(maxParties, maxShares),
                _ => throw new StudyFileException("algorithm", $"{study.Algorithm} adds no noise, so it has no privacy account"),
            };
        }
        catch (ArgumentException e)
        {
            throw new StudyFileException("parameters", e.Message);
        }
    }

    /// <summary>The account, refused (naming dp_rho, with the figures) when the true ρ exceeds the stated one by more than 1%.</summary>
    public static PrivacyAccount? Require(StudySpec study, int maxParties)
    {
        var account = Account(study, maxParties);
        return account is null || account.Holds
            ? account
            : throw new StudyFileException("parameters." + StudyPrivacy.RhoParameter, $"{account.Describe()}: more than 1% over the stated rho, so the stated rho would be wrong");
    }
}
