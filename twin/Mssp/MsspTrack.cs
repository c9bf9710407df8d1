namespace FederatedTwin.Twin.Mssp;

/// <summary>Shared Savings Program participation options for performance year 2025 (42 CFR 425.600).</summary>
public enum MsspTrack
{
    /// <summary>BASIC Level A, one-sided (42 CFR 425.605(d)(1)(i)).</summary>
    BasicA,
    /// <summary>BASIC Level B, one-sided (42 CFR 425.605(d)(1)(ii)).</summary>
    BasicB,
    /// <summary>BASIC Level C, two-sided (42 CFR 425.605(d)(1)(iii)).</summary>
    BasicC,
    /// <summary>BASIC Level D, two-sided (42 CFR 425.605(d)(1)(iv)).</summary>
    BasicD,
    /// <summary>BASIC Level E, two-sided (42 CFR 425.605(d)(1)(v)).</summary>
    BasicE,
    /// <summary>ENHANCED track, two-sided (42 CFR 425.610).</summary>
    Enhanced,
}

/// <summary>Parsing and properties of <see cref="MsspTrack"/>.</summary>
public static class MsspTracks
{
    /// <summary>Parses the CLI spelling (basic-a .. basic-e, enhanced).</summary>
    public static MsspTrack Parse(string text) => text.Trim().ToUpperInvariant() switch
    {
        "BASIC-A" => MsspTrack.BasicA,
        "BASIC-B" => MsspTrack.BasicB,
        "BASIC-C" => MsspTrack.BasicC,
        "BASIC-D" => MsspTrack.BasicD,
        "BASIC-E" => MsspTrack.BasicE,
        "ENHANCED" => MsspTrack.Enhanced,
        _ => throw new MsspInputException("track", $"unknown track '{text}'; expected basic-a, basic-b, basic-c, basic-d, basic-e or enhanced"),
    };

    /// <summary>The CLI spelling of a track.</summary>
    public static string Name(this MsspTrack track) => track switch
    {
        MsspTrack.BasicA => "basic-a",
        MsspTrack.BasicB => "basic-b",
        MsspTrack.BasicC => "basic-c",
        MsspTrack.BasicD => "basic-d",
        MsspTrack.BasicE => "basic-e",
        _ => "enhanced",
    };

    /// <summary>Levels C–E and ENHANCED share losses; A and B do not (42 CFR 425.605(d)(1)(i)–(v), 425.610(b)).</summary>
    public static bool IsTwoSided(this MsspTrack track) => track is not (MsspTrack.BasicA or MsspTrack.BasicB);

    /// <summary>True for every BASIC level.</summary>
    public static bool IsBasic(this MsspTrack track) => track != MsspTrack.Enhanced;
}
