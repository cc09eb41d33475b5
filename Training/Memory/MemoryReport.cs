using System.Globalization;
using System.Text;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Training.Precision;

namespace SimpleTransformer.Training.Memory;

/// <summary>Formats <see cref="StepMemory"/> results as text: a breakdown for one configuration and a comparison table.</summary>
public static class MemoryReport
{
    /// <summary>Formats the breakdown of one step, one component per line, in MiB.</summary>
    public static string Describe(string presetPath, ModelConfig config, TrainingOptions options, StepMemory memory)
    {
        var text = new StringBuilder();
        text.AppendLine(Invariant($"memory of one training step: '{presetPath}' | batch {memory.BatchSize} x {memory.SequenceLength} tokens | {Name(memory.Precision)} | gradient checkpointing {(memory.GradientCheckpointing ? "on" : "off")}"));
        text.AppendLine(Invariant($"model: {memory.Parameters:N0} parameters | {config.NumLayers} layers, hidden {config.HiddenSize}, ffn {config.IntermediateSize}, vocab {config.VocabSize} ({options.Tokenizer.ToString().ToLowerInvariant()})"));
        Row(text, "weights (fp32)", memory.ParameterBytes, "computed: parameters x 4");
        Row(text, "gradients (fp32)", memory.GradientBytes, "computed: parameters x 4");
        Row(text, "AdamW moments (fp32)", memory.OptimizerBytes, "computed: parameters x 8");
        if (memory.Precision == TrainingPrecision.Bf16)
        {
            Row(text, "bf16 working weights", memory.WorkingCopyBytes, "computed: parameters x 2");
        }

        Row(text, "activations and temporaries", memory.ActivationBytes, "measured: peak minus resident before the step");
        Row(text, "resident before the step", memory.ResidentBeforeBytes, "measured (VmRSS): runtime and libraries, weights, gradients, moments");
        Row(text, "peak process memory", memory.PeakBytes, "measured (VmHWM) during the step");
        return text.ToString();
    }

    /// <summary>Formats a Markdown table with one row per measured configuration.</summary>
    public static string Table(IEnumerable<StepMemory> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| sequence length | batch | checkpointing | activations and temporaries (MiB) | peak process memory (MiB) |");
        text.AppendLine("| ---: | ---: | --- | ---: | ---: |");
        foreach (var row in rows)
        {
            text.AppendLine(Invariant($"| {row.SequenceLength} | {row.BatchSize} | {(row.GradientCheckpointing ? "on" : "off")} | {Mebibytes(row.ActivationBytes):F1} | {Mebibytes(row.PeakBytes):F1} |"));
        }

        return text.ToString();
    }

    private static void Row(StringBuilder text, string label, long bytes, string source) =>
        text.AppendLine(Invariant($"  {label,-30} {Mebibytes(bytes),10:F2} MiB   {source}"));

    private static double Mebibytes(long bytes) => bytes / (1024.0 * 1024.0);

    private static string Name(TrainingPrecision precision) => precision == TrainingPrecision.Bf16 ? "bf16 passes, fp32 master weights" : "fp32";

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
