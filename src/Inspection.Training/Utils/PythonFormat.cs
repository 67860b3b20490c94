using System.Globalization;

namespace Inspection.Training.Utils;

/// <summary>Numbers as Python prints them, for files Ultralytics' tools read (results.csv, args.yaml).</summary>
public static class PythonFormat
{
    /// <summary>"%.6g": six significant digits, no trailing zeros, an exponent below 1e-4 and from 1e6 (1e-05, 1.23457e+06).</summary>
    public static string General(double value) => value.ToString("G6", CultureInfo.InvariantCulture).Replace('E', 'e');
}
