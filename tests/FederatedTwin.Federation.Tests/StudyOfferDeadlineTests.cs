using System.Net.Http.Headers;
using System.Text;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// A study's offer is open for its phase deadline from its creation, by the coordinator's clock: a study that has fewer than
/// min_nodes acceptances when it closes fails, and says how many it had. The clock is moved, not waited for.
/// </summary>
public sealed class StudyOfferDeadlineTests
{
    [Fact]
    public async Task An_offer_is_open_to_its_deadline_and_a_study_short_of_min_nodes_fails_one_tick_after_it()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("offer-deadline", clock);
        var store = coordinator.App.Services.GetRequiredService<CoordinatorStore>();
        var engine = coordinator.App.Services.GetRequiredService<RoundEngine>();
        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", coordinator.AdminToken);

        // Three nodes wanted; the one enrolled node never answers (no node service runs).
        using (var created = await http.PostAsync("/v1/admin/studies", new StringContent(TestFederation.StudyYaml("short", deadline: 30), Encoding.UTF8, "application/yaml")))
        {
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }

        // The orchestrator advances studies on its own timer too, by the same clock: stepping the engine here only makes it prompt.
        clock.Advance(TimeSpan.FromSeconds(30));
        engine.Advance(clock.GetUtcNow());
        Assert.Equal("offered", StudyDetail.Read(store, "short")!.State);

        clock.Advance(TimeSpan.FromTicks(1));
        engine.Advance(clock.GetUtcNow());
        var study = StudyDetail.Read(store, "short")!;
        Assert.Equal("failed", study.State);
        Assert.Equal("only 0 node(s) accepted the study by its deadline; it needs at least 3", study.FailureReason);
    }
}
