using System.Text.Json.Serialization;
using SimpleTransformer.Training.Precision;

namespace SimpleTransformer.Training.Memory;

/// <summary>
/// Memory of one training step for one configuration: computed sizes of the persistent state and measured
/// resident memory of the process around the step. All sizes are in bytes.
/// </summary>
public sealed record StepMemory
{
    /// <summary>Sequences in the micro-batch, B.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; }

    /// <summary>Tokens per sequence, T.</summary>
    [JsonPropertyName("sequence_length")] public int SequenceLength { get; init; }

    /// <summary>Whether layers recompute their activations in the backward pass.</summary>
    [JsonPropertyName("gradient_checkpointing")] public bool GradientCheckpointing { get; init; }

    /// <summary>The arithmetic of the passes.</summary>
    [JsonPropertyName("precision")] public TrainingPrecision Precision { get; init; }

    /// <summary>Distinct trainable values (a tied weight counts once).</summary>
    [JsonPropertyName("parameters")] public long Parameters { get; init; }

    /// <summary>fp32 master weights: parameters × 4.</summary>
    [JsonPropertyName("parameter_bytes")] public long ParameterBytes { get; init; }

    /// <summary>fp32 gradients: parameters × 4.</summary>
    [JsonPropertyName("gradient_bytes")] public long GradientBytes { get; init; }

    /// <summary>AdamW's two fp32 moments: parameters × 8.</summary>
    [JsonPropertyName("optimizer_bytes")] public long OptimizerBytes { get; init; }

    /// <summary>The bf16 working copy of the weights (parameters × 2), or 0 in fp32.</summary>
    [JsonPropertyName("working_copy_bytes")] public long WorkingCopyBytes { get; init; }

    /// <summary>Measured: resident memory just before the step, with weights, gradients and moments allocated.</summary>
    [JsonPropertyName("resident_before_bytes")] public long ResidentBeforeBytes { get; init; }

    /// <summary>Measured: the peak resident memory of the process during the step (VmHWM).</summary>
    [JsonPropertyName("peak_bytes")] public long PeakBytes { get; init; }

    /// <summary>
    /// Measured: the peak minus the resident memory before the step, which is the memory of activations saved for
    /// the backward pass plus the temporaries alive at the peak (incoming gradients, attention scores, bf16 gradients).
    /// </summary>
    [JsonPropertyName("activation_bytes")] public long ActivationBytes => Math.Max(0, PeakBytes - ResidentBeforeBytes);
}
