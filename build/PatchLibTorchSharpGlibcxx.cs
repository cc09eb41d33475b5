// MSBuild task compiled by RoslynCodeTaskFactory from TorchSharpGlibcxx.targets. It targets the netstandard
// reference assemblies that MSBuild compiles inline tasks against, so it avoids newer .NET APIs.
//
// libLibTorchSharp.so in TorchSharp 0.107.0 was built with GCC 15.2, according to its .comment section. Its
// version-needs table (.gnu.version_r) lists GLIBCXX_3.4.32 for one undefined symbol, _ZSt21ios_base_library_initv.
// Since GCC 13, <iostream> references that symbol with a bare `.globl` directive, and no relocation uses it, so
// nothing binds to it at run time. The dynamic loader still rejects the whole library when libstdc++.so.6 does not
// define the version, as on Debian 12, whose GCC 12 libstdc++ stops at GLIBCXX_3.4.30.
//
// The task points that one version-needs entry at the newest other GLIBCXX version the library already requires
// (GLIBCXX_3.4.30 for TorchSharp 0.107.0) by rewriting the entry's name offset and hash. It adds no requirement that
// the library did not have and writes no string. Structure layouts are those of the ELF-64 object file format and the
// symbol versioning section of the Linux Standard Base Core specification.

#nullable enable

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// Retargets the GLIBCXX_3.4.32 requirement of copies of libLibTorchSharp.so when the system libstdc++ lacks that
/// version. Files that are already patched, or that do not require GLIBCXX_3.4.32, stay unchanged.
/// </summary>
public sealed class PatchLibTorchSharpGlibcxx : Task
{
    private const string LibstdcxxSoname = "libstdc++.so.6";
    private const string MissingVersion = "GLIBCXX_3.4.32";
    private const string MarkerSymbol = "_ZSt21ios_base_library_initv";

    /// <summary>Copies of libLibTorchSharp.so to patch in place. Paths that do not exist are skipped.</summary>
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Patch even when the system libstdc++ defines GLIBCXX_3.4.32, for a build that runs elsewhere.</summary>
    public bool Force { get; set; }

    /// <summary>
    /// The libstdc++.so.6 that the program will load, when that is not the one the dynamic loader finds by default
    /// (for example one on LD_LIBRARY_PATH). Empty to look it up.
    /// </summary>
    public string Libstdcxx { get; set; } = "";

    /// <summary>The files that this run changed.</summary>
    [Output]
    public ITaskItem[] PatchedFiles { get; private set; } = Array.Empty<ITaskItem>();

    /// <inheritdoc />
    public override bool Execute()
    {
        var patched = new List<ITaskItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var libstdcxxByMachine = new Dictionary<ushort, SystemLibstdcxx>();
        if (Libstdcxx.Length > 0 && !File.Exists(Libstdcxx))
        {
            Log.LogError("The libstdc++ path '{0}' does not exist. Set TorchSharpLibstdcxxPath to the libstdc++.so.6 "
                + "that the program loads at run time, or leave it empty to use the system one.", Libstdcxx);
            return false;
        }

        foreach (ITaskItem item in Files)
        {
            string path = Path.GetFullPath(item.ItemSpec);
            if (!seen.Add(path) || !File.Exists(path))
                continue;

            try
            {
                if (PatchFile(path, libstdcxxByMachine))
                    patched.Add(new TaskItem(path));
            }
            catch (Exception exception) when (exception is ElfFormatException || exception is IOException
                                               || exception is UnauthorizedAccessException)
            {
                Log.LogWarning(null, "TSGLIBCXX01", null, path, 0, 0, 0, 0,
                    "Could not patch {0}: {1} TorchSharp may fail to load on this system with "
                    + "\"version `{2}' not found\". docs/torchsharp-on-debian.md lists other fixes.",
                    path, exception.Message, MissingVersion);
            }
        }

        PatchedFiles = patched.ToArray();
        return !Log.HasLoggedErrors;
    }

    /// <summary>Patches one file when it needs it. Returns true when the file was rewritten.</summary>
    private bool PatchFile(string path, Dictionary<ushort, SystemLibstdcxx> libstdcxxByMachine)
    {
        byte[] image = File.ReadAllBytes(path);
        var elf = new ElfImage(image);
        VersionNeedEntry? missing = elf.FindVersionNeed(LibstdcxxSoname, MissingVersion);
        if (missing == null)
        {
            Log.LogMessage(MessageImportance.Low, "{0} does not require {1} from {2}, so there is nothing to patch.",
                path, MissingVersion, LibstdcxxSoname);
            return false;
        }

        SystemLibstdcxx system;
        if (!libstdcxxByMachine.TryGetValue(elf.Machine, out system))
        {
            system = Libstdcxx.Length > 0
                ? SystemLibstdcxx.Inspect(Path.GetFullPath(Libstdcxx), MissingVersion)
                : SystemLibstdcxx.Find(elf.Machine, MissingVersion);
            libstdcxxByMachine[elf.Machine] = system;
        }

        if (system.DefinesVersion && !Force)
        {
            Log.LogMessage(MessageImportance.Low, "{0} defines {1}, so {2} stays unchanged.",
                system.Path, MissingVersion, path);
            return false;
        }

        elf.CheckOnlyMarkerUses(missing, MarkerSymbol);
        VersionNeedEntry replacement = elf.FindNewestOtherGlibcxx(LibstdcxxSoname, missing);
        uint hash = ElfImage.Hash(replacement.Name);
        if (hash != replacement.Hash)
            throw new ElfFormatException(string.Format(
                "the stored hash 0x{0:x8} of {1} differs from its ELF hash 0x{2:x8}, so the version table was misread.",
                replacement.Hash, replacement.Name, hash));

        elf.RetargetVersionNeed(missing, replacement.NameOffset, hash);
        WriteReplacing(path, image);

        string reason = system.Path == null
            ? "no " + LibstdcxxSoname + " was found for this machine type"
            : system.Path + " does not define " + MissingVersion;
        if (Force && system.DefinesVersion)
            reason = "patching was forced (TorchSharpGlibcxxPatch=always)";
        Log.LogMessage(MessageImportance.High,
            "Patched {0}: its {1} requirement on {2} now names {3}, because {4}.",
            path, MissingVersion, LibstdcxxSoname, replacement.Name, reason);
        return true;
    }

    /// <summary>
    /// Writes the patched bytes to a new file and renames it over <paramref name="path"/>. The output copy may be a
    /// hard or symbolic link into the NuGet package cache, or mapped by a running process, so the original file is
    /// never written to. The new file keeps the original's timestamp, so MSBuild's Copy treats it as up to date with
    /// its source and does not copy the unpatched file again.
    /// </summary>
    private static void WriteReplacing(string path, byte[] image)
    {
        // A unique name, because projects that share an output directory may patch the same file at once.
        string temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            // File.Copy follows a symbolic link and, on Unix, keeps the permission bits and timestamps of the file
            // it reads. Only the contents are then overwritten.
            File.Copy(path, temporary, true);
            DateTime lastWrite = File.GetLastWriteTimeUtc(temporary);
            using (var stream = new FileStream(temporary, FileMode.Truncate, FileAccess.Write))
                stream.Write(image, 0, image.Length);

            File.SetLastWriteTimeUtc(temporary, lastWrite);
            File.Replace(temporary, path, null);
        }
        finally
        {
            if (File.Exists(temporary))
                File.Delete(temporary);
        }
    }
}

/// <summary>
/// The libstdc++.so.6 that the dynamic loader picks for one machine type, and whether it defines a version.
/// </summary>
internal sealed class SystemLibstdcxx
{
    private static readonly string[] KnownDirectories =
    {
        "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/aarch64-linux-gnu",
        "/usr/lib64", "/lib64", "/usr/lib", "/lib",
    };

    private SystemLibstdcxx(string? path, bool definesVersion)
    {
        Path = path;
        DefinesVersion = definesVersion;
    }

    /// <summary>Full path of the library, or null when none of the machine type was found.</summary>
    public string? Path { get; }

    /// <summary>Whether the library's file contains the version name, which is in its version definitions.</summary>
    public bool DefinesVersion { get; }

    /// <summary>
    /// Finds libstdc++.so.6 for <paramref name="machine"/> (an ELF e_machine value), first from the dynamic loader
    /// cache as `ldconfig -p` prints it, then in the usual library directories.
    /// </summary>
    public static SystemLibstdcxx Find(ushort machine, string version)
    {
        var candidates = new List<string>(ReadLoaderCache());
        foreach (string directory in KnownDirectories)
            candidates.Add(System.IO.Path.Combine(directory, "libstdc++.so.6"));

        foreach (string candidate in candidates)
        {
            if (!File.Exists(candidate))
                continue;

            byte[] contents = File.ReadAllBytes(candidate);
            if (ElfImage.ReadMachine(contents) != machine)
                continue;

            return new SystemLibstdcxx(candidate, ContainsTerminated(contents, version));
        }

        return new SystemLibstdcxx(null, false);
    }

    /// <summary>Reads the libstdc++ at <paramref name="path"/>, whatever its machine type.</summary>
    public static SystemLibstdcxx Inspect(string path, string version)
    {
        return new SystemLibstdcxx(path, ContainsTerminated(File.ReadAllBytes(path), version));
    }

    /// <summary>Returns the libstdc++.so.6 paths listed by `ldconfig -p`, or none when ldconfig cannot run.</summary>
    private static IEnumerable<string> ReadLoaderCache()
    {
        foreach (string ldconfig in new[] { "/sbin/ldconfig", "/usr/sbin/ldconfig" })
        {
            if (!File.Exists(ldconfig))
                continue;

            string output;
            try
            {
                var start = new ProcessStartInfo(ldconfig, "-p")
                {
                    RedirectStandardOutput = true,
                    UseShellExecute = false,
                };
                using (Process process = Process.Start(start)!)
                {
                    output = process.StandardOutput.ReadToEnd();
                    process.WaitForExit();
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                continue;
            }

            // Lines read "\tlibstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6".
            var paths = new List<string>();
            foreach (string line in output.Split('\n'))
            {
                string trimmed = line.Trim();
                int arrow = trimmed.IndexOf(" => ", StringComparison.Ordinal);
                if (trimmed.StartsWith("libstdc++.so.6 ", StringComparison.Ordinal) && arrow > 0)
                    paths.Add(trimmed.Substring(arrow + 4).Trim());
            }

            return paths;
        }

        return Array.Empty<string>();
    }

    /// <summary>Whether <paramref name="contents"/> contains <paramref name="text"/> followed by a NUL byte.</summary>
    private static bool ContainsTerminated(byte[] contents, string text)
    {
        byte[] pattern = Encoding.ASCII.GetBytes(text + "\0");
        int last = contents.Length - pattern.Length;
        for (int start = 0; start <= last; start++)
        {
            int matched = 0;
            while (matched < pattern.Length && contents[start + matched] == pattern[matched])
                matched++;
            if (matched == pattern.Length)
                return true;
        }

        return false;
    }
}

/// <summary>An Elf64_Vernaux record: one version required from one needed library.</summary>
internal sealed class VersionNeedEntry
{
    /// <summary>File offset of the record.</summary>
    public int Offset;

    /// <summary>vna_hash, the ELF hash of <see cref="Name"/>.</summary>
    public uint Hash;

    /// <summary>vna_other, the index that .gnu.version entries use for this version.</summary>
    public ushort Index;

    /// <summary>vna_name, the offset of the version name in the linked string table.</summary>
    public uint NameOffset;

    /// <summary>The version name, such as GLIBCXX_3.4.30.</summary>
    public string Name = "";

    /// <summary>The needed library that the version comes from, such as libstdc++.so.6.</summary>
    public string File = "";
}

/// <summary>A 64-bit little-endian ELF file in memory, with the reads and writes that version patching needs.</summary>
internal sealed class ElfImage
{
    private const uint SectionDynamicSymbols = 11; // SHT_DYNSYM
    private const uint SectionVersionNeeds = 0x6ffffffe; // SHT_GNU_verneed
    private const uint SectionVersionSymbols = 0x6fffffff; // SHT_GNU_versym
    private const int SymbolSize = 24; // sizeof(Elf64_Sym)
    private const int VersionRecordSize = 16; // sizeof(Elf64_Verneed) and sizeof(Elf64_Vernaux)

    private readonly byte[] _image;
    private readonly List<Section> _sections = new List<Section>();

    /// <summary>Reads the ELF header and section headers of <paramref name="image"/>.</summary>
    public ElfImage(byte[] image)
    {
        _image = image;
        if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L'
            || image[3] != (byte)'F')
            throw new ElfFormatException("the file is not an ELF file.");
        if (image[4] != 2 || image[5] != 1)
            throw new ElfFormatException(string.Format(
                "the file is ELF class {0}, data encoding {1}, but only 64-bit little-endian (2, 1) is supported.",
                image[4], image[5]));

        Machine = ReadUInt16(0x12);
        ulong sectionTable = ReadUInt64(0x28);
        int sectionHeaderSize = ReadUInt16(0x3a);
        long sectionCount = ReadUInt16(0x3c);
        if (sectionTable == 0)
            throw new ElfFormatException("the file has no section headers.");
        if (sectionHeaderSize < 64)
            throw new ElfFormatException(string.Format(
                "the section header size is {0} bytes, expected 64.", sectionHeaderSize));

        // With 0xff00 or more sections, e_shnum is 0 and section 0's sh_size is the count.
        if (sectionCount == 0)
            sectionCount = (long)ReadUInt64(CheckedOffset(sectionTable, 32, 8));

        for (long index = 0; index < sectionCount; index++)
        {
            int header = CheckedOffset(sectionTable + (ulong)(index * sectionHeaderSize), 0, 64);
            var section = new Section
            {
                Type = ReadUInt32(header + 4),
                Offset = ReadUInt64(header + 24),
                Size = ReadUInt64(header + 32),
                Link = ReadUInt32(header + 40),
                Info = ReadUInt32(header + 44),
            };
            if (section.Type != 8) // SHT_NOBITS occupies no file space.
                CheckedOffset(section.Offset, 0, (long)section.Size);
            _sections.Add(section);
        }
    }

    /// <summary>e_machine, for example 62 for x86-64 and 183 for AArch64.</summary>
    public ushort Machine { get; }

    /// <summary>Returns e_machine of an ELF file, or 0 when the bytes are not 64-bit little-endian ELF.</summary>
    public static ushort ReadMachine(byte[] contents)
    {
        bool isElf64LittleEndian = contents.Length >= 64 && contents[0] == 0x7f && contents[1] == (byte)'E'
            && contents[2] == (byte)'L' && contents[3] == (byte)'F' && contents[4] == 2 && contents[5] == 1;
        return isElf64LittleEndian ? (ushort)(contents[0x12] | contents[0x13] << 8) : (ushort)0;
    }

    /// <summary>Computes the System V ELF hash of a name, the function that vna_hash stores.</summary>
    public static uint Hash(string name)
    {
        uint hash = 0;
        foreach (byte character in Encoding.ASCII.GetBytes(name))
        {
            hash = (hash << 4) + character;
            uint high = hash & 0xf0000000;
            if (high != 0)
                hash ^= high >> 24;
            hash &= ~high;
        }

        return hash;
    }

    /// <summary>Returns the requirement of <paramref name="version"/> from <paramref name="file"/>, or null.</summary>
    public VersionNeedEntry? FindVersionNeed(string file, string version)
    {
        foreach (VersionNeedEntry entry in ReadVersionNeeds())
        {
            if (entry.File == file && entry.Name == version)
                return entry;
        }

        return null;
    }

    /// <summary>
    /// Returns the requirement from the same library as <paramref name="missing"/> with the highest GLIBCXX_3.4.N
    /// version below it. Throws when there is none, because retargeting would then add a requirement.
    /// </summary>
    public VersionNeedEntry FindNewestOtherGlibcxx(string file, VersionNeedEntry missing)
    {
        int missingNumber = GlibcxxNumber(missing.Name);
        VersionNeedEntry? newest = null;
        int newestNumber = -1;
        foreach (VersionNeedEntry entry in ReadVersionNeeds())
        {
            int number = GlibcxxNumber(entry.Name);
            if (entry.File == file && number >= 0 && number < missingNumber && number > newestNumber)
            {
                newest = entry;
                newestNumber = number;
            }
        }

        if (newest == null)
            throw new ElfFormatException(string.Format(
                "it requires no GLIBCXX version older than {0} from {1} that the requirement could point to.",
                missing.Name, file));
        return newest;
    }

    /// <summary>
    /// Throws unless every dynamic symbol bound to <paramref name="entry"/>'s version is the undefined
    /// <paramref name="markerSymbol"/>. Any other symbol bound to it really needs that version, and retargeting would
    /// only move the failure from loading the library to looking up that symbol.
    /// </summary>
    public void CheckOnlyMarkerUses(VersionNeedEntry entry, string markerSymbol)
    {
        Section symbols = SingleSection(SectionDynamicSymbols, ".dynsym");
        Section versions = SingleSection(SectionVersionSymbols, ".gnu.version");
        Section strings = LinkedSection(symbols);
        long count = (long)symbols.Size / SymbolSize;
        if ((long)versions.Size < count * 2)
            throw new ElfFormatException(string.Format(
                ".gnu.version has {0} bytes for {1} dynamic symbols.", versions.Size, count));

        for (long index = 0; index < count; index++)
        {
            // The top bit of a .gnu.version entry marks a hidden symbol and is not part of the index.
            int versionIndex = ReadUInt16((int)versions.Offset + (int)(index * 2)) & 0x7fff;
            if (versionIndex != entry.Index)
                continue;

            int symbol = (int)symbols.Offset + (int)(index * SymbolSize);
            string name = ReadString(strings, ReadUInt32(symbol));
            ushort sectionIndex = ReadUInt16(symbol + 6);
            if (name != markerSymbol || sectionIndex != 0)
                throw new ElfFormatException(string.Format(
                    "symbol {0} is bound to {1}, and only the undefined marker {2} can be retargeted safely.",
                    name, entry.Name, markerSymbol));
        }
    }

    /// <summary>Sets vna_name and vna_hash of <paramref name="entry"/> in the in-memory image.</summary>
    public void RetargetVersionNeed(VersionNeedEntry entry, uint nameOffset, uint hash)
    {
        WriteUInt32(entry.Offset, hash);
        WriteUInt32(entry.Offset + 8, nameOffset);
    }

    /// <summary>Returns N of "GLIBCXX_3.4.N", 0 for "GLIBCXX_3.4", and -1 for any other name.</summary>
    private static int GlibcxxNumber(string name)
    {
        const string Prefix = "GLIBCXX_3.4";
        if (name == Prefix)
            return 0;
        if (!name.StartsWith(Prefix + ".", StringComparison.Ordinal))
            return -1;

        int number;
        return int.TryParse(name.Substring(Prefix.Length + 1), out number) ? number : -1;
    }

    /// <summary>Walks the Elf64_Verneed list and each of its Elf64_Vernaux lists.</summary>
    private List<VersionNeedEntry> ReadVersionNeeds()
    {
        var entries = new List<VersionNeedEntry>();
        Section? needs = FindSection(SectionVersionNeeds);
        if (needs == null)
            return entries;

        Section strings = LinkedSection(needs);
        int need = CheckedOffset(needs.Offset, 0, VersionRecordSize);

        // sh_info is the number of Elf64_Verneed records.
        for (uint needIndex = 0; needIndex < needs.Info; needIndex++)
        {
            CheckInside(needs, need, VersionRecordSize);
            ushort auxiliaryCount = ReadUInt16(need + 2);
            string file = ReadString(strings, ReadUInt32(need + 4));
            int auxiliary = need + (int)ReadUInt32(need + 8);

            for (int auxiliaryIndex = 0; auxiliaryIndex < auxiliaryCount; auxiliaryIndex++)
            {
                CheckInside(needs, auxiliary, VersionRecordSize);
                var entry = new VersionNeedEntry
                {
                    Offset = auxiliary,
                    Hash = ReadUInt32(auxiliary),
                    Index = ReadUInt16(auxiliary + 6),
                    NameOffset = ReadUInt32(auxiliary + 8),
                    File = file,
                };
                entry.Name = ReadString(strings, entry.NameOffset);
                entries.Add(entry);

                uint nextAuxiliary = ReadUInt32(auxiliary + 12);
                if (nextAuxiliary == 0)
                    break;
                auxiliary += (int)nextAuxiliary;
            }

            uint nextNeed = ReadUInt32(need + 12);
            if (nextNeed == 0)
                break;
            need += (int)nextNeed;
        }

        return entries;
    }

    private Section? FindSection(uint type)
    {
        foreach (Section section in _sections)
        {
            if (section.Type == type)
                return section;
        }

        return null;
    }

    private Section SingleSection(uint type, string name)
    {
        Section? section = FindSection(type);
        if (section == null)
            throw new ElfFormatException("the file has no " + name + " section.");
        return section;
    }

    private Section LinkedSection(Section section)
    {
        if (section.Link >= _sections.Count)
            throw new ElfFormatException(string.Format(
                "a section links to section {0}, but the file has {1} sections.", section.Link, _sections.Count));
        return _sections[(int)section.Link];
    }

    private string ReadString(Section strings, uint offset)
    {
        if (offset >= strings.Size)
            throw new ElfFormatException(string.Format(
                "string offset {0} is outside the {1}-byte string table.", offset, strings.Size));

        int start = (int)(strings.Offset + offset);
        int end = start;
        int limit = (int)(strings.Offset + strings.Size);
        while (end < limit && _image[end] != 0)
            end++;
        return Encoding.ASCII.GetString(_image, start, end - start);
    }

    private void CheckInside(Section section, int offset, int length)
    {
        if (offset < (long)section.Offset || offset + (long)length > (long)(section.Offset + section.Size))
            throw new ElfFormatException(string.Format(
                "a version record at file offset {0} lies outside its section.", offset));
    }

    /// <summary>Returns <paramref name="baseOffset"/> + <paramref name="delta"/> after checking that
    /// <paramref name="length"/> bytes from there lie inside the file.</summary>
    private int CheckedOffset(ulong baseOffset, long delta, long length)
    {
        ulong start = baseOffset + (ulong)delta;
        if (start > (ulong)_image.Length || (ulong)length > (ulong)_image.Length - start)
            throw new ElfFormatException(string.Format(
                "{0} bytes at file offset {1} lie past the end of the {2}-byte file.", length, start, _image.Length));
        return (int)start;
    }

    // ELF data encoding 1 is little-endian, whatever the byte order of the machine running the build.
    private ushort ReadUInt16(int offset) => (ushort)(_image[offset] | _image[offset + 1] << 8);

    private uint ReadUInt32(int offset) => ReadUInt16(offset) | (uint)ReadUInt16(offset + 2) << 16;

    private ulong ReadUInt64(int offset) => ReadUInt32(offset) | (ulong)ReadUInt32(offset + 4) << 32;

    private void WriteUInt32(int offset, uint value)
    {
        _image[offset] = (byte)value;
        _image[offset + 1] = (byte)(value >> 8);
        _image[offset + 2] = (byte)(value >> 16);
        _image[offset + 3] = (byte)(value >> 24);
    }

    /// <summary>The Elf64_Shdr fields that version patching reads.</summary>
    private sealed class Section
    {
        public uint Type;
        public ulong Offset;
        public ulong Size;
        public uint Link;
        public uint Info;
    }
}

/// <summary>Thrown when a file does not have the ELF layout that the patch expects, or may not be patched.</summary>
internal sealed class ElfFormatException : Exception
{
    /// <summary>Creates the exception with a message that completes "Could not patch FILE: ".</summary>
    public ElfFormatException(string message)
        : base(message)
    {
    }
}
