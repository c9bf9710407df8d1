using FederatedTwin.Analytics.Studies;
using System.Text.Json;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Coordinator.Endpoints;

/// <summary>Reads wire bodies and turns protocol refusals into RFC 9457 problem details: a bad body is a 400, never a 500.</summary>
internal static class WireBodies
{
    /// <summary>The body as <typeparamref name="T"/>: the bytes the signature check already read and verified (<see cref="SignedNodeRequests"/>), read once.</summary>
    public static async Task<T> Read<T>(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = SignedNodeRequests.VerifiedBodyOf(request.HttpContext);
        if (body is null)
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            body = buffer.ToArray();
        }

        try
        {
            return WireJson.Deserialize<T>(body);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed body", $"The body is not a valid {typeof(T).Name}: {Describe(e)}");
        }
    }

    public static IResult Wire<T>(T value) => Results.Bytes(WireJson.Serialize(value), FederationProtocol.JsonMediaType);

    /// <summary>
    /// A body made once (<see cref="PreparedBody"/>): handed to the response signer as it is, with its digest, instead of being copied
    /// through the signer's buffer and hashed again for every request; written directly where no signer wraps the endpoint.
    /// </summary>
    public static IResult Prepared(PreparedBody body) => new PreparedResult(body);

    private sealed class PreparedResult(PreparedBody body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.ContentType = FederationProtocol.JsonMediaType;
            if (httpContext.Items.ContainsKey(SignedNodeRequests.SignsResponseItem))
            {
                httpContext.Items[SignedNodeRequests.PreparedBodyItem] = body;
                return Task.CompletedTask;
            }

            httpContext.Response.ContentLength = body.Bytes.Length;
            return httpContext.Response.Body.WriteAsync(body.Bytes).AsTask();
        }
    }

    public static async Task<IResult> Guard(Func<Task<IResult>> handler)
    {
        try
        {
            return await handler();
        }
        catch (ProtocolRefusalException e)
        {
            return Results.Problem(detail: e.Message, statusCode: e.Status, title: e.Title);
        }
        catch (StudyFileException e)
        {
            return Results.Problem(detail: e.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid study", extensions: new Dictionary<string, object?> { ["field"] = e.Field, ["line"] = e.Line });
        }
    }

    // A JSON exception's message can quote the input; keep only its position and kind.
    private static string Describe(Exception e) => e is JsonException j ? $"invalid JSON or field at {j.Path ?? "$"} (line {j.LineNumber}, byte {j.BytePositionInLine})" : e.Message;
}
