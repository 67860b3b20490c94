using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Inspection.Messaging;
using Inspection.TestSupport;

namespace Inspection.Messaging.Tests;

public sealed class DiskQueueTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private DiskQueue Open(QueueFullPolicy policy = QueueFullPolicy.DropOldest, long maxMessages = 1_000_000, int segmentBytes = 16 << 20, QueueDurability durability = QueueDurability.Kernel) =>
        new(new DiskQueueOptions { Directory = _folder.Path, FullPolicy = policy, MaxMessages = maxMessages, SegmentBytes = segmentBytes, Durability = durability });

    private static byte[] Record(int i) => Encoding.UTF8.GetBytes($"message {i}");

    private static List<string> ReadAll(DiskQueue queue, bool acknowledge)
    {
        var read = new List<string>();
        while (queue.TryRead(out var record, out var position))
        {
            read.Add(Encoding.UTF8.GetString(record));
            if (acknowledge)
            {
                queue.Acknowledge(position);
            }
        }

        return read;
    }

    [Fact]
    public void Messages_come_out_in_order_across_segments_and_finished_segments_are_deleted()
    {
        using var queue = Open(segmentBytes: 200);
        for (var i = 0; i < 100; i++)
        {
            Assert.True(queue.TryEnqueue(Record(i)));
        }

        Assert.True(Directory.GetFiles(_folder.Path, "*.seg").Length > 5); // 18-byte records in 200-byte segments
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"message {i}"), ReadAll(queue, acknowledge: true));
        Assert.Equal(0, queue.Count);
        Assert.Single(Directory.GetFiles(_folder.Path, "*.seg"));
    }

    [Fact]
    public void What_was_not_acknowledged_survives_a_restart_and_comes_first()
    {
        using (var queue = Open(segmentBytes: 300))
        {
            for (var i = 0; i < 50; i++)
            {
                queue.TryEnqueue(Record(i));
            }

            for (var i = 0; i < 20; i++)
            {
                Assert.True(queue.TryRead(out _, out var position));
                queue.Acknowledge(position);
            }

            Assert.True(queue.TryRead(out _, out _)); // read, sent, never acknowledged: must come again
        }

        using var reopened = Open(segmentBytes: 300);
        Assert.Equal(30, reopened.Count);
        reopened.TryEnqueue(Record(50));
        Assert.Equal(Enumerable.Range(20, 31).Select(i => $"message {i}"), ReadAll(reopened, acknowledge: true));
    }

    [Fact]
    public void A_record_torn_by_a_crash_is_cut_off_and_the_rest_is_kept()
    {
        using (var queue = Open())
        {
            for (var i = 0; i < 10; i++)
            {
                queue.TryEnqueue(Record(i));
            }
        }

        var segment = Directory.GetFiles(_folder.Path, "*.seg").Single();
        var bytes = File.ReadAllBytes(segment);
        File.WriteAllBytes(segment, bytes[..^5]); // the last record lost its end

        using var reopened = Open();
        Assert.Equal(9, reopened.Count);
        reopened.TryEnqueue(Record(10));
        Assert.Equal([.. Enumerable.Range(0, 9).Select(i => $"message {i}"), "message 10"], ReadAll(reopened, acknowledge: true));
    }

    [Fact]
    public async Task With_fsync_every_accepted_message_is_in_its_segment_file_and_a_restart_delivers_them_all_in_order()
    {
        using (var queue = Open(QueueFullPolicy.BackPressure, segmentBytes: 1024, durability: QueueDurability.Fsync))
        {
            for (var i = 0; i < 200; i++)
            {
                Assert.True(queue.TryEnqueue(Record(i)));
                Assert.Equal($"message {i}", SegmentRecords().Last()); // read back from the files, not from the queue
            }

            // Four producers at once, through back-pressure's path: their appends share flushes, none is lost.
            var producers = Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
            {
                for (var i = 0; i < 100; i++)
                {
                    var text = $"producer {p} {i}";
                    Assert.True(await queue.EnqueueAsync(Encoding.UTF8.GetBytes(text)));
                    Assert.Contains(text, SegmentRecords());
                }
            }));
            await Task.WhenAll(producers);
            Assert.Equal(600, SegmentRecords().Count);
            Assert.True(Directory.GetFiles(_folder.Path, "*.seg").Length > 10); // 17- to 24-byte records in 1 KB segments
        }

        using var reopened = Open(segmentBytes: 1024, durability: QueueDurability.Fsync);
        var delivered = ReadAll(reopened, acknowledge: true);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"message {i}"), delivered.Take(200));
        for (var p = 0; p < 4; p++)
        {
            Assert.Equal(Enumerable.Range(0, 100).Select(i => $"producer {p} {i}"), delivered.Where(d => d.StartsWith($"producer {p} ", StringComparison.Ordinal)));
        }

        Assert.Equal(600, delivered.Count);
        Assert.Equal(0, reopened.Count);
    }

    /// <summary>The complete records in the segment files, in order, parsed here (length, CRC-32, bytes) independently of the queue.</summary>
    private List<string> SegmentRecords()
    {
        var records = new List<string>();
        foreach (var segment in Directory.GetFiles(_folder.Path, "*.seg").Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(segment);
            for (var offset = 0; offset + 8 <= bytes.Length;)
            {
                var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
                if (offset + 8 + length > bytes.Length)
                {
                    break; // being appended right now
                }

                var record = bytes.AsSpan(offset + 8, length);
                Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset + 4)), Crc32.HashToUInt32(record));
                records.Add(Encoding.UTF8.GetString(record));
                offset += 8 + length;
            }
        }

        return records;
    }

    [Fact]
    public void Rewind_hands_out_the_unacknowledged_messages_again_in_order()
    {
        using var queue = Open();
        for (var i = 0; i < 5; i++)
        {
            queue.TryEnqueue(Record(i));
        }

        Assert.True(queue.TryRead(out _, out var first));
        queue.Acknowledge(first);
        Assert.Equal(["message 1", "message 2", "message 3", "message 4"], ReadAll(queue, acknowledge: false));
        queue.Rewind();
        Assert.Equal(["message 1", "message 2", "message 3", "message 4"], ReadAll(queue, acknowledge: true));
    }

    [Fact]
    public void A_full_queue_drops_the_oldest_and_counts_it()
    {
        using var queue = Open(QueueFullPolicy.DropOldest, maxMessages: 3);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(queue.TryEnqueue(Record(i)));
        }

        Assert.Equal(2, queue.Dropped);
        Assert.Equal(["message 2", "message 3", "message 4"], ReadAll(queue, acknowledge: true));
    }

    [Fact]
    public void A_full_queue_drops_the_newest_and_counts_it()
    {
        using var queue = Open(QueueFullPolicy.DropNewest, maxMessages: 3);
        var accepted = Enumerable.Range(0, 5).Select(i => queue.TryEnqueue(Record(i))).ToList();

        Assert.Equal([true, true, true, false, false], accepted);
        Assert.Equal(2, queue.Dropped);
        Assert.Equal(["message 0", "message 1", "message 2"], ReadAll(queue, acknowledge: true));
    }

    [Fact]
    public async Task A_full_queue_with_back_pressure_makes_the_producer_wait_and_drops_nothing()
    {
        using var queue = Open(QueueFullPolicy.BackPressure, maxMessages: 3);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await queue.EnqueueAsync(Record(i)));
        }

        var fourth = queue.EnqueueAsync(Record(3)).AsTask();
        await Task.Delay(300);
        Assert.False(fourth.IsCompleted);

        Assert.True(queue.TryRead(out _, out var position));
        queue.Acknowledge(position);
        Assert.True(await fourth.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, queue.Dropped);
        Assert.Equal(["message 1", "message 2", "message 3"], ReadAll(queue, acknowledge: true));
    }

    [Fact]
    public void Envelopes_keep_every_field()
    {
        var message = new OutboundMessage
        {
            Topic = "inspection/site/line/cam1/result",
            Payload = Encoding.UTF8.GetBytes("{\"a\":1}"),
            QualityOfService = 1,
            Retain = true,
            ExpirySeconds = 3600,
            UserProperties = [new("camera", "cam1"), new("modelVersion", "abc123")],
            ResponseTopic = "reply/here",
            CorrelationData = new byte[] { 1, 2, 3 },
        };

        var decoded = OutboundMessage.Decode(message.Encode());

        Assert.Equal(message.Topic, decoded.Topic);
        Assert.Equal(message.Payload.ToArray(), decoded.Payload.ToArray());
        Assert.Equal((1, true, 3600u), (decoded.QualityOfService, decoded.Retain, decoded.ExpirySeconds));
        Assert.Equal(message.UserProperties, decoded.UserProperties);
        Assert.Equal("reply/here", decoded.ResponseTopic);
        Assert.Equal(new byte[] { 1, 2, 3 }, decoded.CorrelationData.ToArray());
    }
}
