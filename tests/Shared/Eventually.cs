using System.Diagnostics;

namespace FederatedTwin.Tests;

/// <summary>
/// Waiting for another process (an ftwin service, an ingest run, a node polling through a test's server): polls a condition until it
/// holds, and fails with what was awaited, and what was last seen, once the timeout has passed. Only for real processes, whose clocks
/// a test cannot move: a component running in the test's own process reads a TimeProvider, and its test moves a FakeTimeProvider.
/// The deadline is measured on a monotonic stopwatch, so a change of the wall clock neither cuts a wait short nor stretches it.
/// </summary>
internal static class Eventually
{
    /// <summary>How often a condition is checked: often enough not to slow a test, rarely enough not to load a 2-core machine.</summary>
    public static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    /// <summary>Returns once <paramref name="condition"/> holds; throws <see cref="TimeoutException"/> when it has not within <paramref name="timeout"/>.</summary>
    /// <param name="condition">Checked at once, then every <paramref name="poll"/> (<see cref="Poll"/> by default).</param>
    /// <param name="timeout">How long the condition may take.</param>
    /// <param name="what">What is awaited, as the end of "timed out after N s waiting for ...".</param>
    /// <param name="lastSeen">What the failure message adds: the state that did not satisfy the condition.</param>
    /// <param name="poll">The interval between checks.</param>
    public static Task Until(Func<bool> condition, TimeSpan timeout, string what, Func<string>? lastSeen = null, TimeSpan? poll = null) =>
        Until(() => Task.FromResult(condition()), timeout, what, lastSeen, poll);

    /// <summary>As <see cref="Until(Func{bool}, TimeSpan, string, Func{string}?, TimeSpan?)"/>, for a condition read asynchronously (over HTTP, say).</summary>
    public static async Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? lastSeen = null, TimeSpan? poll = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var elapsed = Stopwatch.StartNew();
        while (!await condition())
        {
            if (elapsed.Elapsed > timeout)
            {
                throw new TimeoutException(Message(timeout, what, lastSeen));
            }

            await Task.Delay(poll ?? Poll);
        }
    }

    /// <summary>Returns the first value <paramref name="read"/> gives that <paramref name="done"/> accepts; the last one read is in the timeout's message.</summary>
    public static async Task<T> Value<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout, string what, Func<T, string>? describe = null, TimeSpan? poll = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(done);
        var last = default(T);
        await Until(async () => done(last = await read()), timeout, what, () => last is null ? "nothing read" : describe?.Invoke(last) ?? last.ToString() ?? string.Empty, poll);
        return last!;
    }

    /// <summary>As <see cref="Until(Func{bool}, TimeSpan, string, Func{string}?, TimeSpan?)"/>, blocking the calling thread (for a synchronous test).</summary>
    public static void UntilBlocking(Func<bool> condition, TimeSpan timeout, string what, Func<string>? lastSeen = null, TimeSpan? poll = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var elapsed = Stopwatch.StartNew();
        while (!condition())
        {
            if (elapsed.Elapsed > timeout)
            {
                throw new TimeoutException(Message(timeout, what, lastSeen));
            }

            Thread.Sleep(poll ?? Poll);
        }
    }

    private static string Message(TimeSpan timeout, string what, Func<string>? lastSeen) =>
        FormattableString.Invariant($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}") + (lastSeen is null ? "." : $"; last seen: {lastSeen()}");
}
