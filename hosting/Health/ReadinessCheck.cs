using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FederatedTwin.Hosting.Health;

/// <summary>
/// Readiness: the service can do its work now. <see cref="ServiceDefaults.Readiness"/> runs a real query on the store
/// (and whatever else the service needs loaded, such as the node's identity); any failure of it is Unhealthy, so an
/// orchestrator stops routing to a service whose database has gone or is damaged.
/// </summary>
internal sealed class ReadinessCheck(IServiceProvider services, ServiceDefaults defaults) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            defaults.Readiness(services);
            return Task.FromResult(HealthCheckResult.Healthy());
        }
        catch (Exception e) when (e is DbException or IOException or UnauthorizedAccessException or InvalidOperationException or CryptographicException)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"The {defaults.Service} is not ready: {e.Message}", e));
        }
    }
}
