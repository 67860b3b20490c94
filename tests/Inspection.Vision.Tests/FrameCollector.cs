using System.Diagnostics;
using System.Security.Cryptography;
using Inspection.Core;
using Inspection.Vision;

namespace Inspection.Vision.Tests;

/// <summary>Consumes a camera's frames on a background task and records what arrived.</summary>
internal sealed class FrameCollector : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private readonly TimeSpan _holdEachFrame;

    public FrameCollector(CameraSource source, bool hash = false, TimeSpan holdEachFrame = default)
    {
        _holdEachFrame = holdEachFrame;
        _reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var frame in source.Frames.ReadAllAsync(_stop.Token))
                {
                    using (frame)
                    {
                        var record = new Received(frame.Sequence, frame.CaptureTimestamp, frame.Width, frame.Height, frame.Integrity, hash ? Hash(frame.Image) : null);
                        lock (Frames)
                        {
                            Frames.Add(record);
                        }

                        if (_holdEachFrame > TimeSpan.Zero)
                        {
                            Thread.Sleep(_holdEachFrame); // a slow consumer
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    public sealed record Received(long Sequence, long Timestamp, int Width, int Height, FrameIntegrity Integrity, string? Hash);

    public List<Received> Frames { get; } = [];

    public int Count
    {
        get
        {
            lock (Frames)
            {
                return Frames.Count;
            }
        }
    }

    /// <summary>Waits until <paramref name="count"/> frames arrived; false on timeout.</summary>
    public async Task<bool> WaitForAsync(int count, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (Count < count)
        {
            if (deadline.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    public Task Completion => _reading;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _reading;
        _stop.Dispose();
    }

    public static string Hash(OpenCvSharp.Mat mat) => Hash(View(mat));

    /// <summary>A view of a Mat's pixels, valid while the Mat lives.</summary>
    public static ImageView View(OpenCvSharp.Mat mat) =>
        new(new NativeMemory(mat.Data, (int)(mat.Step() * mat.Rows)).Memory, mat.Cols, mat.Rows, mat.Channels(), (int)mat.Step());

    public static string Hash(ImageView image)
    {
        var rows = new byte[image.Width * image.Channels * image.Height];
        for (var y = 0; y < image.Height; y++)
        {
            image.Pixels.Span.Slice(y * image.Stride, image.Width * image.Channels).CopyTo(rows.AsSpan(y * image.Width * image.Channels));
        }

        return Convert.ToHexString(SHA256.HashData(rows));
    }
}
