namespace Inspection.Core;

/// <summary>One detected object: its class index into <see cref="ModelInfo.Names"/>, confidence and box in source pixels.</summary>
public readonly record struct Detection(int ClassId, float Score, BoundingBox Box);
