using System.Text;

namespace SimpleTransformer.Benchmarks.Report;

/// <summary>A GitHub-flavoured Markdown table built row by row.</summary>
public sealed class MarkdownTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    /// <summary>Appends a row, which must have one cell per header.</summary>
    public MarkdownTable Add(params string[] cells)
    {
        if (cells.Length != headers.Length)
        {
            throw new ArgumentException($"A row has {cells.Length} cells but the table has {headers.Length} columns ({string.Join(", ", headers)}).", nameof(cells));
        }

        _rows.Add(cells);
        return this;
    }

    /// <summary>Returns the table as Markdown lines, ending with a newline.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", headers) + " |");
        text.AppendLine("|" + string.Concat(headers.Select(_ => " --- |")));
        foreach (var row in _rows)
        {
            text.AppendLine("| " + string.Join(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))) + " |");
        }

        return text.ToString();
    }
}
