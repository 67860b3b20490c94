using System.Text.RegularExpressions;

namespace Inspection.Core;

/// <summary>
/// Turns a native library that cannot be loaded (OpenCV's, ONNX Runtime's, libtorch's, or one they depend on) into
/// one line that names the Debian package to install, instead of a DllNotFoundException's stack: on a minimal
/// system or a slim container image this is the first thing a new user meets.
/// </summary>
public static partial class NativeLibraries
{
    /// <summary>Shared libraries a minimal Debian 12 lacks, by the package that brings them (tools/install-deps.sh).</summary>
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["libatomic.so.1"] = "libatomic1",
        ["libgtk-3.so.0"] = "libgtk-3-0",
        ["libgdk-3.so.0"] = "libgtk-3-0",
        ["libgomp.so.1"] = "libgomp1",
        ["libstdc++.so.6"] = "libstdc++6",
        ["libz.so.1"] = "zlib1g",
    };

    /// <summary>What a build or image without libtorch says when asked to train.</summary>
    public const string LibTorchMissing = "training needs libtorch, which this installation does not have (the worker image leaves it out): use the trainer image or a build with libtorch.";

    /// <summary>The explanation, or null when <paramref name="failure"/> (or what caused it) is not a native library failing to load.</summary>
    public static string? Explain(Exception failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
        {
            if (e is DllNotFoundException missing)
            {
                return Describe(missing.Message);
            }

            // TorchSharp says it in its own words when libtorch is absent (a build or image without training).
            if (e is NotSupportedException && e.Message.Contains("libtorch", StringComparison.Ordinal))
            {
                return LibTorchMissing;
            }
        }

        return null;
    }

    private static string Describe(string message)
    {
        var wanted = WantedLibrary().Match(message) is { Success: true } m ? m.Groups[1].Value : "a native library";
        var stem = wanted.StartsWith("lib", StringComparison.Ordinal) ? wanted[3..] : wanted;

        // The loader lists each file it tried; a file that is not one of the wanted library's own names is a
        // dependency of it that is missing or broken.
        var dependency = SharedObject().Matches(message)
            .Select(match => (File: Path.GetFileName(match.Groups["file"].Value), Why: match.Groups["why"].Value))
            .FirstOrDefault(found => !found.File.Contains(stem, StringComparison.Ordinal));
        if (dependency.File is null)
        {
            return wanted.Contains("torch", StringComparison.OrdinalIgnoreCase)
                ? LibTorchMissing
                : $"the native library {wanted} is not beside the program: the installation is incomplete; build or publish it again.";
        }

        var install = Packages.TryGetValue(dependency.File, out var package)
            ? $"install the Debian package {package} (tools/install-deps.sh runtime installs every one the project needs)"
            : "install the package that provides it (tools/install-deps.sh runtime installs the ones the project knows)";
        var state = dependency.Why.StartsWith("cannot open", StringComparison.Ordinal) ? "is missing" : $"is broken ({dependency.Why})";
        return $"{wanted} cannot be loaded: {dependency.File}, which it needs, {state}; {install}.";
    }

    [GeneratedRegex(@"shared library '([^']+)'")]
    private static partial Regex WantedLibrary();

    [GeneratedRegex(@"(?<file>[^\s:]+\.so(\.\d+)*): (?<why>cannot open shared object file|file too short|invalid ELF header|wrong ELF class[^\n]*)")]
    private static partial Regex SharedObject();
}
