using Cronos;
using Inspection.Core;
using Microsoft.Extensions.Logging;

namespace Inspection.Retraining;

/// <summary>
/// Runs retraining on a cron schedule ("0 2 * * *", or with seconds "0 */30 * * * *"), one run at a time: a run
/// that outlasts its slot delays the next one instead of overlapping it, and a failed run is logged and the
/// schedule goes on.
/// </summary>
public sealed class RetrainSchedule
{
    private readonly CronExpression _expression;

    public RetrainSchedule(string cron)
    {
        try
        {
            var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            _expression = CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            throw new InspectionInputException($"schedule '{cron}' is not a cron expression ({e.Message}); for example \"0 2 * * *\" runs at 02:00 every day.");
        }

        Text = cron;
    }

    public string Text { get; }

    public DateTimeOffset? Next(DateTimeOffset after) => _expression.GetNextOccurrence(after, TimeZoneInfo.Local);

    /// <summary>Waits for each occurrence and runs <paramref name="run"/> then, until cancelled.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> run, ILogger logger, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            var next = Next(DateTimeOffset.UtcNow) ?? throw new InspectionInputException($"schedule '{Text}' never fires.");
            logger.LogInformation("Next retraining at {Next:yyyy-MM-dd HH:mm:ss zzz}.", next);
            try
            {
                var wait = next - DateTimeOffset.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancel).ConfigureAwait(false);
                }

                await run(cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (InspectionInputException e)
            {
                logger.LogError("Retraining run failed; the schedule goes on: {Reason}", e.Message);
            }
        }
    }
}
