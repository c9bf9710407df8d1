using System.Text.Json;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Orchestration;

namespace FederatedTwin.Federation.Tests;

/// <summary>Study states and attempt phases keep the exact words coordinator.db stores and the admin API sends.</summary>
public sealed class StudyStateWireTests
{
    [Theory]
    [InlineData(StudyState.Offered, "offered")]
    [InlineData(StudyState.Running, "running")]
    [InlineData(StudyState.Completed, "completed")]
    [InlineData(StudyState.Failed, "failed")]
    [InlineData(StudyState.Cancelled, "cancelled")]
    public void A_study_state_is_stored_and_sent_as_its_word(StudyState state, string word)
    {
        Assert.Equal(word, state.ToWire());
        Assert.Equal($"\"{word}\"", JsonSerializer.Serialize(state));
        Assert.Equal(state, JsonSerializer.Deserialize<StudyState>($"\"{word}\""));
        Assert.Equal(state, StudyStates.Parse(word));
    }

    [Theory]
    [InlineData(AttemptPhase.KeyCommit, "key_commit")]
    [InlineData(AttemptPhase.KeyOpen, "key_open")]
    [InlineData(AttemptPhase.UpdateCommit, "update_commit")]
    [InlineData(AttemptPhase.UpdateOpen, "update_open")]
    [InlineData(AttemptPhase.Decrypt, "decrypt")]
    [InlineData(AttemptPhase.Done, "done")]
    [InlineData(AttemptPhase.Superseded, "superseded")]
    public void An_attempt_phase_is_stored_and_sent_as_its_word(AttemptPhase phase, string word)
    {
        Assert.Equal(word, phase.ToWire());
        Assert.Equal($"\"{word}\"", JsonSerializer.Serialize(phase));
        Assert.Equal(phase, JsonSerializer.Deserialize<AttemptPhase>($"\"{word}\""));
        Assert.Equal(phase, AttemptPhases.Parse(word));
    }

    [Fact]
    public void Unknown_words_are_not_states_or_phases()
    {
        Assert.False(StudyStates.TryParse("Running", out _));
        Assert.False(AttemptPhases.TryParse("KeyCommit", out _));
        Assert.Throws<FormatException>(() => StudyStates.Parse("done"));
    }

    [Theory]
    [InlineData("completed", "ok")]
    [InlineData("done", "ok")]
    [InlineData("failed", "bad")]
    [InlineData("cancelled", "bad")]
    [InlineData("superseded", "bad")]
    [InlineData("running", "warn")]
    [InlineData("key_commit", "warn")]
    [InlineData("decrypt", "warn")]
    [InlineData("offered", "muted")]
    [InlineData("unknown", "muted")]
    public void Badges_keep_their_styles(string word, string badge) => Assert.Equal(badge, StudyBadges.For(word));

    [Fact]
    public void Phases_follow_the_protocol_order()
    {
        Assert.True(AttemptPhase.KeyOpen.IsPast(AttemptPhase.KeyCommit));
        Assert.False(AttemptPhase.KeyCommit.IsPast(AttemptPhase.KeyCommit));
        Assert.True(AttemptPhase.Done.IsPast(AttemptPhase.UpdateCommit));
        Assert.False(AttemptPhase.Superseded.IsPast(AttemptPhase.KeyCommit));
        Assert.Equal(AttemptPhase.UpdateOpen, AttemptPhases.Of(global::FederatedTwin.Protocol.Federation.ContributionKind.Update));
        Assert.Null(AttemptPhase.Done.Kind());
        Assert.Null(AttemptPhase.Superseded.Work());
    }
}
