using FederatedTwin.Analytics.Census;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests.Adversarial;

/// <summary>
/// Three real hospital nodes (separate `ftwin node run` processes on loopback, each with its own directory, policy and compliance
/// officer) enrolled with a <see cref="HostileCoordinator"/> whose key their policies pin, sharing a roster of four members approved by
/// their officers: the three, and a fourth hospital (<see cref="Member"/>) that colludes with the coordinator. The coordinator has also
/// enrolled a key of its own that no roster lists (<see cref="Sybil"/>). Each test runs its own study on this federation.
/// </summary>
public sealed class AdversarialFederation : IAsyncLifetime
{
    public static readonly string[] Names = ["hospital-a", "hospital-b", "hospital-c"];

    private readonly List<ChildProcess> _processes = [];

    internal string Root { get; } = TestFederation.TempDir("adversarial");

    internal HostileCoordinator Coordinator { get; private set; } = null!;

    internal List<(string Name, string Dir, string NodeId)> Nodes { get; } = [];

    /// <summary>A rostered hospital that colludes with the coordinator.</summary>
    internal Colluder Member { get; } = new("hospital-d");

    /// <summary>A key the coordinator enrolled for itself (it issues the tokens): on no roster.</summary>
    internal Colluder Sybil { get; } = new("sybil");

    internal string A => Nodes[0].NodeId;

    internal string B => Nodes[1].NodeId;

    internal string C => Nodes[2].NodeId;

    public async Task InitializeAsync()
    {
        Coordinator = await HostileCoordinator.Start();
        for (var i = 0; i < Names.Length; i++)
        {
            var dir = Path.Combine(Root, "nodes", Names[i]);
            using var node = NodeDirectory.OpenOrInitialize(dir);
            node.WriteSiteInput(SiteInput.Synthetic(i + 1));
            await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(Coordinator.Identity.PublicKey, "HOPERAT"));
            // The real enrollment path, with a token the hostile coordinator accepts (it issues its own).
            var id = await Enrollment.Enroll(node, Coordinator.Url, "token-" + Names[i], Names[i], CancellationToken.None);
            Nodes.Add((Names[i], dir, id.Value));
        }

        Member.NodeId = Coordinator.EnrolOwn(Member.Name, Member.Key);
        Sybil.NodeId = Coordinator.EnrolOwn(Sybil.Name, Sybil.Key);

        // Each hospital's officer approves roster version 1 (the three nodes and hospital-d); each node pins it.
        var roster = new SignedRoster(new FederationRoster("adversarial-aco", 1, [.. Nodes.Select(n => new RosterMember(n.Name, NodeDirectory.ReadPublicKey(n.Dir))), new RosterMember(Member.Name, Member.Key)]), []);
        var officers = Nodes.Select(_ => Ed25519Identity.Generate()).ToList();
        roster = officers.Aggregate(roster, (r, o) => r.Approve(o));
        for (var i = 0; i < Nodes.Count; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(Nodes[i].Dir, PolicySignature.SignersFile), $"officer {officers[i].PublicKey}\n");
            using var node = NodeDirectory.OpenOrInitialize(Nodes[i].Dir);
            PinnedRoster.Pin(node, roster.ToJson(), "adversarial test set-up");
        }

        officers.ForEach(o => o.Dispose());
        foreach (var (name, dir, _) in Nodes)
        {
            var port = ChildProcess.FreeLoopbackPort();
            var process = ChildProcess.StartFtwin(["node", "run", "--node-dir", dir, "--admin-url", $"http://127.0.0.1:{port}", "--poll-wait", "1"], Path.Combine(Root, "logs", name + ".log"));
            _processes.Add(process);
            await WaitReady(new Uri($"http://127.0.0.1:{port}/health/ready"), process);
        }
    }

    private static int _cohorts;

    /// <summary>
    /// A federated sum over the census vector, as an analyst would define it, each of another year. The attacks share three nodes and
    /// run over different sets of hospitals; the census of one year again over another set would be refused by every node's release
    /// ledger (release_differencing, ReleaseLedgerTests) before the check an attack is about, so each attack counts its own cohort.
    /// </summary>
    internal static StudySpec Study(string id, int rounds = 1, int deadline = 30) =>
        new(new StudyId(id), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 4, rounds, deadline)
        {
            Parameters = new Dictionary<string, string>
            {
                ["vector"] = LocalVectors.PatientsByAgeBandAndSex,
                ["year"] = (1990 + Interlocked.Increment(ref _cohorts)).ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };

    /// <summary>The round request an honest coordinator derives for that study: its parameters and the purpose.</summary>
    internal static RoundRequest Request(StudySpec study) =>
        new("federated-sum", 16, new Dictionary<string, string>(study.Parameters!) { ["purpose_of_use"] = study.PurposeOfUse.Code });

    /// <summary>Offers the study and waits until the three nodes decided (they accept it: their policy allows it).</summary>
    internal async Task<StudySpec> Offer(StudySpec study)
    {
        Coordinator.Offers[study.Id.Value] = study;
        await Coordinator.WaitForDecisions(study, [A, B, C], TimeSpan.FromSeconds(60));
        Coordinator.Offers.TryRemove(study.Id.Value, out _);
        Assert.All([A, B, C], n => Assert.True(Coordinator.Decisions[(study.Id.Value, n)].Accept));
        return study;
    }

    internal string DirOf(string nodeId) => Nodes.Single(n => n.NodeId == nodeId).Dir;

    internal long[] SiteVector(string nodeId) => TestFederation.SiteVector(DirOf(nodeId));

    /// <summary>The node's audit entries (action, study, detail), read from its node.db while it runs.</summary>
    internal List<(string Action, string? Study, JsonObject Detail)> Audit(string nodeId)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(DirOf(nodeId), "node.db"));
        return [.. connection.Query<(string action, string? study_id, string detail)>("SELECT action, study_id, detail FROM audit_log ORDER BY seq")
            .Select(e => (e.action, e.study_id, JsonNode.Parse(e.detail)!.AsObject()))];
    }

    /// <summary>Waits until the node's audit trail holds a refusal with this rule (for the study, when given), and returns it.</summary>
    internal async Task<(string Action, JsonObject Detail)> Refusal(string nodeId, string rule, string? study = null, TimeSpan? timeout = null)
    {
        (string? Action, string? Study, JsonObject? Detail) hit = default;
        await Eventually.Until(() =>
        {
            hit = Audit(nodeId).FirstOrDefault(e => (study is null || e.Study == study) && e.Detail["rule"]?.GetValue<string>() == rule);
            return hit.Action is not null;
        }, timeout ?? TimeSpan.FromSeconds(60), $"{nodeId} to record a refusal with rule {rule}",
            () => "refusals " + string.Join(", ", Audit(nodeId).Where(e => e.Detail["rule"] is not null).Select(e => $"{e.Action}:{e.Detail["rule"]}")));
        return (hit.Action!, hit.Detail!);
    }

    /// <summary>Whether the node's process is still serving (an attack must never crash it).</summary>
    internal bool Running => _processes.All(p => !p.HasExited);

    private static async Task WaitReady(Uri health, ChildProcess process)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.Until(async () =>
        {
            Assert.False(process.HasExited, $"the node serving {health} exited during start-up");
            try
            {
                using var response = await http.GetAsync(health);
                return response.IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false; // not listening yet, or not answering within the client's timeout
            }
        }, TimeSpan.FromSeconds(60), $"{health} to be ready");
    }

    public async Task DisposeAsync()
    {
        Parallel.ForEach(_processes, p => p.Stop(TimeSpan.FromSeconds(10)));
        _processes.ForEach(p => p.Dispose());
        await Coordinator.DisposeAsync();
        Member.Dispose();
        Sybil.Dispose();
    }
}

/// <summary>The lattice arithmetic an attacker does on the scheme's own objects (for the attacks' honest construction).</summary>
internal static class LatticeAttacks
{
    private static RlweParameters Parameters => RlweParameters.Default;

    /// <summary>−Σ c (an encrypted vector of one ciphertext per 8,192 values).</summary>
    public static byte[] NegatedSum(IEnumerable<byte[]> ciphertexts, int valueCount)
    {
        var scheme = Crypto.RlweThresholdScheme.Default;
        var sum = scheme.NewSum(valueCount);
        foreach (var c in ciphertexts)
        {
            sum.Add(c);
        }

        var (count, cts) = scheme.ReadVector(sum.ToBytes());
        foreach (var ct in cts)
        {
            Parameters.Ring.Neg(ct.C0, ct.C0);
            Parameters.Ring.Neg(ct.C1, ct.C1);
        }

        return scheme.WriteVector(count, cts);
    }

    /// <summary>a + b for two encrypted vectors.</summary>
    public static byte[] Add(byte[] a, byte[] b, int valueCount)
    {
        var sum = Crypto.RlweThresholdScheme.Default.NewSum(valueCount);
        sum.Add(a);
        sum.Add(b);
        return sum.ToBytes();
    }

    /// <summary>The public key share p* − Σ p_honest: with it the collective key is p*, whose secret the attacker knows.</summary>
    public static byte[] RogueKeyShare(byte[] attackerShare, IEnumerable<byte[]> honestShares)
    {
        var rogue = CryptoFormat.Open(attackerShare, Parameters, CryptoObjectKind.PublicKeyShare).ReadPoly(0);
        foreach (var share in honestShares)
        {
            Parameters.Ring.Sub(rogue, CryptoFormat.Open(share, Parameters, CryptoObjectKind.PublicKeyShare).ReadPoly(0), rogue);
        }

        return CryptoFormat.Write(Parameters, CryptoObjectKind.PublicKeyShare, 0, default, [rogue]);
    }

    /// <summary>
    /// The noise-amplification ciphertext: 2^95·(p0, p1) + Enc(m). It still decodes to m, but its decrypted noise carries 2^95·e of the
    /// collective key above the 2^96 smudging, which leaks the collective secret.
    /// </summary>
    public static byte[] AmplifiedCiphertext(byte[] collectiveKey, long[] values)
    {
        var scheme = Crypto.RlweThresholdScheme.Default;
        var key = scheme.ReadPublicKey(collectiveKey);
        var (count, cts) = scheme.ReadVector(scheme.Encrypt(collectiveKey, values));
        var ring = Parameters.Ring;
        foreach (var ct in cts)
        {
            for (var i = 0; i < ring.Levels; i++)
            {
                var q = ring.Moduli[i];
                var factor = (ulong)(System.Numerics.BigInteger.Pow(2, 95) % q.Value);
                var p0 = key.P0.ReadLevel(i);
                var p1 = key.P1.ReadLevel(i);
                var c0 = ct.C0.Level(i);
                var c1 = ct.C1.Level(i);
                for (var j = 0; j < ring.N; j++)
                {
                    c0[j] = (ulong)((q.Mul(p0[j], factor) + (UInt128)c0[j]) % q.Value);
                    c1[j] = (ulong)((q.Mul(p1[j], factor) + (UInt128)c1[j]) % q.Value);
                }
            }
        }

        return scheme.WriteVector(count, cts);
    }
}
