using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// A reader producing batches, workers transforming them, and one writer (the calling thread) consuming the results
/// strictly in the reader's order, so what is written does not depend on the number of workers. The ingest (lines
/// → parsed, reduced entries) and its merge (partitions → patients' rows) both run on it.
/// The reader and each worker have a thread of their own, and a worker takes whole batches: on a small machine, a
/// batch split across pool threads left them spinning at every batch's end. Both queues are bounded, so what is in
/// flight (and the memory it holds) stays flat whatever the input's size.
/// Failures: a transform's exception is the batch's, thrown (as itself, with its stack) when the writer reaches that
/// batch, after every earlier batch is written; a writer's exception (a full disk, say) or a cancellation stops the
/// reader and the workers instead of leaving them blocked on a queue; a reader's exception is thrown once everything
/// it produced before it is written.
/// </summary>
internal static class OrderedBatchPipeline
{
    /// <summary>Runs the pipeline to its end; returns the time the writer spent waiting for the workers' results.</summary>
    /// <param name="source">The batches, enumerated on the reader's thread.</param>
    /// <param name="workers">Worker threads (at least one).</param>
    /// <param name="capacity">Batches in flight between the reader and the writer (the workers' queue holds one fewer).</param>
    /// <param name="transform">A worker's work on one batch; runs concurrently with itself on different batches.</param>
    /// <param name="write">The writer's work on one result, in input order, on the calling thread.</param>
    /// <param name="cancellationToken">Stops the run: it then throws <see cref="OperationCanceledException"/>.</param>
    public static TimeSpan Run<TIn, TOut>(IEnumerable<TIn> source, int workers, int capacity, Func<TIn, TOut> transform, Action<TOut> write, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var waiting = new Stopwatch();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var work = new BlockingCollection<Slot<TIn, TOut>>(boundedCapacity: Math.Max(1, capacity - 1));
        using var ordered = new BlockingCollection<Slot<TIn, TOut>>(boundedCapacity: capacity);
        var free = new ConcurrentBag<Slot<TIn, TOut>>();
        var created = new List<Slot<TIn, TOut>>(); // the reader's only: every slot, disposed at the end
        var reader = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    foreach (var item in source)
                    {
                        if (!free.TryTake(out var slot))
                        {
                            slot = new Slot<TIn, TOut>();
                            created.Add(slot);
                        }

                        slot.Input = item;
                        ordered.Add(slot, stop.Token); // first: a batch is queued for the writer before any worker can finish it
                        work.Add(slot, stop.Token);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    // The writer failed or the run was cancelled: that is what is reported.
                }
                finally
                {
                    work.CompleteAdding();
                    ordered.CompleteAdding();
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        var threads = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(
            () =>
            {
                foreach (var slot in work.GetConsumingEnumerable())
                {
                    try
                    {
                        if (!stop.IsCancellationRequested)
                        {
                            slot.Output = transform(slot.Input);
                        }
                    }
                    catch (Exception e)
                    {
                        slot.Error = e;
                    }
                    finally
                    {
                        slot.Done.Set();
                    }
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();

        var completed = false;
        try
        {
            foreach (var slot in ordered.GetConsumingEnumerable(stop.Token))
            {
                waiting.Start();
                slot.Done.Wait(stop.Token);
                waiting.Stop();
                if (slot.Error is { } error)
                {
                    ExceptionDispatchInfo.Throw(error);
                }

                var output = slot.Output;
                slot.Reset();
                free.Add(slot);
                write(output);
            }

            cancellationToken.ThrowIfCancellationRequested();
            completed = true;
        }
        finally
        {
            if (!completed)
            {
                stop.Cancel();
            }

            reader.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Wait(CancellationToken.None); // the threads end whatever happened: nothing outlives the run
            Task.WaitAll(threads, CancellationToken.None);
            foreach (var slot in created)
            {
                slot.Dispose();
            }
        }

        reader.GetAwaiter().GetResult(); // a read error (the reader's) surfaces here as itself
        return waiting.Elapsed;
    }

    /// <summary>A batch on its way: its input, then its result or error. Reused once written.</summary>
    private sealed class Slot<TIn, TOut> : IDisposable
    {
        public TIn Input { get; set; } = default!;

        public TOut Output { get; set; } = default!;

        public Exception? Error { get; set; }

        /// <summary>Set by the worker that transformed it (no spinning: on two cores a spinning waiter takes a worker's core).</summary>
        public ManualResetEventSlim Done { get; } = new(false, spinCount: 1);

        /// <summary>References cleared, so nothing the batch held outlives it.</summary>
        public void Reset()
        {
            (Input, Output, Error) = (default!, default!, null);
            Done.Reset();
        }

        public void Dispose() => Done.Dispose();
    }
}
