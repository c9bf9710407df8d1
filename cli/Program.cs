using System.CommandLine;
using FederatedTwin.Cli.Commands;

// ftwin: one command for every role (the tree is in Commands/FtwinCommand.cs, each command group in Commands/).
// Ctrl+C and SIGTERM cancel the running command's token; give it time to stop its services cleanly (`demo --keep-running`
// stops three nodes and a coordinator) before System.CommandLine ends the process (its default is 2 s).
// Every file and directory ftwin creates is its owner's only (umask 077): node and coordinator directories hold patient rows and keys.
FederatedTwin.Hosting.Files.OwnerOnly.RestrictProcessUmask();
return await FtwinCommand.Create().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) });
