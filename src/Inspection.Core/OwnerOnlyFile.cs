namespace Inspection.Core;

/// <summary>New files only their owner can read: private keys, password hashes, command keys, private copies of models being checked.</summary>
public static class OwnerOnlyFile
{
    /// <summary>Creates <paramref name="path"/> (failing if it exists) with mode 0600 from the start, never readable by others even for a moment.</summary>
    public static FileStream Create(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(path, options);
    }
}
