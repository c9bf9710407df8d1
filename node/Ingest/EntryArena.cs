namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Entries of one batch of lines, written one after another into blocks that the batch keeps and reuses: the
/// entries live until the batch is staged, long enough that an array per line was copied between the
/// garbage collector's generations. One writer at a time.
/// </summary>
public sealed class EntryArena
{
    private const int BlockBytes = 256 * 1024;
    private readonly List<byte[]> _blocks = [];
    private int _block, _at;

    /// <summary>Room for one entry: a block and the offset in it.</summary>
    public (byte[] Block, int At) Reserve(int length)
    {
        if (length > BlockBytes)
        {
            return (new byte[length], 0); // a rare giant entry (a Consent with very many provisions): its own array
        }

        if (_blocks.Count == 0 || _at + length > BlockBytes)
        {
            if (_blocks.Count > 0)
            {
                _block++;
            }

            if (_block == _blocks.Count)
            {
                _blocks.Add(new byte[BlockBytes]);
            }

            _at = 0;
        }

        var at = _at;
        _at += length;
        return (_blocks[_block], at);
    }

    /// <summary>Every entry handed out is dead: the blocks are reused from the start.</summary>
    public void Reset() => (_block, _at) = (0, 0);
}
