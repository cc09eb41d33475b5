// Dimension letters: B batch, T tokens, V vocabulary.
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Training.Data;
using SimpleTransformer.Training.Optimization;
using SimpleTransformer.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Memory;

/// <summary>
/// Measures one training step in the current process. The peak resident size is per process and only resets to
/// the current size, so each configuration needs a fresh process for a clean number; <see cref="MemoryCommand"/>
/// starts one per configuration.
/// </summary>
public static class StepMemoryProbe
{
    /// <summary>
    /// Builds the model, optimizer and gradients of <paramref name="config"/>, runs a warm-up step on a 1 × 2 batch
    /// (which loads kernels and allocates the AdamW moments), then measures one step on a random B × T batch.
    /// </summary>
    public static StepMemory Measure(ModelConfig config, TrainingOptions options)
    {
        ProcessMemory.Read(); // fails before any work where /proc/self/status is missing
        manual_seed(options.Seed);
        using var model = new Model.SimpleTransformer(config) { GradientCheckpointing = options.GradientCheckpointing };
        using var bf16 = options.Precision == TrainingPrecision.Bf16 ? new Bf16WorkingCopy(model) : null;
        using var optimizer = new AdamW(model.named_parameters(), options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        var parameters = optimizer.Parameters.Select(p => p.Parameter).ToList();
        double learningRate = Trainer.LearningRateSchedule.At(options, 0);

        var random = new Random(options.Seed);
        Trainer.Trainer.TrainStep(model, bf16, optimizer, [RandomBatch(random, 1, 2, config.VocabSize)], options, 0, learningRate, parameters);
        AllocateGradients(parameters);
        var batch = RandomBatch(random, options.BatchSize, options.SequenceLength, config.VocabSize);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        ProcessMemory.ResetPeak();
        long before = ProcessMemory.Read().Resident;
        Trainer.Trainer.TrainStep(model, bf16, optimizer, [batch], options, 1, learningRate, parameters);
        long peak = ProcessMemory.Read().Peak;

        long count = model.ParameterCount();
        return new StepMemory
        {
            BatchSize = options.BatchSize,
            SequenceLength = options.SequenceLength,
            GradientCheckpointing = options.GradientCheckpointing,
            Precision = options.Precision,
            Parameters = count,
            ParameterBytes = count * 4,
            GradientBytes = count * 4,
            OptimizerBytes = count * 8,
            WorkingCopyBytes = bf16 is null ? 0 : count * 2,
            ResidentBeforeBytes = before,
            PeakBytes = peak,
        };
    }

    /// <summary>
    /// Gives every parameter a zero fp32 gradient, so the measured step accumulates into existing gradients and the
    /// resident size before it already includes them.
    /// </summary>
    private static void AllocateGradients(IEnumerable<TorchSharp.Modules.Parameter> parameters)
    {
        using var noGrad = no_grad();
        foreach (var parameter in parameters)
        {
            using var zero = zeros_like(parameter);
            parameter.grad = zero;
        }
    }

    /// <summary>Returns a [B, T] batch of uniformly random token ids, every target scored.</summary>
    private static Batch RandomBatch(Random random, int rows, int tokens, int vocabSize)
    {
        var inputs = new long[rows * tokens];
        var targets = new long[rows * tokens];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = random.Next(vocabSize);
            targets[i] = random.Next(vocabSize);
        }

        return new Batch(rows, tokens, inputs, targets, Enumerable.Repeat(1L, rows * tokens).ToArray());
    }
}
