using System.Runtime.CompilerServices;

namespace FederatedTwin.Tests;

/// <summary>
/// The test process creates node and coordinator directories and writes files into them (policies, rosters, signers) as an operator
/// does, and the services refuse a directory or file others can reach (hosting/Files/OwnerOnly.cs). An operator runs with umask 077
/// (docs/operations.md, "Hardening checklist"); so does this process, from before any test runs, and every ftwin it starts inherits it.
/// </summary>
internal static class OwnerOnlyFiles
{
#pragma warning disable CA2255 // a test assembly's process-wide setting, made once before any test: what a module initializer is for
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void RestrictUmask() => FederatedTwin.Hosting.Files.OwnerOnly.RestrictProcessUmask();
}
