using FederatedTwin.Analytics.Studies;
using System.CommandLine;
using System.Globalization;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin policy check | explain`: for compliance officers, on any machine (no node needed).</summary>
internal static class PolicyCommands
{
    public static Command Create()
    {
        var command = new Command("policy", "Validate site policies and explain what they decide.");
        var file = new Argument<FileInfo>("file") { Description = "A site policy YAML file (policies/examples, schema in policies/schema)." };
        var check = new Command("check", "Validate a site policy file: errors name the field (and the line, for YAML errors).") { file };
        check.SetAction(parse => Load(parse.GetValue(file)!) is { } p ? Summary(p) : 2);
        command.Subcommands.Add(check);

        var study = new Option<FileInfo>("--study-file") { Description = "A study YAML file, as an analyst would submit it.", Required = true };
        var spent = new Option<double>("--spent") { Description = "zCDP rho already spent this calendar year for the study's purpose, in the ledger's unit (the node's ledger; default 0).", DefaultValueFactory = _ => 0 };
        var spentLifetime = new Option<double?>("--spent-lifetime") { Description = "zCDP rho already spent over the node's life, all purposes and years, in the ledger's unit (default: --spent)." };
        var explain = new Command("explain", "Say whether a node with this policy would join the study, rule by rule, and which rule decides.") { file, study, spent, spentLifetime };
        explain.SetAction(parse =>
        {
            if (Load(parse.GetValue(file)!) is not { } policy)
            {
                return 2;
            }

            StudySpec spec;
            try
            {
                spec = StudyFile.Parse(File.ReadAllText(parse.GetValue(study)!.FullName));
            }
            catch (StudyFileException e)
            {
                Console.Error.WriteLine($"invalid study: {e.Message}");
                return 2;
            }

            // The lifetime spend includes this year's for the purpose, so it is at least that.
            var ledger = new SpentSoFar(parse.GetValue(spent), Math.Max(parse.GetValue(spent), parse.GetValue(spentLifetime) ?? 0));
            var rules = policy.Explain(spec, ledger);
            var decision = policy.Decide(spec, ledger);
            var table = new Table().AddColumns("rule", "verdict", "why");
            foreach (var r in rules)
            {
                table.AddRow(r.Rule, r.Accept ? "[green]passes[/]" : "[red]refuses[/]", Markup.Escape(r.Reason));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine(decision.Accept
                ? $"[green]would join[/] study {Markup.Escape(spec.Id.Value)}: {Markup.Escape(decision.Reason)}"
                : $"[red]would refuse[/] study {Markup.Escape(spec.Id.Value)}: rule [bold]{decision.Rule}[/] decides — {Markup.Escape(decision.Reason)}");
            return decision.Accept ? 0 : 1;
        });
        command.Subcommands.Add(explain);

        var keyOut = new Option<FileInfo>("--out") { Description = "Where to write the compliance officer's private key (owner-only; keep it off the node).", Required = true };
        var keygen = new Command("keygen", "Create a compliance officer's Ed25519 signing key; prints the public key to list in a node's policy-signers.txt.") { keyOut };
        keygen.SetAction(parse =>
        {
            var path = parse.GetValue(keyOut)!.FullName;
            if (File.Exists(path))
            {
                Console.Error.WriteLine($"error: {path} exists; not overwriting a key");
                return 2;
            }

            using var officer = Protocol.Federation.Ed25519Identity.Generate();
            File.WriteAllText(path, Convert.ToBase64String(officer.ExportPrivateKey()) + "\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            Console.WriteLine(officer.PublicKey);
            return 0;
        });
        command.Subcommands.Add(keygen);

        var key = new Option<FileInfo>("--key") { Description = "The compliance officer's private key file (from `ftwin policy keygen`).", Required = true };
        var sign = new Command("sign", "Approve a policy file: writes FILE.sig, which a node whose policy-signers.txt lists this officer requires before it uses a changed policy.") { file, key };
        sign.SetAction(parse =>
        {
            var policyFile = parse.GetValue(file)!.FullName;
            if (Load(parse.GetValue(file)!) is null)
            {
                return 2; // never approve a policy the node would refuse anyway
            }

            using var officer = Protocol.Federation.Ed25519Identity.Import(Convert.FromBase64String(File.ReadAllText(parse.GetValue(key)!.FullName).Trim()));
            var signature = PolicySignature.Sign(File.ReadAllBytes(policyFile), officer);
            File.WriteAllText(policyFile + ".sig", signature.ToJson() + "\n");
            Console.WriteLine($"signed {policyFile} (SHA-256 {signature.Sha256}) as {officer.PublicKey} → {policyFile}.sig");
            return 0;
        });
        command.Subcommands.Add(sign);
        return command;
    }

    private static SitePolicy? Load(FileInfo file)
    {
        try
        {
            return SitePolicy.Load(file.FullName);
        }
        catch (SitePolicyException e) when (e.Errors.Count > 1)
        {
            // One line per schema violation, each with its line and field.
            Console.Error.WriteLine($"invalid: {file.FullName}: {e.Errors.Count} errors");
            foreach (var error in e.Errors)
            {
                Console.Error.WriteLine($"  {file.FullName}, {error}");
            }

            return null;
        }
        catch (Exception e) when (e is SitePolicyException or IOException)
        {
            Console.Error.WriteLine($"invalid: {e.Message}");
            return null;
        }
    }

    private static int Summary(SitePolicy p)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"valid: {p.TrustedCoordinators.Count} trusted coordinator(s); purposes {List(p.PurposesAllowed)}; algorithms {List(p.AlgorithmsAllowed)}; minimum nodes {p.MinimumNodes}; DP may be off: {(p.DpMayBeOff ? "yes" : "no")}; budgets {(p.PrivacyBudgets.Count == 0 ? "none" : string.Join(", ", p.PrivacyBudgets.Select(b => $"{b.Key} rho {b.Value:G4}")))}; lifetime budget {(p.LifetimeBudget is { } l ? $"rho {l.Rho:G4} (epsilon {l.Epsilon:G3} at delta {l.Delta:G2})" : "none (no noisy study is joined)")}; privacy unit: {p.PrivacyUnit.Name}{(p.PrivacyUnit.IsPerson ? $" at up to {p.PrivacyUnit.GroupSize} hospitals (charged {p.PrivacyUnit.GroupSize}² × rho)" : string.Empty)}; custom sensitive categories {(p.CustomSensitiveCodes.Count == 0 ? "none" : string.Join(", ", p.CustomSensitiveCodes.Select(c => $"{c.Key} ({c.Value.Count} codes)")))}"));
        return 0;
    }

    private static string List(IEnumerable<string> values) => values.Any() ? string.Join(",", values.Order(StringComparer.Ordinal)) : "none";
}
