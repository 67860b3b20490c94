namespace Inspection.Core;

/// <summary>
/// The evidence item a result's frame is kept as: <paramref name="Id"/> is the item's name in the evidence folder
/// (images/ID.jpg), the same name 'inspection dataset review' and the web view take; <paramref name="Kind"/> is why
/// it was kept ("ng" or "uncertain").
/// </summary>
public sealed record EvidenceRef(string Id, string Kind);
