namespace Inspection.Messaging.Sparkplug;

/// <summary>Sparkplug B metric data types (specification 3.0, 6.4.16), the ones this node uses.</summary>
public enum DataType : uint
{
    Int32 = 3,
    UInt32 = 7,
    UInt64 = 8,
    Double = 10,
    Boolean = 11,
    String = 12,
}
