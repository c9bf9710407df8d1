using FederatedTwin.Coordinator.Dashboard;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>The per-name lockout's clock, without a browser: when it starts, how long it lasts, what resets it.</summary>
public sealed class SignInLockoutTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 29, 22, 0, 0, TimeSpan.Zero);

    private static SignInLockout Lockout() => new(Options.Create(new DashboardOptions { SignInMaxFailures = 5, SignInLockoutMinutes = 15 }));

    [Fact]
    public void The_fifth_consecutive_failure_locks_the_name_for_fifteen_minutes_and_only_that_name()
    {
        var lockout = Lockout();
        for (var i = 0; i < 4; i++)
        {
            Assert.Null(lockout.Failed("lou", Start.AddSeconds(i)));
        }

        Assert.Null(lockout.LockedUntil("lou", Start.AddSeconds(4)));
        Assert.Equal(Start.AddSeconds(4).AddMinutes(15), lockout.Failed("lou", Start.AddSeconds(4)));
        Assert.Equal(Start.AddSeconds(4).AddMinutes(15), lockout.LockedUntil("lou", Start.AddMinutes(10)));
        Assert.Null(lockout.LockedUntil("ana", Start.AddMinutes(10)));
    }

    [Fact]
    public void After_the_lockout_the_count_starts_again_from_one()
    {
        var lockout = Lockout();
        for (var i = 0; i < 5; i++)
        {
            lockout.Failed("lou", Start);
        }

        var after = Start.AddMinutes(15).AddSeconds(1);
        Assert.Null(lockout.LockedUntil("lou", after));
        for (var i = 0; i < 4; i++)
        {
            Assert.Null(lockout.Failed("lou", after));
        }

        Assert.NotNull(lockout.Failed("lou", after));
    }

    [Fact]
    public void A_successful_sign_in_before_the_limit_resets_the_count()
    {
        var lockout = Lockout();
        for (var i = 0; i < 4; i++)
        {
            lockout.Failed("lou", Start);
        }

        lockout.Succeeded("lou");
        for (var i = 0; i < 4; i++)
        {
            Assert.Null(lockout.Failed("lou", Start));
        }

        Assert.Null(lockout.LockedUntil("lou", Start));
    }
}
