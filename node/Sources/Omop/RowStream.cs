using System.Buffers;
using System.Text.Json;
using Npgsql;

namespace FederatedTwin.Node.Sources.Omop;

/// <summary>
/// One query's rows as an NDJSON stream for the ingest: the query runs when the ingest first reads (the input is opened when
/// the ingest reaches it), rows are taken off the connection as the ingest consumes the lines, and each row becomes zero or
/// one FHIR resource line. Nothing but the current buffer of lines is held in memory. A database failure part-way through is
/// an <see cref="IOException"/> naming the table and the SQLSTATE only (a PostgreSQL message can quote a value), so the ingest
/// keeps the lines read before and reports the input as failed.
/// </summary>
internal sealed class RowStream(NpgsqlDataSource database, string table, string sql, Func<NpgsqlDataReader, Utf8JsonWriter, bool> writeRow, OmopTableCounts counts) : Stream
{
    private const int RefillBytes = 64 * 1024;
    private readonly ArrayBufferWriter<byte> _lines = new(RefillBytes * 2);
    private Utf8JsonWriter? _json;
    private NpgsqlConnection? _connection;
    private NpgsqlCommand? _command;
    private NpgsqlDataReader? _reader;
    private int _offset;
    private bool _done;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_offset >= _lines.WrittenCount)
        {
            _lines.Clear();
            _offset = 0;
            Refill();
        }

        var available = _lines.WrittenSpan[_offset..];
        var n = Math.Min(available.Length, buffer.Length);
        available[..n].CopyTo(buffer);
        _offset += n;
        return n;
    }

    private void Refill()
    {
        if (_done)
        {
            return;
        }

        try
        {
            if (_reader is null)
            {
                _connection = database.OpenConnection();
                _command = new NpgsqlCommand(sql, _connection) { CommandTimeout = 0 };
                _reader = _command.ExecuteReader();
                _json = new Utf8JsonWriter(_lines);
            }

            while (_lines.WrittenCount < RefillBytes)
            {
                if (!_reader.Read())
                {
                    _done = true;
                    Release();
                    return;
                }

                counts.Row(table);
                if (writeRow(_reader, _json!))
                {
                    _json!.Flush();
                    _json.Reset();
                    _lines.Write("\n"u8);
                    counts.Resource(table);
                }
                else
                {
                    _json!.Reset();
                }
            }
        }
        catch (Exception e) when (e is NpgsqlException or InvalidCastException or TimeoutException)
        {
            _done = true;
            var state = (e as PostgresException)?.SqlState ?? (e as NpgsqlException)?.InnerException?.GetType().Name ?? e.GetType().Name;
            Release();
            throw new IOException($"the OMOP database failed while {table} was read ({state})");
        }
    }

    private void Release()
    {
        _reader?.Dispose();
        _command?.Dispose();
        _connection?.Dispose();
        _reader = null;
        _command = null;
        _connection = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
            _json?.Dispose();
        }

        base.Dispose(disposing);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Rows read and resources emitted per CDM table, as a pull goes (read by the puller and `bench`; safe across threads).</summary>
public sealed class OmopTableCounts
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long[]> _counts = new(StringComparer.Ordinal);

    internal void Register(string table) => _counts.GetOrAdd(table, _ => new long[2]);

    internal void Row(string table) => Interlocked.Increment(ref _counts.GetOrAdd(table, _ => new long[2])[0]);

    internal void Resource(string table) => Interlocked.Increment(ref _counts.GetOrAdd(table, _ => new long[2])[1]);

    /// <summary>Rows the reader received from each table's query.</summary>
    public IReadOnlyDictionary<string, long> RowsRead => _counts.OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(c => c.Key, c => Interlocked.Read(ref c.Value[0]), StringComparer.Ordinal);

    /// <summary>FHIR resources emitted from each table.</summary>
    public IReadOnlyDictionary<string, long> ResourcesEmitted => _counts.OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(c => c.Key, c => Interlocked.Read(ref c.Value[1]), StringComparer.Ordinal);
}
