using System.CommandLine;

namespace FederatedTwin.Cli.Commands;

/// <summary>`--max-store-mb`: the store size cap (hosting/Storage/StoreSizeCap.cs, docs/operations.md "Store size cap") of the command's store.</summary>
internal static class StoreSizeCapOption
{
    public const string Name = "--max-store-mb";

    public static Option<int?> Create(string store)
    {
        var option = new Option<int?>(Name) { Description = $"Cap {store} at this many MB: a step that would grow it further fails with \"store full\" and is rolled back (default: no cap)." };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1)
            {
                r.AddError($"{Name} must be at least 1.");
            }
        });
        return option;
    }
}
