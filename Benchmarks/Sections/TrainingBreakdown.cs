// Dimension letters: B batch, T sequence length, C hidden, H heads, D head size, I intermediate, V vocabulary.
using System.Text;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Benchmarks.Report;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Training;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// Where a training step's time goes. The step's phases (forward with loss, backward, clipping and AdamW) are timed on
/// random tokens. Each kind of operator is timed alone, forward and backward, at the model's own shapes, and multiplied
/// by its count per step. The matrix products' rate at those shapes, against the square product's, is the part of the
/// utilisation gap that more careful code cannot close.
/// </summary>
public static class TrainingBreakdown
{
    /// <summary>Returns the Markdown of the breakdown for one preset.</summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="options">The preset's training options (batch and sequence length).</param>
    /// <param name="settings">The benchmark settings (threads, steps).</param>
    /// <param name="trainerStep">The trainer's median step time, seconds.</param>
    /// <param name="gemm">Runs the reference square products once and returns the faster rate, FLOP per second.</param>
    /// <param name="metrics">Receives the shares of the step and rates behind the findings, under <c>breakdown.*</c> keys.</param>
    /// <param name="log">Progress lines.</param>
    public static string Measure(ModelConfig config, TrainingOptions options, BenchmarkSettings settings, double trainerStep, Func<double> gemm,
        IDictionary<string, double> metrics, Action<string> log)
    {
        int b = options.BatchSize, t = options.SequenceLength, c = config.HiddenSize, h = config.NumHeads, i = config.IntermediateSize, v = config.VocabSize, layers = config.NumLayers;
        long rows = (long)b * t;
        int repeats = settings.Name == "tiny" ? 1 : 3;

        // Each operator has a group for the findings: matrix products, attention or element-wise work.
        var operators = new List<(string Name, string Group, int Count, Func<double> Seconds, double Flops)>
        {
            ("linear C → C (q, k, v, o), forward + backward", "linear", 4 * layers, () => Linear(rows, c, c, repeats), 6.0 * rows * c * c),
            ("linear C → I (fc_in), forward + backward", "linear", layers, () => Linear(rows, c, i, repeats), 6.0 * rows * c * i),
            ("linear I → C (fc_out), forward + backward", "linear", layers, () => Linear(rows, i, c, repeats), 6.0 * rows * i * c),
            ("output projection C → V, forward + backward", "linear", 1, () => Linear(rows, c, v, repeats, bias: false), 6.0 * rows * c * v),
            ("attention (scaled_dot_product_attention, mask), forward + backward", "attention", layers, () => Attention(b, h, t, c / h, repeats), 12.0 * b * h * t * t * (c / h)),
            ($"activation {config.Activation}, forward + backward", "elementwise", layers, () => Activation(config, rows, i, repeats), 0),
            ("LayerNorm, forward + backward", "elementwise", 2 * layers + 1, () => LayerNorm(rows, c, repeats), 0),
            ("cross-entropy, forward + backward", "elementwise", 1, () => CrossEntropy(rows, v, repeats), 0),
        };
        if (config.HiddenDropout > 0)
        {
            operators.Add(($"dropout p = {config.HiddenDropout}, forward + backward", "elementwise", 2 * layers + 1, () => Dropout(rows, c, config.HiddenDropout, repeats), 0));
        }

        if (config.PositionEmbedding == PositionEmbedding.Rotary)
        {
            operators.Add(("rotary rotation of q and k, forward + backward", "elementwise", 2 * layers, () => Rotary(b, h, t, c / h, repeats), 0));
        }

        // One training step, each operator and the square product per round, so that all of them see the same load.
        log("  training step phases and operators at the model's shapes, interleaved");
        using var step = new StepPhases(config, options);
        var measurements = new List<(string, Func<double>)> { ("step", step.Run), ("gemm", gemm) };
        measurements.AddRange(operators.Select(o => (o.Name, o.Seconds)));
        var samples = Interleaved.Run(measurements, settings.TrainingSteps, log);
        double gemmRate = Statistics.Median(samples["gemm"]);
        var phases = step.Medians();

        double stepSeconds = phases.Forward + phases.Backward + phases.Clip + phases.Optimizer;
        var text = new StringBuilder();
        text.AppendLine($"**Breakdown, {config.NumLayers} layers, C = {c}, I = {i}, H = {h}, V = {v}, batch {b} × {t}.** " +
            $"Step phases on random tokens (median of {settings.TrainingSteps}): forward and loss {Format.Milliseconds(phases.Forward)}, backward {Format.Milliseconds(phases.Backward)}, " +
            $"clipping {Format.Milliseconds(phases.Clip)}, AdamW {Format.Milliseconds(phases.Optimizer)}; {Format.Milliseconds(stepSeconds)} in all, against {Format.Milliseconds(trainerStep)} per trainer step " +
            $"(the trainer also samples the batch). Operators timed alone at the model's shapes, in the same rounds as the step, with the square GEMM at {Format.Significant(gemmRate / 1e9)} GFLOP/s:");
        text.AppendLine();
        var table = new MarkdownTable("operator", "count per step", "ms per step", "share of step", "GFLOP/s", "rate / square GEMM");
        double accounted = 0;
        var groupSeconds = new Dictionary<string, double>(StringComparer.Ordinal);
        var groupFlops = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, group, count, _, flops) in operators)
        {
            double seconds = Statistics.Median(samples[name]);
            double total = count * seconds;
            accounted += total;
            groupSeconds[group] = groupSeconds.GetValueOrDefault(group) + total;
            groupFlops[group] = groupFlops.GetValueOrDefault(group) + count * flops;
            table.Add(name, count.ToString(), Format.Significant(total * 1e3), Format.Percent(total / stepSeconds),
                flops > 0 ? Format.Significant(flops / seconds / 1e9) : "", flops > 0 ? Format.Percent(flops / seconds / gemmRate) : "");
        }

        foreach (var (name, seconds) in new[] { ("AdamW update (measured in the step)", phases.Optimizer), ("gradient clipping (measured in the step)", phases.Clip) })
        {
            accounted += seconds;
            table.Add(name, "1", Format.Significant(seconds * 1e3), Format.Percent(seconds / stepSeconds), "", "");
        }

        table.Add("rest: residual adds, embeddings, head split and merge copies, autograd bookkeeping", "", Format.Significant((stepSeconds - accounted) * 1e3), Format.Percent((stepSeconds - accounted) / stepSeconds), "", "");
        foreach (string group in new[] { "linear", "attention" })
        {
            metrics[$"breakdown.{group}.share"] = groupSeconds[group] / stepSeconds;
            metrics[$"breakdown.{group}.rate"] = groupFlops[group] / groupSeconds[group] / gemmRate;
        }

        metrics["breakdown.elementwise.share"] = groupSeconds["elementwise"] / stepSeconds;
        metrics["breakdown.rest.share"] = (stepSeconds - accounted) / stepSeconds;
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }

    private static double Linear(long rows, int inputs, int outputs, int repeats, bool bias = true)
    {
        using var scope = NewDisposeScope();
        var x = randn(rows, inputs).requires_grad_(true);
        var weight = (randn(outputs, inputs) * 0.02).requires_grad_(true);
        var biasTensor = bias ? zeros(outputs).requires_grad_(true) : null;
        var gradient = randn(rows, outputs);
        return TorchTiming.MedianSeconds(() => F.linear(x, weight, biasTensor).backward([gradient]), repeats);
    }

    private static double Attention(int batch, int heads, int tokens, int headSize, int repeats)
    {
        using var scope = NewDisposeScope();
        var q = randn(batch, heads, tokens, headSize).requires_grad_(true);                               // [B, H, T, D]
        var k = randn(batch, heads, tokens, headSize).requires_grad_(true);
        var v = randn(batch, heads, tokens, headSize).requires_grad_(true);
        var mask = ones(tokens, tokens, dtype: @bool).tril().logical_not();
        var bias = zeros(1, 1, tokens, tokens).masked_fill(mask, -1e9);                                    // [1, 1, T, T]
        var gradient = randn(batch, heads, tokens, headSize);
        return TorchTiming.MedianSeconds(() => F.scaled_dot_product_attention(q, k, v, attn_mask: bias).backward([gradient]), repeats);
    }

    private static double Activation(ModelConfig config, long rows, int width, int repeats)
    {
        using var scope = NewDisposeScope();
        var x = randn(rows, width).requires_grad_(true);
        var gradient = randn(rows, width);
        return TorchTiming.MedianSeconds(() =>
        {
            var y = config.Activation switch
            {
                Inference.Models.Activation.Gelu => F.gelu(x),
                Inference.Models.Activation.GeluTanh => F.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
                _ => F.relu(x),
            };
            y.backward([gradient]);
        }, repeats);
    }

    private static double LayerNorm(long rows, int width, int repeats)
    {
        using var scope = NewDisposeScope();
        var x = randn(rows, width).requires_grad_(true);
        var weight = ones(width).requires_grad_(true);
        var bias = zeros(width).requires_grad_(true);
        var gradient = randn(rows, width);
        return TorchTiming.MedianSeconds(() => F.layer_norm(x, [width], weight, bias).backward([gradient]), repeats);
    }

    private static double CrossEntropy(long rows, int vocabulary, int repeats)
    {
        using var scope = NewDisposeScope();
        var logits = randn(rows, vocabulary).requires_grad_(true);
        var targets = randint(0, vocabulary, [rows]);
        return TorchTiming.MedianSeconds(() => F.cross_entropy(logits, targets).backward(), repeats);
    }

    private static double Dropout(long rows, int width, double probability, int repeats)
    {
        using var scope = NewDisposeScope();
        var x = randn(rows, width).requires_grad_(true);
        var gradient = randn(rows, width);
        return TorchTiming.MedianSeconds(() => F.dropout(x, probability, training: true).backward([gradient]), repeats);
    }

    // The same operators as the model's rotary rotation: split into halves, four products, a difference, a sum and a concatenation.
    private static double Rotary(int batch, int heads, int tokens, int headSize, int repeats)
    {
        using var scope = NewDisposeScope();
        int half = headSize / 2;
        var x = randn(batch, heads, tokens, headSize).requires_grad_(true);                               // [B, H, T, D]
        var cos = randn(batch, 1, tokens, half);                                                           // [B, 1, T, D/2]
        var sin = randn(batch, 1, tokens, half);
        var gradient = randn(batch, heads, tokens, headSize);
        return TorchTiming.MedianSeconds(() =>
        {
            var first = x.narrow(3, 0, half);
            var second = x.narrow(3, half, half);
            cat([first * cos - second * sin, second * cos + first * sin], 3).backward([gradient]);
        }, repeats);
    }
}
