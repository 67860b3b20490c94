using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Inspection.Core;

/// <summary>
/// Opens a path with the plain open(2), for the two things .NET's own opening cannot do: read a file whose holder
/// keeps it locked (every FileStream .NET opens takes an advisory flock, shared to read, which a FileShare.None
/// holder's exclusive one refuses), and open a directory (which .NET refuses) so that its entries can be fsynced.
/// </summary>
public static partial class PosixFile
{
    private const int ReadOnlyCloseOnExec = 0x80000; // O_RDONLY | O_CLOEXEC: the same on x86-64 and arm64 Linux

    /// <summary>A read-only handle to a file or a directory, taking no lock.</summary>
    /// <exception cref="FileNotFoundException">When nothing is at <paramref name="path"/>.</exception>
    /// <exception cref="IOException">When it cannot be opened for another reason (the message says why).</exception>
    public static SafeFileHandle OpenReadOnly(string path)
    {
        var fd = Open(path, ReadOnlyCloseOnExec);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }

        var errno = Marshal.GetLastPInvokeError();
        var reason = new Win32Exception(errno).Message;
        throw errno == 2 ? new FileNotFoundException($"'{path}' does not exist.", path) : new IOException($"'{path}' cannot be opened: {reason}", errno);
    }

    /// <summary>Makes the directory's entries durable (fsync on the directory): a file created in it survives an OS crash.</summary>
    public static void SyncDirectory(string path)
    {
        using var directory = OpenReadOnly(path);
        RandomAccess.FlushToDisk(directory);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
}
