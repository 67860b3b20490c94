using System.Globalization;

namespace Inspection.Worker.Rules;

/// <summary>A closed polygon in picture-relative coordinates (0..1 of width and height), so it fits any resolution.</summary>
public sealed class Polygon
{
    private readonly (double X, double Y)[] _points;

    private Polygon((double X, double Y)[] points) => _points = points;

    public IReadOnlyList<(double X, double Y)> Points => _points;

    /// <summary>Parses "x,y x,y x,y ...": at least three points, each coordinate within 0..1.</summary>
    public static bool TryParse(string text, out Polygon polygon, out string error)
    {
        polygon = null!;
        var points = new List<(double, double)>();
        foreach (var pair in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split(',');
            if (parts.Length != 2 ||
                !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ||
                !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var y))
            {
                error = $"'{pair}' in polygon \"{text}\" is not a point 'x,y'; write points as \"0.1,0.1 0.9,0.1 0.9,0.9\".";
                return false;
            }

            if (x is < 0 or > 1 || y is < 0 or > 1)
            {
                error = $"point {pair} in polygon \"{text}\" is outside the picture; coordinates are fractions 0..1 of its width and height.";
                return false;
            }

            points.Add((x, y));
        }

        if (points.Count < 3)
        {
            error = $"polygon \"{text}\" has {points.Count} point(s); a region needs at least 3.";
            return false;
        }

        polygon = new Polygon([.. points]);
        error = string.Empty;
        return true;
    }

    public static Polygon Parse(string text) =>
        TryParse(text, out var polygon, out var error) ? polygon : throw new Core.InspectionInputException(error);

    /// <summary>Whether the point (relative coordinates) lies inside, by counting edge crossings of a ray to the right.</summary>
    public bool Contains(double x, double y)
    {
        var inside = false;
        for (int i = 0, j = _points.Length - 1; i < _points.Length; j = i++)
        {
            var (xi, yi) = _points[i];
            var (xj, yj) = _points[j];
            if ((yi > y) != (yj > y) && x < ((xj - xi) * (y - yi) / (yj - yi)) + xi)
            {
                inside = !inside;
            }
        }

        return inside;
    }
}
