using Inspection.Core;

namespace Inspection.Onnx;

/// <summary>A model file that cannot be used: missing, not ONNX, truncated, or of a kind the engine does not support.</summary>
public sealed class ModelFormatException : InspectionInputException
{
    public ModelFormatException(string message)
        : base(message)
    {
    }

    public ModelFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
