using System.CommandLine;

namespace FederatedTwin.Cli.Commands;

/// <summary>The `ftwin` command tree: one command for every role, each command group in its own file here.</summary>
internal static class FtwinCommand
{
    public static RootCommand Create()
    {
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
        root.Subcommands.Add(TwinCommands.Create());
        root.Subcommands.Add(AuditCommands.Create());
        return root;
    }
}
