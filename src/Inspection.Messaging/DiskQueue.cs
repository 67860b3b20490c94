using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using Inspection.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Inspection.Messaging;

/// <summary>What a full queue does with one more message.</summary>
public enum QueueFullPolicy
{
    /// <summary>Drop the oldest message not yet sent: the line learns of the newest parts first.</summary>
    DropOldest,

    /// <summary>Refuse the new message: the backlog is kept whole.</summary>
    DropNewest,

    /// <summary>Make the producer wait for room: nothing is dropped, the pipeline slows down instead.</summary>
    BackPressure,
}

/// <summary>How far an appended message has got when the queue accepts it.</summary>
public enum QueueDurability
{
    /// <summary>
    /// Written to the kernel: survives a crash or kill of the process, not a crash of the OS or a power cut, which
    /// lose what the kernel had not written out yet (by default up to about 30 s of appends).
    /// </summary>
    Kernel,

    /// <summary>
    /// On the disk (fsync) before it is accepted: survives an OS crash or a power cut too, at the cost of a disk
    /// flush per append; producers appending at the same time share one flush.
    /// </summary>
    Fsync,
}

public sealed class DiskQueueOptions
{
    public string Directory { get; set; } = "queue";

    public long MaxMessages { get; set; } = 1_000_000;

    public long MaxBytes { get; set; } = 1L << 30;

    public QueueFullPolicy FullPolicy { get; set; } = QueueFullPolicy.DropOldest;

    /// <summary>Messages are appended to segment files of about this size; a segment is deleted once all of it was sent.</summary>
    public int SegmentBytes { get; set; } = 16 << 20;

    /// <summary>What an accepted message survives: a crash of the process (<see cref="QueueDurability.Kernel"/>) or of the OS too.</summary>
    public QueueDurability Durability { get; set; } = QueueDurability.Kernel;
}

/// <summary>
/// A durable FIFO of messages on disk: appended to segment files, handed to the publisher in order, and
/// removed only when the publisher acknowledges them (the broker's PUBACK). It survives a process restart:
/// what was not acknowledged is sent again, so a crash can cause duplicates, never a loss of an accepted message
/// (of the process, or with <see cref="QueueDurability.Fsync"/> of the OS too). A record torn by a crash mid-write
/// is detected by its CRC and cut off.
/// </summary>
public sealed class DiskQueue : IDisposable
{
    private const int HeaderBytes = 8; // length, CRC-32
    private const int OffsetBits = 40;
    private const string CursorFile = "cursor";
    private static readonly TimeSpan CursorInterval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private readonly Lock _syncGate = new();
    private readonly DiskQueueOptions _options;
    private readonly ILogger _logger;
    private readonly string _directory;
    private readonly Queue<(long End, long Size)> _unacknowledged = new();
    private readonly SemaphoreSlim _dataSignal = new(0, 1);
    private readonly SemaphoreSlim _spaceSignal = new(0, 1);
    private FileStream _writer = null!;
    private FileStream? _reader;
    private long _ackPosition;
    private long _readPosition;
    private long _writePosition;
    private long _durablePosition;
    private long _count;
    private long _bytes;
    private long _dropped;
    private long _unwritable;
    private bool _diskFull;
    private long _lastDiskFailure;
    private long _lastCursorWrite;
    private bool _disposed;

    public DiskQueue(DiskQueueOptions options, ILogger? logger = null)
    {
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _directory = Path.GetFullPath(options.Directory);
        Directory.CreateDirectory(_directory);
        Recover();
    }

    /// <summary>Messages not yet acknowledged.</summary>
    public long Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Messages dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Messages refused because the disk would not take them (full, over quota, failing); back-pressure waits instead.</summary>
    public long Unwritable => Interlocked.Read(ref _unwritable);

    /// <summary>Appends a message; false when a full queue dropped it (DropNewest, or DropOldest with the oldest in flight).</summary>
    public bool TryEnqueue(ReadOnlySpan<byte> record)
    {
        long end;
        lock (_gate)
        {
            if (IsFull(record.Length) && !MakeRoom(record.Length))
            {
                Interlocked.Increment(ref _dropped);
                return false;
            }

            if (!TryAppend(record, out end))
            {
                Interlocked.Increment(ref _unwritable);
                return false;
            }
        }

        Accepted(end);
        return true;
    }

    /// <summary>Appends a message, waiting for room when the policy is back-pressure.</summary>
    public async ValueTask<bool> EnqueueAsync(ReadOnlyMemory<byte> record, CancellationToken cancel = default)
    {
        if (_options.FullPolicy != QueueFullPolicy.BackPressure)
        {
            return TryEnqueue(record.Span);
        }

        while (true)
        {
            long? end = null;
            lock (_gate)
            {
                if (!IsFull(record.Length) && TryAppend(record.Span, out var written))
                {
                    end = written;
                }
            }

            if (end is { } appended)
            {
                Accepted(appended);
                return true;
            }

            await _spaceSignal.WaitAsync(TimeSpan.FromMilliseconds(100), cancel).ConfigureAwait(false);
        }
    }

    /// <summary>The next message not yet handed out, in order, and the position that acknowledges it.</summary>
    public bool TryRead(out byte[] record, out long position)
    {
        lock (_gate)
        {
            record = [];
            position = 0;
            if (_readPosition >= _writePosition)
            {
                return false;
            }

            var reader = ReaderAt(_readPosition);
            if (reader.Position >= reader.Length)
            {
                // The end of a finished segment: the next one starts at offset 0.
                _readPosition = Position(Segment(_readPosition) + 1, 0);
                _reader?.Dispose();
                _reader = null;
                reader = ReaderAt(_readPosition);
            }

            Span<byte> header = stackalloc byte[HeaderBytes];
            reader.ReadExactly(header);
            var length = BinaryPrimitives.ReadInt32LittleEndian(header);
            record = new byte[length];
            reader.ReadExactly(record);
            if (Crc32.HashToUInt32(record) != BinaryPrimitives.ReadUInt32LittleEndian(header[4..]))
            {
                throw new InvalidDataException($"Queue record at {Describe(_readPosition)} in {_directory} fails its CRC check.");
            }

            _readPosition += HeaderBytes + length;
            _unacknowledged.Enqueue((_readPosition, HeaderBytes + length));
            position = _readPosition;
            return true;
        }
    }

    /// <summary>Waits until a message is there to read.</summary>
    public async ValueTask WaitToReadAsync(CancellationToken cancel)
    {
        while (true)
        {
            lock (_gate)
            {
                if (_readPosition < _writePosition)
                {
                    return;
                }
            }

            await _dataSignal.WaitAsync(cancel).ConfigureAwait(false);
        }
    }

    /// <summary>Removes every message up to <paramref name="position"/> (from <see cref="TryRead"/>): it was delivered.</summary>
    public void Acknowledge(long position)
    {
        lock (_gate)
        {
            while (_unacknowledged.TryPeek(out var head) && head.End <= position)
            {
                _unacknowledged.Dequeue();
                _count--;
                _bytes -= head.Size;
            }

            if (position <= _ackPosition)
            {
                return;
            }

            var oldSegment = Segment(_ackPosition);
            _ackPosition = position;
            for (var segment = oldSegment; segment < Segment(_ackPosition); segment++)
            {
                File.Delete(SegmentPath(segment));
            }

            if (_diskFull && _ackPosition == _writePosition && _readPosition == _writePosition)
            {
                StartNewSegment(); // all sent while the disk is full: the segment's space is what makes room
            }

            if (Stopwatch.GetElapsedTime(_lastCursorWrite) > CursorInterval)
            {
                WriteCursor();
            }
        }

        Signal(_spaceSignal);
    }

    /// <summary>Hands out again everything not acknowledged (after a lost connection), in the same order.</summary>
    public void Rewind()
    {
        lock (_gate)
        {
            _readPosition = _ackPosition;
            _unacknowledged.Clear();
            _reader?.Dispose();
            _reader = null;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            WriteCursor();
            _writer.Dispose();
            _reader?.Dispose();
        }
    }

    private static long Position(long segment, long offset) => (segment << OffsetBits) | offset;

    private static long Segment(long position) => position >> OffsetBits;

    private static long Offset(long position) => position & ((1L << OffsetBits) - 1);

    private static string Describe(long position) => $"segment {Segment(position)} offset {Offset(position)}";

    private static void Signal(SemaphoreSlim signal)
    {
        if (signal.CurrentCount == 0)
        {
            try
            {
                signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another thread signalled first.
            }
        }
    }

    private string SegmentPath(long segment) => Path.Combine(_directory, $"{segment:D10}.seg");

    private bool IsFull(int recordLength) =>
        _count >= _options.MaxMessages || _bytes + HeaderBytes + recordLength > _options.MaxBytes;

    /// <summary>Drops the oldest messages that are not in flight until the new one fits; false if it cannot.</summary>
    private bool MakeRoom(int recordLength)
    {
        if (_options.FullPolicy != QueueFullPolicy.DropOldest)
        {
            return false;
        }

        while (IsFull(recordLength) && _count > 0 && _readPosition == _ackPosition)
        {
            if (!TryRead(out _, out var position))
            {
                break;
            }

            Acknowledge(position);
            Interlocked.Increment(ref _dropped);
        }

        return !IsFull(recordLength);
    }

    /// <summary>Writes the record into the kernel (a crash of this process loses nothing already appended); returns the position after it.</summary>
    /// <summary>
    /// Appends, or (when the disk will not take it: full, over quota, failing) takes back what part of it was
    /// written, says so once per episode, and returns false: the queue stays as it was, and what it already holds
    /// still goes out, which makes room. An episode ends after 5 s without a failure: a nearly full disk takes a
    /// small message now and then, which is no recovery yet.
    /// </summary>
    private bool TryAppend(ReadOnlySpan<byte> record, out long end)
    {
        try
        {
            end = Append(record);
            if (_diskFull && Environment.TickCount64 - _lastDiskFailure >= 5_000)
            {
                _diskFull = false;
                _logger.LogInformation("Queue {Directory}: the disk takes messages again.", _directory);
            }

            return true;
        }
        catch (IOException e)
        {
            end = 0;
            _lastDiskFailure = Environment.TickCount64;
            ReopenWriter();
            if (!_diskFull)
            {
                _diskFull = true;
                _logger.LogError("Queue {Directory}: the disk does not take new messages ({Reason}); {Policy}, counted as inspection_mqtt_failures_total{{kind=\"disk_full\"}}, until there is room. Free space on that volume or give the queue a larger one.",
                    _directory, e.Message, _options.FullPolicy == QueueFullPolicy.BackPressure ? "the pipeline waits" : "new results are refused");
            }

            return false;
        }
    }

    /// <summary>With nothing left to send: the next segment starts, and the finished one is deleted.</summary>
    private void StartNewSegment()
    {
        var finished = Segment(_writePosition);
        _writer.Dispose();
        _reader?.Dispose();
        _reader = null;
        _writePosition = _readPosition = _ackPosition = Position(finished + 1, 0);
        _writer = OpenWriter(Segment(_writePosition));
        File.Delete(SegmentPath(finished));
        WriteCursor();
    }

    /// <summary>After a failed write: a fresh writer on the current segment, cut back to the last whole record.</summary>
    private void ReopenWriter()
    {
        try
        {
            _writer.Dispose(); // its buffer may still hold the failed bytes: flushing them fails again
        }
        catch (IOException)
        {
            // The bytes it could not write are what is being taken back.
        }

        _writer = new FileStream(SegmentPath(Segment(_writePosition)), FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read | FileShare.Delete, 1 << 16);
        _writer.SetLength(Offset(_writePosition));
        _writer.Position = Offset(_writePosition);
    }

    private long Append(ReadOnlySpan<byte> record)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var size = HeaderBytes + record.Length;
        if (Offset(_writePosition) > 0 && Offset(_writePosition) + size > _options.SegmentBytes)
        {
            if (_options.Durability == QueueDurability.Fsync)
            {
                RandomAccess.FlushToDisk(_writer.SafeFileHandle); // appends not yet synced by their producers: Sync only syncs the current segment
            }

            _writer.Dispose();
            _writePosition = Position(Segment(_writePosition) + 1, 0);
            _writer = OpenWriter(Segment(_writePosition));
        }

        Span<byte> header = stackalloc byte[HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(header, record.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], Crc32.HashToUInt32(record));
        _writer.Write(header);
        _writer.Write(record);
        _writer.Flush();
        _writePosition += size;
        _count++;
        _bytes += size;
        return _writePosition;
    }

    /// <summary>After an append, outside the gate: makes it durable as the options ask, then wakes the reader.</summary>
    private void Accepted(long end)
    {
        if (_options.Durability == QueueDurability.Fsync)
        {
            Sync(end);
        }

        Signal(_dataSignal);
    }

    /// <summary>
    /// Flushes the current segment to the disk unless a flush since <paramref name="end"/> was appended did: a group
    /// commit, as producers that append while one flushes wait for the next flush and share it. The flush runs
    /// outside the gate, so readers and acknowledgements go on meanwhile; the handle is kept alive across it in case
    /// an append moves to the next segment and closes this one (having flushed it first).
    /// </summary>
    private void Sync(long end)
    {
        lock (_syncGate)
        {
            if (_durablePosition >= end)
            {
                return;
            }

            long upTo;
            SafeFileHandle handle;
            var added = false;
            lock (_gate)
            {
                upTo = _writePosition;
                handle = _writer.SafeFileHandle;
                handle.DangerousAddRef(ref added);
            }

            try
            {
                RandomAccess.FlushToDisk(handle);
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }

            _durablePosition = upTo;
        }
    }

    private FileStream ReaderAt(long position)
    {
        if (_reader is null || !_reader.Name.EndsWith($"{Segment(position):D10}.seg", StringComparison.Ordinal))
        {
            _reader?.Dispose();
            _reader = new FileStream(SegmentPath(Segment(position)), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        }

        if (_reader.Position != Offset(position))
        {
            _reader.Position = Offset(position);
        }

        return _reader;
    }

    private FileStream OpenWriter(long segment)
    {
        var writer = new FileStream(SegmentPath(segment), FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read | FileShare.Delete, 1 << 16) { Position = 0 };
        if (_options.Durability == QueueDurability.Fsync)
        {
            PosixFile.SyncDirectory(_directory); // the new segment's name, without which its synced data is lost in a crash
        }

        return writer;
    }

    /// <summary>
    /// Records how far the broker acknowledged. A cursor that cannot be written (a full disk) is only older than it
    /// could be: after a restart the messages since it are sent again, which QoS 1 allows and subscribers deduplicate.
    /// </summary>
    private void WriteCursor()
    {
        var temporary = Path.Combine(_directory, CursorFile + ".tmp");
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, _ackPosition);
        try
        {
            File.WriteAllBytes(temporary, bytes.ToArray());
            File.Move(temporary, Path.Combine(_directory, CursorFile), overwrite: true);
        }
        catch (IOException e)
        {
            _logger.LogDebug("Queue {Directory}: the cursor was not written ({Reason}); a restart would send again what was acknowledged since.", _directory, e.Message);
        }

        _lastCursorWrite = Stopwatch.GetTimestamp();
    }

    /// <summary>Finds the acknowledged position and the end of the data, counting what lies between; cuts off a torn tail.</summary>
    private void Recover()
    {
        var segments = Directory.EnumerateFiles(_directory, "*.seg")
            .Select(f => long.TryParse(Path.GetFileNameWithoutExtension(f), out var n) ? n : -1)
            .Where(n => n >= 0)
            .Order()
            .ToList();
        var cursorPath = Path.Combine(_directory, CursorFile);
        _ackPosition = File.Exists(cursorPath) && new FileInfo(cursorPath).Length == 8
            ? BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(cursorPath))
            : Position(segments.FirstOrDefault(), 0);
        if (segments.Count > 0 && Segment(_ackPosition) < segments[0])
        {
            _ackPosition = Position(segments[0], 0); // the cursor lagged behind a deleted segment
        }

        var position = _ackPosition;
        foreach (var segment in segments.Where(s => s >= Segment(_ackPosition)))
        {
            using var file = new FileStream(SegmentPath(segment), FileMode.Open, FileAccess.ReadWrite);
            var offset = segment == Segment(_ackPosition) ? Offset(_ackPosition) : 0;
            var header = new byte[HeaderBytes];
            while (offset < file.Length)
            {
                file.Position = offset;
                var complete = file.Length - offset >= HeaderBytes && file.Read(header) == HeaderBytes;
                var length = complete ? BinaryPrimitives.ReadInt32LittleEndian(header) : -1;
                complete = complete && length >= 0 && offset + HeaderBytes + length <= file.Length;
                var record = complete ? new byte[length] : [];
                complete = complete && file.Read(record) == length && Crc32.HashToUInt32(record) == BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                if (!complete)
                {
                    _logger.LogWarning("Queue {Directory}: cut off a torn record at {Where} ({Bytes} bytes); it was being written when the process stopped.", _directory, Describe(Position(segment, offset)), file.Length - offset);
                    file.SetLength(offset);
                    break;
                }

                offset += HeaderBytes + length;
                _count++;
                _bytes += HeaderBytes + length;
            }

            position = Position(segment, offset);
        }

        _writePosition = Math.Max(position, _ackPosition);
        _readPosition = _ackPosition;
        _writer = OpenWriter(Segment(_writePosition));
        _writer.Position = Offset(_writePosition);
        if (_count > 0)
        {
            _logger.LogInformation("Queue {Directory}: {Count} messages from before the restart will be sent first.", _directory, _count);
        }
    }
}
