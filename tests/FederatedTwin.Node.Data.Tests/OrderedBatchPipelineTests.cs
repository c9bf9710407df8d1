using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>The ingest and its merge run on one pipeline: results in input order, failures reported where they happened.</summary>
public sealed class OrderedBatchPipelineTests
{
    [Fact]
    public void The_writer_sees_every_result_in_input_order_whatever_the_workers_take()
    {
        var written = new List<int>();
        OrderedBatchPipeline.Run(Enumerable.Range(0, 200), workers: 3, capacity: 5, i =>
        {
            Thread.Sleep((i * 7) % 3); // later batches often finish first
            return i * 2;
        }, written.Add);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => i * 2), written);
    }

    [Fact]
    public void A_transform_error_is_thrown_as_itself_after_every_earlier_batch_is_written()
    {
        var written = new List<int>();
        var error = Assert.Throws<InvalidDataException>(() => OrderedBatchPipeline.Run(Enumerable.Range(0, 100), workers: 2, capacity: 4, i =>
            i == 40 ? throw new InvalidDataException("batch 40") : i, written.Add));
        Assert.Equal("batch 40", error.Message);
        Assert.Equal(Enumerable.Range(0, 40), written);
    }

    [Fact]
    public void A_writer_error_stops_the_reader_instead_of_leaving_it_blocked()
    {
        var read = 0;
        IEnumerable<int> Endless()
        {
            for (var i = 0; ; i++)
            {
                Interlocked.Increment(ref read);
                yield return i;
            }
        }

        Assert.Throws<IOException>(() => OrderedBatchPipeline.Run(Endless(), workers: 2, capacity: 3, i => i, i =>
        {
            if (i == 10)
            {
                throw new IOException("disk full");
            }
        }));
        Assert.InRange(Volatile.Read(ref read), 11, 11 + 3 + 1); // bounded queues: the reader got little further
    }

    [Fact]
    public void A_reader_error_is_thrown_once_what_it_read_before_is_written()
    {
        IEnumerable<int> Failing()
        {
            for (var i = 0; i < 5; i++)
            {
                yield return i;
            }

            throw new FileNotFoundException("gone");
        }

        var written = new List<int>();
        Assert.Throws<FileNotFoundException>(() => OrderedBatchPipeline.Run(Failing(), workers: 2, capacity: 3, i => i, written.Add));
        Assert.Equal(Enumerable.Range(0, 5), written);
    }

    [Fact]
    public void A_cancelled_run_stops_with_OperationCanceledException()
    {
        using var cancel = new CancellationTokenSource();
        var written = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => OrderedBatchPipeline.Run(Enumerable.Range(0, 1_000_000), workers: 2, capacity: 3, i => i, i =>
        {
            if (++written == 50)
            {
                cancel.Cancel();
            }
        }, cancel.Token));
        Assert.InRange(written, 50, 50 + 3);
    }
}
