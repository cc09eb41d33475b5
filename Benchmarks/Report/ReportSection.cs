namespace SimpleTransformer.Benchmarks.Report;

/// <summary>One part of the results page: a level-2 heading and its Markdown body (text, tables, notes).</summary>
/// <param name="Title">The heading text.</param>
/// <param name="Body">Markdown that follows the heading.</param>
public sealed record ReportSection(string Title, string Body);

/// <summary>A target the benchmark checks, with the measured value and whether it was met.</summary>
/// <param name="Description">What is compared, for example "ONNX Runtime vs TorchSharp, batch 1".</param>
/// <param name="Required">The target as text, for example "≥ 3x".</param>
/// <param name="Measured">The measured value as text.</param>
/// <param name="Met">Whether the measured value reaches the target.</param>
public sealed record TargetResult(string Description, string Required, string Measured, bool Met);
