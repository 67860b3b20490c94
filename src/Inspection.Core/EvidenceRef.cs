namespace Inspection.Core;

/// <summary>
/// The evidence item a result's frame is kept as: <paramref name="Id"/> is the item's name in the evidence folder
/// (images/ID.jpg), the same name 'inspection dataset review' and the web view take; <paramref name="Kind"/> is why
/// it was kept ("ng" or "uncertain").
/// </summary>
public sealed record EvidenceRef(string Id, string Kind)
{
    /// <summary>Where the web view serves an item's picture, below its base URL: /api/evidence/ID.jpg, the id escaped.</summary>
    public static string PicturePath(string id) => $"/api/evidence/{Uri.EscapeDataString(id)}.jpg";
}
