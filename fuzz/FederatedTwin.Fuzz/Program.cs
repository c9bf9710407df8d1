using FederatedTwin.Fuzz;
using SharpFuzz;

// ftwin-fuzz TARGET                 under afl-fuzz (fuzz/run.sh): SharpFuzz's fork server feeds inputs, an escaping exception is a crash
// ftwin-fuzz TARGET --replay PATH…  runs files (or every file of a directory) through the target once each, no afl: corpus and regressions
// ftwin-fuzz --list                 the targets
if (args is ["--list"])
{
    foreach (var target in FuzzTargets.All)
    {
        Console.WriteLine($"{target.Name}\t{target.Description}");
    }

    return 0;
}

if (args.Length == 0 || FuzzTargets.Find(args[0]) is not { } chosen)
{
    Console.Error.WriteLine($"usage: ftwin-fuzz TARGET [--replay PATH...] | --list  (targets: {string.Join(", ", FuzzTargets.All.Select(t => t.Name))})");
    return 2;
}

if (args.Length > 1 && args[1] == "--replay")
{
    var files = args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p]).ToList();
    var failures = 0;
    foreach (var file in files)
    {
        try
        {
            chosen.Run(File.ReadAllBytes(file));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failures++;
            Console.Error.WriteLine($"{chosen.Name}: {Path.GetFileName(file)}: {e.GetType().FullName}: {e.Message}");
            Console.Error.WriteLine(e.StackTrace);
        }
    }

    Console.WriteLine($"{chosen.Name}: {files.Count} inputs, {failures} failed");
    return failures == 0 ? 0 : 1;
}

// Warm-up (keys, Firely's model) runs inside the first execution: instrumented code may only run once SharpFuzz has mapped
// afl's shared coverage map, and the fork server's start-up timeout (fuzz/run.sh) allows for it.
var warm = false;
Fuzzer.Run(stream =>
{
    if (!warm)
    {
        chosen.Warm();
        warm = true;
    }

    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    chosen.Run(buffer.ToArray());
});
return 0;
