namespace FederatedTwin.Twin.RandomStreams;

/// <summary>
/// Maps (seed, replicate, person, year, outcome) to its draw: key = (seed, replicate), counter = (person, year, group, 0).
/// Nothing about a scenario enters the key or counter, so a scenario and its baseline see identical uniforms for every
/// person, year and outcome (common random numbers).
/// </summary>
public readonly record struct DrawStream(uint Seed, uint Replicate)
{
    /// <summary>Blocks of the yearly outcomes (groups 0..3).</summary>
    public const int YearlyGroups = 4;

    /// <summary>The year word of enrollment draws (simulation years are small integers).</summary>
    public const uint EnrollmentYear = 0xFFFF;

    /// <summary>The year word of burn-in step k is BurnInYear + k (cohort draws, replicate word uint.MaxValue).</summary>
    public const uint BurnInYear = 0xFFFF_FF00;

    /// <summary>
    /// The year word of a replicate's parameter draws is ParameterYear + source (coefficients, intervention effects,
    /// composition): far from every simulated, enrollment and burn-in year, so drawing parameters leaves every person's
    /// outcome draws as they were.
    /// </summary>
    public const uint ParameterYear = 0xFFFF_0000;

    /// <summary>The Philox block of one person, year and outcome group.</summary>
    public PhiloxBlock Block(int person, int year, int group) =>
        Philox4x32.Generate((uint)person, (uint)year, (uint)group, 0u, Seed, Replicate);

    /// <summary>The uniform (0,1) draw of one person, year and outcome.</summary>
    public double Uniform(int person, int year, TwinOutcome outcome) =>
        Block(person, year, (int)outcome / 4).Word01((int)outcome % 4);

    /// <summary>
    /// Uniform draw k of item <paramref name="item"/> of a parameter source (counter (item, ParameterYear + source, k / 4, 0), word k % 4).
    /// </summary>
    public double ParameterUniform(uint source, int item, int k) =>
        Philox4x32.Generate((uint)item, ParameterYear + source, (uint)(k / 4), 0u, Seed, Replicate).Word01(k % 4);

    /// <summary>The four uniforms of group <paramref name="group"/> for many persons at once (batched Philox).</summary>
    public void Uniforms(ReadOnlySpan<int> persons, uint year, int group, Span<double> u0, Span<double> u1, Span<double> u2, Span<double> u3) =>
        Philox4x32.Uniforms(persons, year, (uint)group, Seed, Replicate, u0, u1, u2, u3);
}
