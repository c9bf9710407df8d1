using System.Buffers.Binary;
using System.Text;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Whom a staged entry belongs to: a patient (the first 16 bytes of its pseudonym) or, for resources no
/// patient owns, the group of their keys' first byte. Staged as a marker byte and the 16 bytes; its text
/// (the store's pseudonym column) is the 32-digit hex, or "-" and two hex digits, and the order of
/// <see cref="CompareTo"/> is the ordinal order of that text.
/// </summary>
internal readonly record struct GroupKey(UInt128 Value, bool Ownerless) : IComparable<GroupKey>
{
    public const int Size = 17;
    private const byte OwnedMarker = 0xA0, OwnerlessMarker = 0xA1;

    public static GroupKey Patient(UInt128 pseudonym) => new(pseudonym, false);

    public static GroupKey Unowned(UInt128 resourceKey) => new(resourceKey >> 120 << 120, true);

    /// <summary>Patients are partitioned by the first byte of their pseudonym.</summary>
    public int Partition => (int)(Value >> 120);

    public override string ToString() => Ownerless
        ? "-" + Partition.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)
        : Value.ToString("x32", System.Globalization.CultureInfo.InvariantCulture);

    public static GroupKey Parse(string text) => text.StartsWith('-')
        ? new((UInt128)Convert.ToByte(text[1..], 16) << 120, true)
        : new(UInt128.Parse(text, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture), false);

    public int CompareTo(GroupKey other) => Ownerless != other.Ownerless ? (Ownerless ? -1 : 1) : Value.CompareTo(other.Value);

    public void Write(Span<byte> into)
    {
        into[0] = Ownerless ? OwnerlessMarker : OwnedMarker;
        BinaryPrimitives.WriteUInt128BigEndian(into[1..], Value);
    }

    /// <summary>
    /// The group at the start of a staged value and its length. Rows staged by an earlier version (a run
    /// killed before its merge, then the node upgraded) carry the group as text: a length byte and ASCII.
    /// </summary>
    public static (GroupKey Group, int Length) Read(ReadOnlySpan<byte> staged) => staged[0] switch
    {
        OwnedMarker or OwnerlessMarker => (new(BinaryPrimitives.ReadUInt128BigEndian(staged[1..]), staged[0] == OwnerlessMarker), Size),
        var n => (Parse(Encoding.ASCII.GetString(staged.Slice(1, n))), 1 + n),
    };
}
