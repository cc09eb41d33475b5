using System.Text.Json.Serialization;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Training.Precision;

/// <summary>The arithmetic of the forward and backward passes during training.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<TrainingPrecision>))]
public enum TrainingPrecision
{
    /// <summary>Everything in fp32.</summary>
    [JsonStringEnumMemberName("fp32")] Fp32,

    /// <summary>
    /// Forward and backward passes on a bfloat16 copy of the weights, with the loss in fp32; master weights,
    /// gradients seen by the optimizer and AdamW moments stay fp32. See <see cref="Bf16WorkingCopy"/>.
    /// </summary>
    [JsonStringEnumMemberName("bf16")] Bf16,
}
