namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// Shared Savings Program participation options. BASIC Levels A–E and ENHANCED (42 CFR 425.600(a) as amended by 83 FR 67816,
/// Dec. 31, 2018) from the performance year beginning 1 July 2019; Tracks 1, 2 and 3 (425.604, 425.606, 425.610 as in force
/// before that rule) and the Track 1+ Model (a CMS Innovation Center model under section 1115A of the Social Security Act) for
/// agreement periods that began before July 2019, settled through performance year 2021. Which options a year offers is
/// <see cref="PerformanceYearRules.Terms"/>.
/// </summary>
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
    /// <summary>Track 1, one-sided (42 CFR 425.604), through performance year 2021.</summary>
    Track1,
    /// <summary>Track 1+ Model, two-sided with limited losses (section 1115A model), through performance year 2021.</summary>
    Track1Plus,
    /// <summary>Track 2, two-sided (42 CFR 425.606), through performance year 2021.</summary>
    Track2,
    /// <summary>Track 3, two-sided (42 CFR 425.610 before the ENHANCED track took its terms over), through performance year 2021.</summary>
    Track3,
}

/// <summary>Parsing and properties of <see cref="MsspTrack"/>.</summary>
public static class MsspTracks
{
    /// <summary>
    /// Parses the CLI spelling (basic-a .. basic-e, enhanced, track-1, track-1-plus, track-2, track-3) and the public use files'
    /// spellings (basic_a, track_1_plus, "Track 1+"): case, '-', '_' and spaces do not matter.
    /// </summary>
    public static MsspTrack Parse(string text) => TryParse(text)
        ?? throw new MsspInputException("track", $"unknown track '{(text.Length <= 32 ? text : text[..32] + "…")}'; expected basic-a, basic-b, basic-c, basic-d, basic-e, enhanced, track-1, track-1-plus, track-2 or track-3");

    /// <summary>As <see cref="Parse"/>, or null for a spelling that names no track.</summary>
    public static MsspTrack? TryParse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var key = new string([.. text.Trim().ToUpperInvariant().Where(c => c is not ('-' or '_' or ' '))]);
        return key switch
        {
            "BASICA" => MsspTrack.BasicA,
            "BASICB" => MsspTrack.BasicB,
            "BASICC" => MsspTrack.BasicC,
            "BASICD" => MsspTrack.BasicD,
            "BASICE" => MsspTrack.BasicE,
            "ENHANCED" => MsspTrack.Enhanced,
            "TRACK1" => MsspTrack.Track1,
            "TRACK1PLUS" or "TRACK1+" => MsspTrack.Track1Plus,
            "TRACK2" => MsspTrack.Track2,
            "TRACK3" => MsspTrack.Track3,
            _ => null,
        };
    }

    /// <summary>The CLI spelling of a track.</summary>
    public static string Name(this MsspTrack track) => track switch
    {
        MsspTrack.BasicA => "basic-a",
        MsspTrack.BasicB => "basic-b",
        MsspTrack.BasicC => "basic-c",
        MsspTrack.BasicD => "basic-d",
        MsspTrack.BasicE => "basic-e",
        MsspTrack.Track1 => "track-1",
        MsspTrack.Track1Plus => "track-1-plus",
        MsspTrack.Track2 => "track-2",
        MsspTrack.Track3 => "track-3",
        _ => "enhanced",
    };

    /// <summary>BASIC A–B and Track 1 share no losses; every other option does (42 CFR 425.604, 425.605(d)(1)(i)–(v), 425.606, 425.610).</summary>
    public static bool IsTwoSided(this MsspTrack track) => track is not (MsspTrack.BasicA or MsspTrack.BasicB or MsspTrack.Track1);

    /// <summary>True for every BASIC level.</summary>
    public static bool IsBasic(this MsspTrack track) => track is MsspTrack.BasicA or MsspTrack.BasicB or MsspTrack.BasicC or MsspTrack.BasicD or MsspTrack.BasicE;
}
