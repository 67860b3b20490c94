using Inspection.Core;

namespace Inspection.Messaging.Tests;

/// <summary>Results published as the worker publishes them: through the JSON sink over the session.</summary>
internal static class SessionResults
{
    public static ValueTask<bool> PublishResultAsync(this MqttSession session, InspectionResult result) => new JsonResultSink(session).WriteResultAsync(result);

    public static ValueTask PublishCameraStatusAsync(this MqttSession session, SourceStatus status) => new JsonResultSink(session).WriteAsync(SinkItem.ForStatus(status), CancellationToken.None);
}
