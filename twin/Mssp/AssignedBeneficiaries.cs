namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// Number of Medicare FFS beneficiaries assigned to the ACO. An ACO must have at least 5,000
/// (42 CFR 425.110(a)); the settlement refuses fewer rather than guessing an MSR.
/// </summary>
public readonly record struct AssignedBeneficiaries
{
    /// <summary>Minimum assigned population for the Shared Savings Program, 42 CFR 425.110(a).</summary>
    public const int Minimum = 5_000;

    /// <summary>Validates the count.</summary>
    public AssignedBeneficiaries(int count)
    {
        if (count < Minimum)
        {
            throw new MsspInputException("assigned", $"{count} assigned beneficiaries is below the program minimum of {Minimum} (42 CFR 425.110(a))");
        }

        Count = count;
    }

    /// <summary>The count.</summary>
    public int Count { get; }
}
