using System.Diagnostics;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>
/// A small tmpfs mounted on a scratch directory, to make writes fail the way a full or read-only disk does.
/// Mounting needs root (or CAP_SYS_ADMIN); <see cref="MountOrSkip"/> marks the test inconclusive elsewhere.
/// </summary>
internal sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path)
    {
        Path = path;
    }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>Bytes still free on the file system.</summary>
    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Mounts a tmpfs of <paramref name="sizeBytes"/> on <paramref name="path"/>, or ends the test as inconclusive.</summary>
    public static TmpfsMount MountOrSkip(string path, long sizeBytes)
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            Assert.Inconclusive("Simulating a full or read-only disk needs a tmpfs mount, so the test runs only as root on Linux.");
        }

        Directory.CreateDirectory(path);
        var (exitCode, error) = Run("mount", "-t", "tmpfs", "-o", $"size={sizeBytes}", "tmpfs", path);
        if (exitCode != 0)
        {
            Assert.Inconclusive($"mount -t tmpfs failed here (exit code {exitCode}: {error.Trim()}); the container may lack CAP_SYS_ADMIN.");
        }

        return new TmpfsMount(path);
    }

    /// <summary>Makes the file system read-only; writes then fail with EROFS even for root.</summary>
    public void RemountReadOnly()
    {
        var (exitCode, error) = Run("mount", "-o", "remount,ro", Path);
        Assert.AreEqual(0, exitCode, $"remounting '{Path}' read-only failed: {error}");
    }

    /// <summary>Makes the file system writable again.</summary>
    public void RemountReadWrite()
    {
        var (exitCode, error) = Run("mount", "-o", "remount,rw", Path);
        Assert.AreEqual(0, exitCode, $"remounting '{Path}' read-write failed: {error}");
    }

    /// <summary>Writes a file of zeros that leaves about <paramref name="freeBytes"/> bytes free, and returns its path.</summary>
    public string FillLeaving(long freeBytes)
    {
        string filler = System.IO.Path.Combine(Path, "filler.bin");
        long size = Math.Max(0, FreeBytes - freeBytes);
        using (var stream = new FileStream(filler, FileMode.Create, FileAccess.Write))
        {
            var block = new byte[4096];
            for (long written = 0; written < size; written += block.Length)
            {
                stream.Write(block, 0, (int)Math.Min(block.Length, size - written));
            }
        }

        return filler;
    }

    /// <summary>Unmounts; a lazy unmount is the fallback when a file is still open.</summary>
    public void Dispose()
    {
        if (Run("umount", Path).ExitCode != 0)
        {
            Run("umount", "-l", Path);
        }
    }

    private static (int ExitCode, string Error) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        string error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error);
    }
}
