using FederatedTwin.Node;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Audit.Tests;

/// <summary>A site policy change needs a listed compliance officer's signature; approvals and refusals are audited.</summary>
public sealed class PolicyApprovalTests
{
    private const string Changed = "version: 1\nminimum_nodes: 4\npurposes_allowed: [HOPERAT]\nalgorithms_allowed: [federated-sum]\ndp_may_be_off: true\n";

    [Fact]
    public void An_unsigned_or_wrongly_signed_change_is_refused_and_a_signed_one_is_used_and_audited_with_its_approver()
    {
        var dir = AuditTestSupport.TempDir("approval");
        using var officer = Ed25519Identity.Generate();
        using var stranger = Ed25519Identity.Generate();
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            var baseline = node.LoadPolicy(); // the first policy a node loads is its baseline
            Assert.Equal(3, baseline.MinimumNodes);
        }

        File.WriteAllText(Path.Combine(dir, PolicySignature.SignersFile), $"# compliance officers\nalice {officer.PublicKey}\n");
        File.WriteAllText(Path.Combine(dir, "policy.yaml"), Changed);
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            var unsigned = Assert.Throws<SitePolicyException>(node.LoadPolicy);
            Assert.Contains("without a valid signature", unsigned.Message, StringComparison.Ordinal);

            File.WriteAllText(node.PolicyPath + ".sig", PolicySignature.Sign(File.ReadAllBytes(node.PolicyPath), stranger).ToJson());
            Assert.Throws<SitePolicyException>(node.LoadPolicy);

            File.WriteAllText(node.PolicyPath + ".sig", PolicySignature.Sign(File.ReadAllBytes(node.PolicyPath), officer).ToJson());
            File.AppendAllText(node.PolicyPath, "# edited after signing\n");
            Assert.Throws<SitePolicyException>(node.LoadPolicy);

            File.WriteAllText(node.PolicyPath, Changed);
            Assert.Equal(4, node.LoadPolicy().MinimumNodes);
        }

        var entries = AuditTestSupport.NodeEntries(dir);
        Assert.Contains(entries, e => e.Action == AuditActions.PolicyRejected);
        var approval = Assert.Single(entries, e => e.Action == AuditActions.PolicyApproved);
        Assert.Contains(officer.PublicKey, approval.Detail, StringComparison.Ordinal);
        Assert.Contains(entries, e => e.Action == AuditActions.PolicyLoaded && e.Seq > approval.Seq);
        Assert.True(AuditTestSupport.VerifyNode(dir, NodeDirectory.ReadPublicKey(dir)).Ok);
    }

    [Fact]
    public void Ftwin_policy_keygen_and_sign_produce_an_approval_the_node_accepts()
    {
        var work = AuditTestSupport.TempDir("sign");
        var key = Path.Combine(work, "officer.key");
        var keygen = AuditTestSupport.Ftwin("policy", "keygen", "--out", key);
        Assert.True(keygen.ExitCode == 0, keygen.Stderr);
        var publicKey = keygen.Stdout.Trim();
        var policy = Path.Combine(work, "policy.yaml");
        File.WriteAllText(policy, Changed);
        var sign = AuditTestSupport.Ftwin("policy", "sign", policy, "--key", key);
        Assert.True(sign.ExitCode == 0, sign.Stderr);
        Assert.True(PolicySignature.Read(policy + ".sig")!.Approves(File.ReadAllBytes(policy), [publicKey]));
        File.WriteAllText(policy, "version: 2\n");
        Assert.Equal(2, AuditTestSupport.Ftwin("policy", "sign", policy, "--key", key).ExitCode); // an invalid policy is never signed
    }
}
