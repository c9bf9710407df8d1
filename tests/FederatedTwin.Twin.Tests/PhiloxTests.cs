using FederatedTwin.Twin.RandomStreams;

namespace FederatedTwin.Twin.Tests;

public class PhiloxTests
{
    // Random123 distribution, tests/kat_vectors, the three "philox4x32 10" lines:
    // columns are counter[4], key[2], expected output[4] (hex uint32).
    [Theory]
    [InlineData(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox4x32_10_reproduces_the_Random123_known_answers(
        uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        Assert.Equal(new PhiloxBlock(e0, e1, e2, e3), Philox4x32.Generate(c0, c1, c2, c3, k0, k1));
    }

    [Fact]
    public void A_draw_depends_only_on_seed_replicate_person_year_and_outcome()
    {
        var a = new DrawStream(42, 3);
        var b = new DrawStream(42, 3);
        Assert.Equal(a.Uniform(1234, 2, TwinOutcome.Admission), b.Uniform(1234, 2, TwinOutcome.Admission));
        Assert.NotEqual(a.Uniform(1234, 2, TwinOutcome.Admission), a.Uniform(1234, 2, TwinOutcome.Death));
        Assert.NotEqual(a.Uniform(1234, 2, TwinOutcome.Admission), new DrawStream(42, 4).Uniform(1234, 2, TwinOutcome.Admission));
    }

    [Fact]
    public void The_batched_generator_equals_the_scalar_one_word_for_word()
    {
        // 8-lane AVX2 path (when the CPU has it) plus the scalar tail: 203 counters, not a multiple of 8.
        var persons = Enumerable.Range(0, 203).Select(i => (i * 7919) + (i % 3 == 0 ? int.MaxValue - 5000 : 0)).ToArray();
        var u = Enumerable.Range(0, 4).Select(_ => new double[persons.Length]).ToArray();
        Philox4x32.Uniforms(persons, 17u, 3u, 0xDEADBEEFu, 42u, u[0], u[1], u[2], u[3]);
        for (var j = 0; j < persons.Length; j++)
        {
            var b = Philox4x32.Generate((uint)persons[j], 17u, 3u, 0u, 0xDEADBEEFu, 42u);
            for (var w = 0; w < 4; w++)
            {
                Assert.Equal(b.Word01(w), u[w][j]);
            }
        }
    }

    [Fact]
    public void Uniform_draws_are_strictly_inside_the_unit_interval_with_mean_one_half()
    {
        var stream = new DrawStream(7, 0);
        double sum = 0;
        const int n = 200_000;
        for (var i = 0; i < n; i++)
        {
            var u = stream.Uniform(i, 0, TwinOutcome.Death);
            Assert.InRange(u, double.Epsilon, 1 - 1e-17);
            sum += u;
        }

        // Standard error of the mean of U(0,1) is sqrt(1/12/n) ~ 0.00065; 5 SE.
        Assert.InRange(sum / n, 0.5 - 0.0033, 0.5 + 0.0033);
    }
}
