namespace Inspection.Worker.Serving;

/// <summary>
/// Use of the serving model: shared by up to <c>holders</c> at once (the detector stage's concurrent batches and a
/// heartbeat), or exclusive (retiring a replaced model, stopping shadow mode), which waits for every shared holder
/// to let go and keeps new ones out meanwhile.
/// </summary>
internal sealed class SharedUse(int holders) : IDisposable
{
    private readonly SemaphoreSlim _permits = new(holders, holders);
    private readonly SemaphoreSlim _exclusive = new(1, 1);

    public Task EnterAsync() => _permits.WaitAsync();

    public void Exit() => _permits.Release();

    /// <summary>Runs <paramref name="action"/> while nobody else holds the model.</summary>
    public async Task ExclusiveAsync(Func<Task> action)
    {
        await _exclusive.WaitAsync().ConfigureAwait(false);
        var taken = 0;
        try
        {
            for (; taken < holders; taken++)
            {
                await _permits.WaitAsync().ConfigureAwait(false);
            }

            await action().ConfigureAwait(false);
        }
        finally
        {
            if (taken > 0)
            {
                _permits.Release(taken);
            }

            _exclusive.Release();
        }
    }

    public void Dispose()
    {
        _permits.Dispose();
        _exclusive.Dispose();
    }
}
