namespace FederatedTwin.Crypto.Ring;

/// <summary>
/// A polynomial of R_Q = Z_Q[X]/(X^N + 1) in residue-number-system form: one row of N residues
/// per prime q_i, stored contiguously (row i is <c>Coefficients[i*N .. (i+1)*N)</c>). Whether a
/// value holds coefficients or NTT evaluations is a property of where it is used and is stated
/// in the doc comment of every type that holds one.
/// </summary>
public sealed class RnsPoly
{
    public RnsPoly(int n, int levels)
    {
        N = n;
        Levels = levels;
        Coefficients = new ulong[n * levels];
    }

    public int N { get; }

    public int Levels { get; }

    public ulong[] Coefficients { get; }

    public Span<ulong> Level(int i) => Coefficients.AsSpan(i * N, N);

    public ReadOnlySpan<ulong> ReadLevel(int i) => Coefficients.AsSpan(i * N, N);

    public RnsPoly Clone()
    {
        var copy = new RnsPoly(N, Levels);
        Coefficients.CopyTo(copy.Coefficients, 0);
        return copy;
    }

    public void Clear() => Array.Clear(Coefficients);

    public bool ContentEquals(RnsPoly other) =>
        other.N == N && other.Levels == Levels && Coefficients.AsSpan().SequenceEqual(other.Coefficients);
}
