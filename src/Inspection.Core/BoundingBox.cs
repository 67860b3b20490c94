namespace Inspection.Core;

/// <summary>An axis-aligned box in pixels: (X1, Y1) top-left, (X2, Y2) bottom-right.</summary>
public readonly record struct BoundingBox(float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;
    public float Height => Y2 - Y1;
    public float Area => Math.Max(0f, Width) * Math.Max(0f, Height);

    /// <summary>Intersection over union; 0 when either box is empty.</summary>
    public float IoU(in BoundingBox other)
    {
        var iw = Math.Min(X2, other.X2) - Math.Max(X1, other.X1);
        var ih = Math.Min(Y2, other.Y2) - Math.Max(Y1, other.Y1);
        if (iw <= 0 || ih <= 0)
        {
            return 0f;
        }

        var intersection = iw * ih;
        var union = Area + other.Area - intersection;
        return union <= 0 ? 0f : intersection / union;
    }

    /// <summary>The box clipped to an image of the given size.</summary>
    public BoundingBox ClipTo(int width, int height) => ClipTo(0, 0, width, height);

    /// <summary>The box clipped to a region of an image.</summary>
    public BoundingBox ClipTo(float left, float top, float right, float bottom) => new(
        Math.Clamp(X1, left, right), Math.Clamp(Y1, top, bottom),
        Math.Clamp(X2, left, right), Math.Clamp(Y2, top, bottom));

    public override string ToString() => $"[{X1:0.#}, {Y1:0.#}, {X2:0.#}, {Y2:0.#}]";
}
