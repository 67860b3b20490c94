namespace Inspection.Worker.Pipeline;

/// <summary>
/// The turn to hand on results, in the order batches were formed, while several are inspected at once: a camera's
/// results go out in the order its frames were taken, whichever inference finished first. Batches are numbered
/// from 0, and at most <c>inFlight</c> are between forming and their turn's end (the pipeline forms a batch only
/// when there is room), so the batches in flight have consecutive numbers and a slot each.
/// </summary>
internal sealed class PublishTurns(int inFlight) : IDisposable
{
    private readonly SemaphoreSlim[] _slots = [.. Enumerable.Range(0, inFlight).Select(i => new SemaphoreSlim(i == 0 ? 1 : 0, 1))];

    /// <summary>Completes when every batch before <paramref name="ticket"/> has passed its turn.</summary>
    public Task WaitAsync(long ticket) => _slots[ticket % inFlight].WaitAsync();

    /// <summary>Hands the turn to the next batch; called once by the batch holding the turn.</summary>
    public void Pass(long ticket) => _slots[(ticket + 1) % inFlight].Release();

    public void Dispose()
    {
        foreach (var slot in _slots)
        {
            slot.Dispose();
        }
    }
}
