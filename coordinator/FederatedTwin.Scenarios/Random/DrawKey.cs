namespace FederatedTwin.Scenarios.Random;

/// <summary>The outcomes that each take exactly one draw per person and year; the value is the counter word.</summary>
public enum TwinOutcome : uint
{
    Death = 0,
    Admission = 1,
    BedDays = 2,
    EdVisits = 3,
    Cost = 4,
    Enrollment = 5,
    /// <summary>Onset of chronic condition k uses OnsetBase + k.</summary>
    OnsetBase = 16,
}

/// <summary>
/// Maps (seed, replicate, person, year, outcome) to one Philox call: key = (seed, replicate), counter =
/// (person, year, outcome, 0). Because nothing about a scenario enters the key or counter, a scenario and its
/// baseline draw identical uniforms for every person, year and outcome.
/// </summary>
public readonly record struct DrawStream(uint Seed, uint Replicate)
{
    /// <summary>The uniform (0,1) draw of one person, year and outcome.</summary>
    public double Uniform(int person, int year, uint outcome) =>
        Philox4x32.Generate((uint)person, (uint)year, outcome, 0u, Seed, Replicate).Uniform01();
}
