using Inspection.Core;

namespace Inspection.Vision;

/// <summary>
/// A camera that cannot deliver frames, said so a person can act on it. Retryable problems (a host that is
/// down, a file not there yet) are retried with back-off; the others (an unknown scheme, ffmpeg missing)
/// stop that camera only.
/// </summary>
public sealed class SourceException : InspectionInputException
{
    public SourceException(string message, bool retryable, Exception? innerException = null)
        : base(message, innerException ?? new InvalidOperationException(message))
    {
        Retryable = retryable;
    }

    public bool Retryable { get; }
}
