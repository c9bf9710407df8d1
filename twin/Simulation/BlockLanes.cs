using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// A model over a block's lanes (the table part of η or e^±η, completed with the utilisation features) and the
/// unchecked vector loads and stores every kernel uses on the block arrays (padded to whole vectors, see
/// <see cref="StepScratch.Pad"/>).
/// </summary>
internal static class BlockLanes
{
    /// <summary>
    /// The table part of each person's η (additive models) or e^±η (the others): intercept, age, sex, Medicare,
    /// conditions, condition count and year, into <see cref="StepScratch.Eta"/>.
    /// </summary>
    public static void Part(CompiledModel model, StepScratch s, int featureYear)
    {
        var np = s.Padded;
        ReadOnlySpan<double> ageSex = model.AgeSexTable;
        ReadOnlySpan<double> masks = model.MaskTable;
        var eta = s.Eta.AsSpan(0, np);
        ReadOnlySpan<int> index = s.AgeSex.AsSpan(0, np);
        ReadOnlySpan<long> mask = s.Mask.AsSpan(0, np);
        if (model.Additive)
        {
            var year = model.HasYear ? model.YearFactor(featureYear) : 0;
            for (var j = 0; j < eta.Length && j < index.Length && j < mask.Length; j++)
            {
                eta[j] = ageSex[index[j]] + masks[(int)mask[j]] + year;
            }
        }
        else if (model.HasYear)
        {
            var year = model.YearFactor(featureYear);
            for (var j = 0; j < eta.Length && j < index.Length && j < mask.Length; j++)
            {
                eta[j] = ageSex[index[j]] * masks[(int)mask[j]] * year;
            }
        }
        else
        {
            for (var j = 0; j < eta.Length && j < index.Length && j < mask.Length; j++)
            {
                eta[j] = ageSex[index[j]] * masks[(int)mask[j]];
            }
        }
    }

    /// <summary>Completes η or e^±η for lanes j.. from the table part and the block's utilisation features.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> CompleteAt(CompiledModel model, bool utilisation, StepScratch s, int j) => utilisation
        ? model.Complete(Load(s.Eta, j), Load(s.Admissions, j), Load(s.Days, j), Load(s.Ed, j), Load(s.Cost, j))
        : Load(s.Eta, j);

    /// <summary>e^±η (or η for additive models) of every person in the block into <paramref name="into"/>.</summary>
    public static void Evaluate(CompiledModel model, StepScratch s, int featureYear, double[] into)
    {
        var util = model.HasUtilisation;
        Part(model, s, featureYear);
        for (var j = 0; j < s.Padded; j += Vector<double>.Count)
        {
            Store(CompleteAt(model, util, s, j), into, j);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> Load<T>(T[] a, int j) => Vector.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(a), (nuint)j);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<T>(Vector<T> v, T[] a, int j) => v.StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(a), (nuint)j);
}
