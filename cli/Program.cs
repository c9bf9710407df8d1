using System.CommandLine;
using FederatedTwin.Cli.Commands;

// ftwin: one command for every role. Each command group lives in Commands/.
var root = new RootCommand("FederatedTwin: federated, privacy-preserving population digital twins for ACOs.");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(NodeCommands.Create());
root.Subcommands.Add(CoordinatorCommands.Create());
root.Subcommands.Add(StudyCommands.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(PolicyCommands.Create());
root.Subcommands.Add(RosterCommands.Create());
root.Subcommands.Add(ComplianceCommands.Create());
root.Subcommands.Add(SynthCommand.Create());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(MsspCommand.Create());
root.Subcommands.Add(ScenarioCommand.Create());
root.Subcommands.Add(AuditCommands.Create());
// Ctrl+C and SIGTERM cancel the running command's token; give it time to stop its services cleanly (`demo --keep-running`
// stops three nodes and a coordinator) before System.CommandLine ends the process (its default is 2 s).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) });
