namespace FederatedTwin.Twin.RandomStreams;

/// <summary>
/// The outcomes that each take exactly one draw per person and year. An outcome's draw is one fixed 32-bit word of one
/// Philox block whose counter is (person, year, outcome group, 0): Group = (int)outcome / 4, Word = (int)outcome % 4.
/// Packing four outcomes in one block keeps the one-draw-per-(person, year, outcome) property while calling Philox a
/// quarter as often: the 16 yearly outcomes take exactly four blocks.
/// </summary>
public enum TwinOutcome
{
    Death = 0,
    Admission = 1,
    InpatientDays = 2,
    EdVisits = 3,
    Cost = 4,
    /// <summary>Onset of chronic condition k uses OnsetBase + k (k = 0..10).</summary>
    OnsetBase = 5,
    /// <summary>Enrollment in intervention i uses EnrollmentBase + i (i = 0..15), drawn with the year fixed at
    /// <see cref="DrawStream.EnrollmentYear"/>, so enrollment persists as coverage ramps up.</summary>
    EnrollmentBase = 16,
}
