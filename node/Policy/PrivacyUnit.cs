using System.Globalization;

namespace FederatedTwin.Node.Policy;

/// <summary>
/// Whom the node's privacy guarantee protects: the site policy's <c>max_sites_per_person</c> (docs/privacy.md, "The privacy
/// unit"). A DP release of the federation is one sum over the participating hospitals, to which each hospital adds what each of
/// its patients contributes, clipped to the study's sensitivity Δ, and its share of the noise. A study's declared zCDP ρ is
/// therefore per <em>hospital record</em>: the sum without one patient's records at one hospital. A person treated at k
/// hospitals of the federation is k hospital records in the same sum, which moves by up to k·Δ, so for that person the release
/// is k²ρ-zCDP (group privacy: Bun &amp; Steinke 2016, Prop. 1.9; tight for the Gaussian mechanism, whose ρ is Δ²/2σ²).
/// Where the policy bounds k, the node charges every release k²ρ, and its budgets and reports are per person; where it does
/// not, they are per hospital record. No node can count k: patients are pseudonymized under each node's own key and never
/// linked across hospitals, so k is an assumption the site states, not a measurement.
/// </summary>
/// <param name="MaxSitesPerPerson">The policy's max_sites_per_person; null when it sets none (the guarantee is per hospital record).</param>
public readonly record struct PrivacyUnit(int? MaxSitesPerPerson)
{
    /// <summary>Whether the guarantee is per person (the policy bounds the hospitals a person is treated at).</summary>
    public bool IsPerson => MaxSitesPerPerson is not null;

    /// <summary>k: the hospital records one protected unit may be; 1 for a hospital record.</summary>
    public int GroupSize => MaxSitesPerPerson ?? 1;

    /// <summary>k², what a release's ρ is multiplied by in the ledger (group privacy for zCDP).</summary>
    public double GroupFactor => (double)GroupSize * GroupSize;

    /// <summary>What a release of zCDP ρ per hospital record costs in this unit: k²ρ.</summary>
    public double Charge(double rho) => GroupFactor * rho;

    /// <summary>"person" or "hospital record", for tables.</summary>
    public string Name => IsPerson ? "person" : "hospital record";

    /// <summary>A charge as a reason states it: "zCDP rho 0.5", or "zCDP rho 4.5 (3² × 0.5 per hospital record)".</summary>
    public string ChargeText(double rho) => GroupSize == 1
        ? string.Create(CultureInfo.InvariantCulture, $"zCDP rho {rho:G4}")
        : string.Create(CultureInfo.InvariantCulture, $"zCDP rho {Charge(rho):G4} ({GroupSize}² × {rho:G4} per hospital record)");

    /// <summary>The guarantee's unit in one sentence, as the status page, the compliance report and decisions state it.</summary>
    public string Statement => IsPerson
        ? string.Create(CultureInfo.InvariantCulture,
            $"Per person: the site policy states that a person is treated at no more than {GroupSize} hospital{(GroupSize == 1 ? string.Empty : "s")} of the federation (max_sites_per_person), so every release is charged {GroupSize}² = {GroupFactor:G4} times its zCDP rho per hospital record (group privacy, Bun & Steinke 2016, Prop. 1.9). That bound is the site's assumption, not a measurement: no node can link a person across hospitals, and a person treated at more of them loses up to k² times the per-record rho. Releases by anyone outside the federation are not counted.")
        : "Per hospital record: the site policy sets no max_sites_per_person, so every figure protects a patient's records at one hospital. A person treated at k hospitals of the federation may lose up to k² times what is shown (group privacy, Bun & Steinke 2016, Prop. 1.9).";
}
