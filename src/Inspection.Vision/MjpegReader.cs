using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OpenCvSharp;

namespace Inspection.Vision;

/// <summary>
/// HTTP multipart MJPEG, as industrial IP cameras serve it: the body is read directly, each JPEG is cut out
/// (by the part's Content-Length when it has one, else by its start and end markers) and decoded by OpenCV.
/// </summary>
internal sealed class MjpegReader(CameraOptions options, SourceLocation location) : IFrameReader
{
    private const int MaxJpegBytes = 64 << 20;

    private readonly CancellationTokenSource _abort = new();
    private HttpClient? _client;
    private HttpResponseMessage? _response;
    private Stream? _body;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
    private int _start;
    private int _end;

    public StreamInfo Open(CancellationToken cancel)
    {
        _client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = options.ConnectTimeout }) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, location.Target);
        var user = options.Username ?? (Uri.TryCreate(location.Target, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0 ? Uri.UnescapeDataString(uri.UserInfo) : null);
        if (user is not null)
        {
            var credentials = options.Username is null ? user : $"{options.Username}:{options.Password}";
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        }

        using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancel, _abort.Token);
        connect.CancelAfter(options.ConnectTimeout);
        try
        {
            _response = _client.Send(request, HttpCompletionOption.ResponseHeadersRead, connect.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancel.IsCancellationRequested)
        {
            var reason = e is OperationCanceledException ? $"no answer within {options.ConnectTimeout.TotalSeconds:0.#} s" : e.Message;
            throw new SourceException($"Camera '{options.Id}': {location.Display} cannot be opened: {reason}.", retryable: true, e);
        }

        if (_response.StatusCode == HttpStatusCode.Unauthorized)
        {
            throw new SourceException($"Camera '{options.Id}': {location.Display} answered 401 Unauthorized: the username or password is wrong.", retryable: true);
        }

        if (!_response.IsSuccessStatusCode)
        {
            throw new SourceException($"Camera '{options.Id}': {location.Display} answered {(int)_response.StatusCode} {_response.ReasonPhrase}.", retryable: true);
        }

        // Cameras send multipart/x-mixed-replace; some servers say octet-stream or nothing. A page or a playlist is refused.
        var type = _response.Content.Headers.ContentType?.MediaType ?? "application/octet-stream";
        if (!type.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) && type is not ("image/jpeg" or "application/octet-stream"))
        {
            throw new SourceException(
                $"Camera '{options.Id}': {location.Display} is not a multipart MJPEG stream (Content-Type: {type}); for other HTTP streams set Kind to Ffmpeg.", retryable: false);
        }

        _body = _response.Content.ReadAsStream(cancel);
        return new StreamInfo(0, 0, 0, "mjpeg");
    }

    public bool Read(Mat destination)
    {
        if (NextJpeg() is not { } jpeg)
        {
            return false;
        }

        using var image = Cv2.ImDecode(_buffer.AsSpan(jpeg.Start, jpeg.Length), ImreadModes.Color);
        if (image.Empty())
        {
            throw new SourceException($"Camera '{options.Id}': {location.Display} sent a JPEG that cannot be decoded.", retryable: true);
        }

        image.CopyTo(destination);
        return true;
    }

    public bool Skip() => NextJpeg() is not null;

    public void Abort()
    {
        _abort.Cancel();
        _body?.Dispose();
    }

    public void Dispose()
    {
        Abort();
        _response?.Dispose();
        _client?.Dispose();
        _abort.Dispose();
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    /// <summary>The next complete JPEG in the buffer, reading more of the body as needed; null at the end of it.</summary>
    private (int Start, int Length)? NextJpeg()
    {
        var scanned = _start;
        while (true)
        {
            var soi = IndexOf(0xD8, _start, _end);
            if (soi >= 0)
            {
                var length = ContentLength(_start, soi);
                if (length > 0 && soi + length <= _end)
                {
                    _start = soi + length;
                    return (soi, length);
                }

                if (length <= 0)
                {
                    var eoi = IndexOf(0xD9, Math.Max(soi + 2, scanned), _end);
                    if (eoi >= 0)
                    {
                        _start = eoi + 2;
                        return (soi, eoi + 2 - soi);
                    }

                    scanned = Math.Max(_end - 1, soi + 2);
                }
            }

            if (!ReadMore(ref scanned))
            {
                return null;
            }
        }
    }

    /// <summary>Position of the marker FF <paramref name="code"/> in [from, to), or -1.</summary>
    private int IndexOf(byte code, int from, int to)
    {
        ReadOnlySpan<byte> marker = [0xFF, code];
        var at = _buffer.AsSpan(from, Math.Max(0, to - from)).IndexOf(marker);
        return at < 0 ? -1 : from + at;
    }

    /// <summary>The Content-Length in the part headers between a frame's end and the next JPEG's start, or -1.</summary>
    private int ContentLength(int from, int soi)
    {
        var headers = Encoding.ASCII.GetString(_buffer, from, soi - from);
        var at = headers.LastIndexOf("Content-Length:", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return -1;
        }

        var value = headers[(at + "Content-Length:".Length)..].TrimStart();
        var digits = value.TakeWhile(char.IsAsciiDigit).Count();
        return int.TryParse(value.AsSpan(0, digits), out var length) && length > 2 ? length : -1;
    }

    /// <summary>Moves unread bytes to the front, grows the buffer if a JPEG needs it, and reads more of the body.</summary>
    private bool ReadMore(ref int scanned)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            (_end, scanned, _start) = (_end - _start, scanned - _start, 0);
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= MaxJpegBytes)
            {
                throw new SourceException($"Camera '{options.Id}': {location.Display} sent more than {MaxJpegBytes >> 20} MB without a complete JPEG.", retryable: true);
            }

            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, larger, 0, _end);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        int read;
        try
        {
            read = _body!.Read(_buffer, _end, _buffer.Length - _end);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or HttpRequestException)
        {
            throw new SourceException($"Camera '{options.Id}': {location.Display} stopped: {e.Message}", retryable: true, e);
        }

        _end += read;
        return read > 0;
    }
}
