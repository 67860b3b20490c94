namespace Inspection.Core;

/// <summary>
/// A problem the user can fix (a missing file, a corrupt model, a bad option). Its message says what was
/// wrong, where, and what to do; front ends show the message alone, never a stack trace.
/// </summary>
public class InspectionInputException : Exception
{
    public InspectionInputException(string message)
        : base(message)
    {
    }

    public InspectionInputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
