using System.Text.Json;

namespace Inspection.Web;

/// <summary>The cameras' cards as the API and the "stats" event give them: the board, the shift's counts and the live frame's version together.</summary>
public sealed class LineState(CameraBoard board, ShiftCounters shift, LiveFrames live, TimeProvider time)
{
    public IReadOnlyList<object> Cameras() =>
        [.. board.Views(time.GetTimestamp()).Select(c => (object)new
        {
            c.Id, c.Mode, c.State, c.Reason, c.Since, c.Fps, c.SourceWidth, c.SourceHeight, c.Integrity,
            frameVersion = live.Slot(c.Id).Frame?.Version ?? 0, c.Last, shift = Counts(c.Id),
        })];

    public object Shift()
    {
        var bounds = shift.Bounds();
        return new { bounds.Start, bounds.End, cameras = board.Views(time.GetTimestamp()).ToDictionary(c => c.Id, c => Counts(c.Id)) };
    }

    /// <summary>The "stats" event: one line per camera, sent every second to each reader.</summary>
    public byte[] Stats() => JsonSerializer.SerializeToUtf8Bytes(new
    {
        cameras = board.Views(time.GetTimestamp()).Select(c =>
        {
            var counts = shift.Of(c.Id);
            return new { c.Id, c.State, c.Fps, c.Inspected, counts.Ok, counts.Ng, counts.Unknown, counts.Yield, c.Integrity, frameVersion = live.Slot(c.Id).Frame?.Version ?? 0 };
        }),
        shiftStart = shift.Bounds().Start,
    }, WebJson.Options);

    private object Counts(string camera)
    {
        var counts = shift.Of(camera);
        return new { counts.Ok, counts.Ng, counts.Unknown, counts.Yield };
    }
}
