using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Inspection.Core;

namespace Inspection.Vision;

/// <summary>
/// Flags frames that show a failed camera rather than the part: frozen (unchanged for a set time), black,
/// blank (no contrast) or badly defocused (little Laplacian variance). Every frame is examined, since a frame
/// left unexamined would be judged on a picture nobody looked at; so the examination is kept small. It reads a
/// gray sample about 320 px wide (each sample the mean of the 2x2 pixels at the centre of a block of the frame:
/// enough averaging to keep sensor noise from hiding a blur), so its cost barely grows with the camera's
/// resolution; the statistics are vectorised, and nothing is allocated once the first frame has sized the
/// buffers. One checker per camera, called from that camera's thread only.
/// </summary>
public sealed class FrameIntegrityChecker(IntegrityOptions options)
{
    private const int WorkWidth = 320;

    // A frozen encoder repeats the same picture to the bit; a still scene still has sensor noise in a few
    // hundred pixels (the shared street camera: at least 45 of 57,600 differ by more than 2 levels).
    private const double FrozenChangedFraction = 0.0001;

    // Gray = (29 B + 150 G + 77 R) / 256: OpenCV's BGR to gray weights (0.114, 0.587, 0.299) in 8-bit fixed
    // point, so that a weighted pixel fits 16 bits.
    private const ushort BlueWeight = 29;
    private const ushort GreenWeight = 150;
    private const ushort RedWeight = 77;

    // Sums of squares are gathered in 32-bit lanes over at most this many values, then added up in 64 bits.
    private const int Chunk = 4096;

    // Where the blue, green and red bytes of 16 BGR pixels lie in the three vectors that hold them (byte 255:
    // none, which Shuffle turns into 0).
    private static readonly Vector128<byte> BlueFromFirst = Vector128.Create((byte)0, 3, 6, 9, 12, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> BlueFromSecond = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 2, 5, 8, 11, 14, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> BlueFromThird = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 4, 7, 10, 13);
    private static readonly Vector128<byte> GreenFromFirst = Vector128.Create((byte)1, 4, 7, 10, 13, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> GreenFromSecond = Vector128.Create((byte)255, 255, 255, 255, 255, 0, 3, 6, 9, 12, 15, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> GreenFromThird = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 2, 5, 8, 11, 14);
    private static readonly Vector128<byte> RedFromFirst = Vector128.Create((byte)2, 5, 8, 11, 14, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> RedFromSecond = Vector128.Create((byte)255, 255, 255, 255, 255, 1, 4, 7, 10, 13, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> RedFromThird = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 3, 6, 9, 12, 15);

    // This frame's sample and the previous frame's, swapped after each check: the previous one is the signature
    // the frozen check compares with. The gray rows are the two rows of the frame a sample row is taken from.
    private byte[] _sample = [];
    private byte[] _previous = [];
    private int _previousWidth;
    private int _previousHeight;
    private ushort[] _top = [];
    private ushort[] _bottom = [];
    private long _unchangedSince;

    /// <summary>Checks a BGR, BGRA or gray frame read at <paramref name="timestamp"/> (Stopwatch ticks).</summary>
    public FrameIntegrity Check(in ImageView frame, long timestamp)
    {
        if (!options.Enabled)
        {
            return FrameIntegrity.Ok;
        }

        var step = Math.Max(1, Math.Min(frame.Width / WorkWidth, frame.Height / 2));
        var width = frame.Width / step;
        var height = frame.Height / step;
        if (_sample.Length != width * height)
        {
            (_sample, _previous) = (new byte[width * height], new byte[width * height]);
        }

        if (_top.Length < frame.Width)
        {
            (_top, _bottom) = (new ushort[frame.Width], new ushort[frame.Width]);
        }

        Shrink(frame, step, width, height);
        var (mean, variance) = MeanAndVariance(_sample);
        var result = FrameIntegrity.Ok;
        if (mean < options.BlackLevel)
        {
            result |= FrameIntegrity.Black;
        }
        else if (Math.Sqrt(variance) < options.BlankContrast)
        {
            result |= FrameIntegrity.Blank;
        }
        else if (options.BlurThreshold > 0 && width >= 3 && height >= 3 && LaplacianVariance(_sample, width, height) < options.BlurThreshold)
        {
            result |= FrameIntegrity.Blurred;
        }

        return result | CheckFrozen(width, height, timestamp);
    }

    /// <summary>
    /// Fills the sample with the gray level of each <paramref name="step"/> x <paramref name="step"/> block: the mean
    /// of the 2x2 pixels at its centre (the pixel itself when the step is 1).
    /// </summary>
    private void Shrink(in ImageView frame, int step, int width, int height)
    {
        var pixels = frame.Pixels.Span;
        var offset = step == 1 ? 0 : (step - 2) / 2;
        var used = step == 1 ? width : ((width - 1) * step) + offset + 2; // the pixels of a row the sample reads
        var top = _top.AsSpan(0, used);
        var bottom = _bottom.AsSpan(0, used);
        for (var y = 0; y < height; y++)
        {
            var output = _sample.AsSpan(y * width, width);
            var row = ((y * step) + offset) * frame.Stride;
            Gray(pixels.Slice(row, used * frame.Channels), frame.Channels, top);
            if (step == 1)
            {
                for (var x = 0; x < width; x++)
                {
                    output[x] = (byte)top[x];
                }

                continue;
            }

            Gray(pixels.Slice(row + frame.Stride, used * frame.Channels), frame.Channels, bottom);
            Average(top, bottom, step, offset, output);
        }
    }

    /// <summary>Each sample: the mean of the gray levels at <c>x * step + offset</c> and the next, in both rows.</summary>
    private static void Average(ReadOnlySpan<ushort> top, ReadOnlySpan<ushort> bottom, int step, int offset, Span<byte> output)
    {
        var x = 0;
        if (step == 2)
        {
            // The pairs are adjacent: the two 16-bit halves of each 32-bit lane, 8 samples at a time.
            for (; x + 8 <= output.Length; x += 8)
            {
                var low = (Vector128.Create(top.Slice(2 * x, 8)) + Vector128.Create(bottom.Slice(2 * x, 8))).AsUInt32();
                var high = (Vector128.Create(top.Slice((2 * x) + 8, 8)) + Vector128.Create(bottom.Slice((2 * x) + 8, 8))).AsUInt32();
                var means = Vector128.Narrow(HalvesMean(low), HalvesMean(high));
                MemoryMarshal.Write(output.Slice(x, 8), Vector128.Narrow(means, means).AsUInt64().ToScalar());
            }
        }

        for (; x < output.Length; x++)
        {
            var at = (x * step) + offset;
            output[x] = (byte)((top[at] + top[at + 1] + bottom[at] + bottom[at + 1] + 2) >> 2);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> HalvesMean(Vector128<uint> sums) => ((sums & Vector128.Create(0xFFFFu)) + (sums >> 16) + Vector128.Create(2u)) >> 2;

    /// <summary>The gray level (0-255) of each pixel of a row: 16 BGR pixels at a time.</summary>
    private static void Gray(ReadOnlySpan<byte> row, int channels, Span<ushort> gray)
    {
        var x = 0;
        if (channels == 3 && Vector128.IsHardwareAccelerated)
        {
            ref var source = ref MemoryMarshal.GetReference(row);
            ref var target = ref MemoryMarshal.GetReference(gray);
            for (; x + 16 <= gray.Length; x += 16)
            {
                var first = Vector128.LoadUnsafe(ref source, (nuint)(x * 3));
                var second = Vector128.LoadUnsafe(ref source, (nuint)((x * 3) + 16));
                var third = Vector128.LoadUnsafe(ref source, (nuint)((x * 3) + 32));
                var blue = Vector128.Shuffle(first, BlueFromFirst) | Vector128.Shuffle(second, BlueFromSecond) | Vector128.Shuffle(third, BlueFromThird);
                var green = Vector128.Shuffle(first, GreenFromFirst) | Vector128.Shuffle(second, GreenFromSecond) | Vector128.Shuffle(third, GreenFromThird);
                var red = Vector128.Shuffle(first, RedFromFirst) | Vector128.Shuffle(second, RedFromSecond) | Vector128.Shuffle(third, RedFromThird);
                var (blueLow, blueHigh) = Vector128.Widen(blue);
                var (greenLow, greenHigh) = Vector128.Widen(green);
                var (redLow, redHigh) = Vector128.Widen(red);
                Weigh(blueLow, greenLow, redLow).StoreUnsafe(ref target, (nuint)x);
                Weigh(blueHigh, greenHigh, redHigh).StoreUnsafe(ref target, (nuint)(x + 8));
            }
        }

        for (; x < gray.Length; x++)
        {
            var at = x * channels;
            gray[x] = channels == 1 ? row[at] : (ushort)(((row[at] * BlueWeight) + (row[at + 1] * GreenWeight) + (row[at + 2] * RedWeight) + 128) >> 8);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> Weigh(Vector128<ushort> blue, Vector128<ushort> green, Vector128<ushort> red) =>
        ((blue * BlueWeight) + (green * GreenWeight) + (red * RedWeight) + Vector128.Create((ushort)128)) >> 8;

    private static (double Mean, double Variance) MeanAndVariance(ReadOnlySpan<byte> sample)
    {
        long sum = 0;
        long squares = 0;
        for (var start = 0; start < sample.Length; start += Chunk)
        {
            var chunk = sample.Slice(start, Math.Min(Chunk, sample.Length - start));
            var sums = Vector128<uint>.Zero;
            var squareSums = Vector128<uint>.Zero;
            var i = 0;
            for (; i + 16 <= chunk.Length; i += 16)
            {
                var (low, high) = Vector128.Widen(Vector128.Create(chunk.Slice(i, 16)));
                var (a, b) = Vector128.Widen(low);
                var (c, d) = Vector128.Widen(high);
                sums += a + b + c + d;
                squareSums += (a * a) + (b * b) + (c * c) + (d * d);
            }

            sum += Vector128.Sum(sums);
            squares += Vector128.Sum(squareSums);
            for (; i < chunk.Length; i++)
            {
                sum += chunk[i];
                squares += chunk[i] * chunk[i];
            }
        }

        var mean = (double)sum / sample.Length;
        return (mean, Math.Max(0, ((double)squares / sample.Length) - (mean * mean)));
    }

    /// <summary>The variance of the 4-neighbour Laplacian over the sample's interior, 8 samples at a time.</summary>
    private static double LaplacianVariance(ReadOnlySpan<byte> sample, int width, int height)
    {
        long sum = 0;
        long squares = 0;
        for (var y = 1; y < height - 1; y++)
        {
            var above = sample.Slice((y - 1) * width, width);
            var row = sample.Slice(y * width, width);
            var below = sample.Slice((y + 1) * width, width);
            for (var start = 1; start < width - 1; start += Chunk)
            {
                var end = Math.Min(width - 1, start + Chunk);
                var sums = Vector128<int>.Zero;
                var squareSums = Vector128<int>.Zero;
                var x = start;
                for (; x + 8 <= end; x += 8)
                {
                    var laplacian = Load8(above, x) + Load8(below, x) + Load8(row, x - 1) + Load8(row, x + 1) - (Load8(row, x) << 2);
                    var (a, b) = Vector128.Widen(laplacian);
                    sums += a + b;
                    squareSums += (a * a) + (b * b);
                }

                sum += Vector128.Sum(sums);
                squares += Vector128.Sum(squareSums);
                for (; x < end; x++)
                {
                    var laplacian = above[x] + below[x] + row[x - 1] + row[x + 1] - (4 * row[x]);
                    sum += laplacian;
                    squares += laplacian * laplacian;
                }
            }
        }

        var count = (double)(width - 2) * (height - 2);
        var mean = sum / count;
        return (squares / count) - (mean * mean);
    }

    /// <summary>8 bytes from <paramref name="at"/>, as 16-bit signed lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> Load8(ReadOnlySpan<byte> values, int at) =>
        Vector128.WidenLower(Vector128.CreateScalar(MemoryMarshal.Read<ulong>(values.Slice(at, 8))).AsByte()).AsInt16();

    private FrameIntegrity CheckFrozen(int width, int height, long timestamp)
    {
        var same = width == _previousWidth && height == _previousHeight &&
                   Changed(_sample, _previous, (byte)options.FrozenTolerance) <= FrozenChangedFraction * _sample.Length;
        (_sample, _previous, _previousWidth, _previousHeight) = (_previous, _sample, width, height);
        if (!same)
        {
            _unchangedSince = timestamp;
            return FrameIntegrity.Ok;
        }

        return Stopwatch.GetElapsedTime(_unchangedSince, timestamp) >= options.FrozenAfter ? FrameIntegrity.Frozen : FrameIntegrity.Ok;
    }

    /// <summary>How many samples differ from the previous frame's by more than <paramref name="tolerance"/> gray levels.</summary>
    private static int Changed(ReadOnlySpan<byte> current, ReadOnlySpan<byte> previous, byte tolerance)
    {
        var changed = 0;
        var limit = Vector128.Create(tolerance);
        var i = 0;
        for (; i + 16 <= current.Length; i += 16)
        {
            var a = Vector128.Create(current.Slice(i, 16));
            var b = Vector128.Create(previous.Slice(i, 16));
            var difference = Vector128.Max(a, b) - Vector128.Min(a, b);
            changed += BitOperations.PopCount(Vector128.GreaterThan(difference, limit).ExtractMostSignificantBits());
        }

        for (; i < current.Length; i++)
        {
            changed += Math.Abs(current[i] - previous[i]) > tolerance ? 1 : 0;
        }

        return changed;
    }
}
