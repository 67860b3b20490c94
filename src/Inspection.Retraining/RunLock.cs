using System.Diagnostics;
using System.Globalization;
using System.Text;
using Inspection.Core;

namespace Inspection.Retraining;

/// <summary>
/// Keeps runs from overlapping: the lock file is held open with <see cref="FileShare.None"/>, which on Linux is an
/// exclusive flock on the open file. The kernel releases it when the holder's process ends, however it ends, so a
/// killed run never blocks the next one. The file itself is never deleted: deleting it on release let one run
/// lock the old file while another created and locked a new one under the same name, and both held "the" lock.
/// The holder writes its process id and start time into the file, for the message a refused run gives and for a
/// person who looks (cat reads it; it takes no lock).
/// </summary>
public sealed class RunLock : IDisposable
{
    private const int WouldBlock = 11; // EAGAIN / EWOULDBLOCK on Linux: the file is locked by another open
    private static readonly TimeSpan HolderWait = TimeSpan.FromSeconds(1);

    private readonly FileStream _file;

    private RunLock(FileStream file) => _file = file;

    /// <summary>Takes the lock at <paramref name="path"/> at once, or refuses, naming the run that holds it.</summary>
    /// <param name="what">The runs the lock keeps apart, for the message ("retraining run of 'crack'").</param>
    /// <exception cref="InspectionInputException">When another run holds the lock.</exception>
    public static RunLock Acquire(string path, string what)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        }
        catch (IOException e) when (e.HResult == WouldBlock)
        {
            throw new InspectionInputException($"another {what} is in progress ({Holder(path)}); runs never overlap: try again when it has finished, or stop it.");
        }

        file.SetLength(0);
        file.Write(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId} {DateTimeOffset.UtcNow:O}\n")));
        return new RunLock(file);
    }

    /// <summary>
    /// Who holds the lock at <paramref name="path"/>, as its holder wrote it. A run that has just taken the lock
    /// writes its line right after, so an empty file, or one naming a process that no longer runs (a killed
    /// holder's leftovers), is read again for up to a second before it is reported as it is.
    /// </summary>
    public static string Holder(string path)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var fields = ReadWithoutLock(path).Split(' ', 2, StringSplitOptions.TrimEntries);
            var processId = 0;
            var named = fields.Length == 2 && int.TryParse(fields[0], CultureInfo.InvariantCulture, out processId) &&
                        DateTimeOffset.TryParse(fields[1], CultureInfo.InvariantCulture, out var started)
                ? string.Create(CultureInfo.InvariantCulture, $"process {processId}, started {started.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z")
                : null;
            var running = named is not null && Runs(processId);
            if (running || clock.Elapsed > HolderWait)
            {
                return running ? named!
                    : named is null ? $"its holder wrote no process id in {path}"
                    : $"the file names {named}, which has ended: the holder wrote no process id of its own";
            }

            Thread.Sleep(20);
        }
    }

    /// <summary>Releases the lock (closing the file is what releases it); the file stays, naming its last holder.</summary>
    public void Dispose() => _file.Dispose();

    private static string ReadWithoutLock(string path)
    {
        try
        {
            using var file = new FileStream(PosixFile.OpenReadOnly(path), FileAccess.Read, bufferSize: 0);
            return new StreamReader(file, Encoding.UTF8).ReadToEnd().Trim();
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    private static bool Runs(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
    }
}
