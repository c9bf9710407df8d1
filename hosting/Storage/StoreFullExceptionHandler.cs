using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// A request that failed because the service's store is full (its size cap reached, or the disk: <see cref="StoreSizeCap"/>) is answered
/// 507 Insufficient Storage (RFC 4918 §11.5) with one sentence, and logged as one line, instead of a 500 with a stack trace: its
/// transaction was rolled back, the caller retries as it would after any server error, and the operator reads what to raise.
/// </summary>
public sealed partial class StoreFullExceptionHandler(ILogger<StoreFullExceptionHandler> logger) : IExceptionHandler
{
    public const string Detail = "The service's store is full (its size cap or its disk); the request changed nothing. Retry once the operator has raised the cap or freed space.";

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        if (!StoreSizeCap.IsFull(exception))
        {
            return false;
        }

        LogStoreFull(logger, httpContext.Request.Method, httpContext.Request.Path);
        httpContext.Response.StatusCode = StatusCodes.Status507InsufficientStorage;
        await httpContext.Response.WriteAsJsonAsync(new { title = "Store full", status = 507, detail = Detail }, cancellationToken);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed: the service's store is full (its size cap, --max-store-mb, or its disk); the request was rolled back")]
    private static partial void LogStoreFull(ILogger logger, string method, string path);
}
