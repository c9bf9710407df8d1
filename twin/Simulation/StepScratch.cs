using System.Numerics;

namespace FederatedTwin.Twin.Simulation;

/// <summary>Block-local arrays of one worker (reused across blocks, chunks, years and runs).</summary>
internal sealed class StepScratch
{
    /// <summary>Blocks are padded to a multiple of this (the widest Philox batch, 16, and any Vector width up to 16 doubles).</summary>
    public static readonly int Pad = Math.Max(16, Vector<double>.Count);

    private const int B = TwinSimulator.Block;

    public int Count { get; set; }
    public int Padded { get; set; }

    public int[] Person { get; } = new int[B];
    public int[] Age { get; } = new int[B];
    public int[] AgeSex { get; } = new int[B];
    public long[] Mask { get; } = new long[B];
    public double[] Admissions { get; } = new double[B];
    public double[] Days { get; } = new double[B];
    public double[] Ed { get; } = new double[B];
    public double[] Cost { get; } = new double[B];

    /// <summary>Draws of the 16 yearly outcomes, indexed by <see cref="TwinOutcome"/>.</summary>
    public double[][] U { get; } = [.. Enumerable.Range(0, 16).Select(_ => new double[B])];
    /// <summary>Predicted risk of each intervention's risk model.</summary>
    public double[][] Risk { get; } = [.. Enumerable.Range(0, 16).Select(_ => new double[B])];

    public double[] Eta { get; } = new double[B];
    public double[] AdmissionX { get; } = new double[B];
    public double[] RiskX { get; } = new double[B];
    public double[] LambdaDays { get; } = new double[B];
    public double[] P0Days { get; } = new double[B];
    public double[] Lambda0 { get; } = new double[B];
    public double[] Lambda { get; } = new double[B];
    public double[] P0 { get; } = new double[B];
    public double[] MeanDays { get; } = new double[B];
    public double[] MeanEd { get; } = new double[B];
    public double[] LambdaEd { get; } = new double[B];
    public double[] P0Ed { get; } = new double[B];
    public double[] N { get; } = new double[B];
    public double[] D { get; } = new double[B];
    public double[] E { get; } = new double[B];
    public double[] NewCost { get; } = new double[B];
    public long[] Died { get; } = new long[B];
    public long[] NewBits { get; } = new long[B];

    public double[] AdmissionMul { get; } = new double[B];
    public double[] EdMul { get; } = new double[B];
    public double[] DeathInvOr { get; } = new double[B];
    public double[] CostMul { get; } = new double[B];
    public double[] AdmissionInvOr { get; } = new double[B];
    public double[] CostMeanMul { get; } = new double[B];
    public double[][] OnsetInvOr { get; } = [.. Enumerable.Range(0, ChronicConditions.Count).Select(_ => new double[B])];
    /// <summary>Enrollment draws of the block's people, indexed by intervention.</summary>
    public double[][] EnrollU { get; } = [.. Enumerable.Range(0, 16).Select(_ => new double[B])];
    /// <summary>All bits set for people enrolled in at least one intervention.</summary>
    public long[] Enrolled { get; } = new long[B];
    public double[] AgeD { get; } = new double[B];
    public double[] InterventionCost { get; } = new double[B];
}
