namespace SimpleTransformer.Parity.Tests.Model;

/// <summary>Locates files of the repository from the test output directory.</summary>
internal static class RepositoryFiles
{
    /// <summary>The directory that contains <c>SimpleTransformer.sln</c>.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Returns the full path of <paramref name="relativePath"/> under the repository root.</summary>
    public static string Get(string relativePath) => Path.Combine(Root, relativePath);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SimpleTransformer.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"SimpleTransformer.sln not found above '{AppContext.BaseDirectory}'.");
    }
}
