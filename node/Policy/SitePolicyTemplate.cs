namespace FederatedTwin.Node.Policy;

/// <summary>
/// The policy `ftwin node init` writes: deny by default, every field shown with its default and a comment, so a compliance
/// officer starts from a file that joins nothing and reads what each line would allow.
/// </summary>
public static class SitePolicyTemplate
{
    public const string Yaml = """
        # FederatedTwin site policy. Deny by default: this node joins no study until a compliance
        # officer lists what it may take part in. See policies/ for documented examples.
        version: 1
        trusted_coordinators: []       # - name: aco-coordinator
                                       #   public_key: <base64 Ed25519 key from `ftwin coordinator key`>
        purposes_allowed: []           # HL7 v3 PurposeOfUse codes, e.g. HOPERAT, HRESCH
        algorithms_allowed: []         # e.g. federated-sum
        minimum_nodes: 3               # never join a study that could run with fewer hospitals
        consent_default:               # for patients with no Consent that decides a purpose
          HRESCH: opt-in               # research: only patients who permitted it
          HOPERAT: opt-out             # health care operations: everyone who did not refuse
        dp_may_be_off: false           # refuse studies that add no differential-privacy noise
        dp_colluding_nodes: 1          # hospitals assumed to collude with the coordinator: a DP study's noise must survive them
        exact_small_counts: false      # exact counts only when each one this node sends is at least minimum_cell_size
        privacy_budgets: {}            # zCDP rho per purpose and calendar year, e.g. HOPERAT: 1.0
        lifetime_privacy_budget: 0     # zCDP rho over the node's whole life, all purposes and years, e.g. 4.0
        # max_sites_per_person: 3      # the most hospitals of the federation a person is treated at: budgets become per person
        sensitive_allowed: {}          # sensitive categories a purpose may use, e.g. HRESCH: [hiv]; none by default
        minimum_cell_size: 11          # no study may publish a count under this
        retention_years: 6             # keep audit and quarantine records this long (45 CFR 164.316(b)(2))
        reidentification_purposes: [TREAT, HOPERAT]   # the patient twin's worklist may be mapped back to this hospital's own patient ids, on its host, for these (never research)
        """;
}
