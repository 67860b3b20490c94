using System.Runtime.InteropServices;

namespace Inspection.Vision;

/// <summary>
/// Lets a camera's thread yield the cores to the detector. On Linux a thread's nice value is its own and is inherited
/// by the threads and processes it starts, so the decoder's threads and an ffmpeg reader run below it too: under load
/// the detector gets the cores first and the cameras decode with what it leaves (their buffers drop by policy).
/// </summary>
internal static partial class CameraThread
{
    private const int PriorityOfProcess = 0; // PRIO_PROCESS: with a thread id, that one thread

    /// <summary>Sets the calling thread's nice value to <paramref name="nice"/> (0-19: 0 leaves it as it is); false where it cannot (not Linux, refused).</summary>
    public static bool Lower(int nice) =>
        nice == 0 || (OperatingSystem.IsLinux() && SetPriority(PriorityOfProcess, ThreadId(), nice) == 0);

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int ThreadId();
}
