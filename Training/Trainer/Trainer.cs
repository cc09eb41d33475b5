// Dimension letters: B batch, T tokens, V vocabulary.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training.Checkpoints;
using SimpleTransformer.Training.Data;
using SimpleTransformer.Training.Logging;
using SimpleTransformer.Training.Optimization;
using SimpleTransformer.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SimpleTransformer.Training.Trainer;

/// <summary>What to train: a fresh run from a preset and a corpus, or the continuation of a run directory.</summary>
public sealed record TrainRequest
{
    /// <summary>The run directory that receives checkpoints, metrics and the final model.</summary>
    public required string RunDirectory { get; init; }

    /// <summary>The corpus text file; for a resumed run, null means the corpus recorded in the checkpoint.</summary>
    public string? CorpusPath { get; init; }

    /// <summary>The preset of a fresh run; ignored when resuming.</summary>
    public Preset? Preset { get; init; }

    /// <summary>Continue from the newest checkpoint in <see cref="RunDirectory"/>.</summary>
    public bool Resume { get; init; }

    /// <summary>Stop after this many steps in total, earlier than <c>max_steps</c> (for tests and interrupted runs).</summary>
    public long? StopAfterStep { get; init; }

    /// <summary>Intra-op threads for TorchSharp; null keeps LibTorch's default.</summary>
    public int? Threads { get; init; }

    /// <summary>Replaces the precision of the preset or of the resumed run; null keeps it.</summary>
    public TrainingPrecision? Precision { get; init; }
}

/// <summary>The outcome of a training run.</summary>
/// <param name="RunDirectory">Where checkpoints were written.</param>
/// <param name="LastCheckpoint">The final checkpoint directory.</param>
/// <param name="Losses">Training loss of every step run in this process, in order, keyed by step.</param>
/// <param name="ValidationLoss">The last validation loss measured.</param>
public sealed record TrainingResult(string RunDirectory, string LastCheckpoint, IReadOnlyList<(long Step, double Loss)> Losses, double? ValidationLoss);

/// <summary>Thrown when the loss or the gradients stop being finite; nothing is written for that step.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);

/// <summary>
/// Trains a <see cref="Model.SimpleTransformer"/> with AdamW, warmup and decay, gradient accumulation and clipping,
/// periodic validation and atomic checkpoints, in fp32 or in bf16 with fp32 master weights. Every batch and dropout
/// mask depends only on the seed and the step, so a resumed run repeats the losses of an uninterrupted one on the
/// same thread count. Besides checkpoints, the run directory receives <c>metrics.jsonl</c> and <c>loss.png</c>.
/// </summary>
public static class Trainer
{
    /// <summary>Runs training and reports through callbacks.</summary>
    /// <param name="request">What to train.</param>
    /// <param name="log">Receives the start-up summary, one fixed-format line per logging step and other notices.</param>
    /// <param name="progress">Receives the values of each logging step.</param>
    /// <param name="stepCompleted">Receives the steps completed and the last step of this run after every optimizer step.</param>
    public static TrainingResult Run(TrainRequest request, Action<string> log, Action<TrainingProgress>? progress = null, Action<long, long>? stepCompleted = null)
    {
        if (request.Threads is int threads)
        {
            if (threads < 1)
            {
                // LibTorch aborts the whole process on a non-positive thread count, so it must not get there.
                throw new ArgumentOutOfRangeException(nameof(request), threads, $"Threads is {threads}; pass a positive number of threads, or null for LibTorch's default.");
            }

            set_num_threads(threads);
        }

        var store = new CheckpointStore(request.RunDirectory);
        var start = LoadStart(request, store);
        var options = start.State.Training with { Precision = request.Precision ?? start.State.Training.Precision };
        options.Validate(start.Config.MaxPositions);
        var corpus = Corpus.Load(start.State.Corpus);
        var trainBatches = new BatchSampler(corpus.Train, start.Tokenizer, options.DataMode, options.BatchSize, options.SequenceLength, options.Seed, "training");
        var validationBatches = new BatchSampler(corpus.Validation, start.Tokenizer, options.DataMode, options.BatchSize, options.SequenceLength, options.Seed, "validation");

        manual_seed(options.Seed);
        using var model = new Model.SimpleTransformer(start.Config) { GradientCheckpointing = options.GradientCheckpointing };
        if (start.Weights is not null)
        {
            ModelWeights.Load(model, start.Weights, start.Directory!);
        }

        using var optimizer = new AdamW(model.named_parameters(), options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        if (start.OptimizerState is not null)
        {
            optimizer.LoadState(start.OptimizerState, start.State.Step, start.Directory!);
        }

        using var bf16 = options.Precision == TrainingPrecision.Bf16 ? new Bf16WorkingCopy(model) : null;

        LogSummary(log, start, options, model, corpus, trainBatches, validationBatches, request.Threads);
        Directory.CreateDirectory(request.RunDirectory);
        string metricsPath = Path.Combine(request.RunDirectory, MetricsFile.FileName);
        string plotPath = Path.Combine(request.RunDirectory, LossPlot.FileName);
        bool plotting = true;

        var state = start.State with { Training = options };
        long lastStep = Math.Min(options.MaxSteps, request.StopAfterStep ?? long.MaxValue);
        var losses = new List<(long, double)>();
        var clock = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        long windowTokens = 0;
        double windowLoss = 0;
        int windowSteps = 0;
        string lastCheckpoint = start.Directory ?? "";
        double? lastValidation = state.ValidationLoss;
        var parameters = optimizer.Parameters.Select(p => p.Parameter).ToList();

        for (long step = state.Step; step < lastStep; step++)
        {
            double lr = LearningRateSchedule.At(options, step);
            var microBatches = Enumerable.Range(0, options.GradientAccumulationSteps).Select(m => trainBatches.Sample(step, m)).ToList();
            var (loss, gradNorm, tokens) = TrainStep(model, bf16, optimizer, microBatches, options, step, lr, parameters);
            losses.Add((step + 1, loss));
            windowLoss += loss;
            windowSteps++;
            windowTokens += tokens;
            state = state with { Step = step + 1, TokensSeen = state.TokensSeen + tokens, TrainLoss = loss, ValidationLoss = null };

            bool last = step + 1 == lastStep;
            bool evaluate = (step + 1) % options.EvalInterval == 0 || last;
            if (evaluate)
            {
                double validation = Evaluate(model, validationBatches, options);
                lastValidation = validation;
                state = state with { ValidationLoss = validation };
            }

            if ((step + 1) % options.LogInterval == 0 || evaluate)
            {
                var line = new TrainingProgress(step + 1, options.MaxSteps, windowLoss / windowSteps, state.ValidationLoss, lr,
                    windowTokens / Math.Max(1e-9, window.Elapsed.TotalSeconds), clock.Elapsed, gradNorm);
                log(line.ToLogLine());
                progress?.Invoke(line);
                MetricsFile.Append(metricsPath, MetricsRecord.From(line));
                window.Restart();
                windowTokens = 0;
                windowLoss = 0;
                windowSteps = 0;
            }

            if ((step + 1) % options.CheckpointInterval == 0 || last)
            {
                bool isBest = state.ValidationLoss is double v && (state.BestValidationLoss is null || v < state.BestValidationLoss);
                if (isBest)
                {
                    state = state with { BestValidationLoss = state.ValidationLoss };
                }

                lastCheckpoint = store.Save(start.Config, start.Tokenizer, ModelWeights.ToNamedTensors(model), optimizer, state, options.KeepLast, isBest);
                log($"saved checkpoint {lastCheckpoint}");
                plotting = plotting && TryWritePlot(metricsPath, plotPath, log);
            }

            stepCompleted?.Invoke(step + 1, lastStep);
        }

        return new TrainingResult(request.RunDirectory, lastCheckpoint, losses, lastValidation);
    }

    /// <summary>
    /// Runs one optimizer step over <paramref name="microBatches"/>; returns the loss, the gradient norm and the tokens
    /// scored. With <paramref name="bf16"/>, the passes run on the bf16 copy and its gradients are added to the fp32
    /// master gradients after each micro-batch. The master gradients are released (set to none) at the end.
    /// </summary>
    internal static (double Loss, double GradNorm, long Tokens) TrainStep(Model.SimpleTransformer model, Bf16WorkingCopy? bf16, AdamW optimizer, IReadOnlyList<Batch> microBatches, TrainingOptions options, long step, double lr, IReadOnlyList<TorchSharp.Modules.Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        manual_seed(unchecked(options.Seed * 1_000_003L + step));
        bf16?.CopyWeightsFromMaster();
        var compute = bf16?.Model ?? model;
        compute.train();

        long scored = microBatches.Sum(b => b.ScoredTokens);
        double total = 0;
        foreach (var batch in microBatches)
        {
            using var microScope = NewDisposeScope();
            var loss = Loss(compute, batch, scored, options.DataMode);
            loss.backward();
            bf16?.AddGradientsToMaster();
            total += loss.item<float>();
        }

        double gradNorm = nn.utils.clip_grad_norm_(parameters, options.GradClip > 0 ? options.GradClip : double.PositiveInfinity);
        if (!double.IsFinite(total) || !double.IsFinite(gradNorm))
        {
            throw new NonFiniteLossException(
                $"Training stopped at step {step + 1}: the loss is {total.ToString(CultureInfo.InvariantCulture)} and the gradient norm {gradNorm.ToString(CultureInfo.InvariantCulture)}. No checkpoint was written for this step; the last good checkpoint is kept. Lower learning_rate or enable grad_clip.");
        }

        optimizer.Step(lr);
        model.zero_grad();
        return (total, gradNorm, scored);
    }

    /// <summary>
    /// Returns the summed cross-entropy of one micro-batch divided by <paramref name="scoredInStep"/>, ignoring padding.
    /// The logits are cast to fp32 first, so a bf16 model's loss and its softmax are computed in fp32.
    /// </summary>
    internal static Tensor Loss(Model.SimpleTransformer model, Batch batch, long scoredInStep, DataMode mode)
    {
        var inputIds = tensor(batch.InputIds, [batch.Rows, batch.Tokens]);                   // [B, T]
        var targets = tensor(batch.Targets, [batch.Rows * batch.Tokens]);                    // [B·T]
        var mask = mode == DataMode.Documents ? tensor(batch.AttentionMask, [batch.Rows, batch.Tokens]) : null;
        var logits = model.forward(inputIds, mask).to(float32);                              // [B, T, V]
        var sum = F.cross_entropy(logits.view(-1, logits.shape[2]), targets, ignore_index: Batch.IgnoreIndex, reduction: nn.Reduction.Sum);
        return sum / scoredInStep;
    }

    /// <summary>Returns the mean validation loss per scored token over the evaluation batches.</summary>
    private static double Evaluate(Model.SimpleTransformer model, BatchSampler batches, TrainingOptions options)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        double sum = 0;
        long count = 0;
        for (int i = 0; i < options.EvalBatches; i++)
        {
            var batch = batches.Evaluation(i, options.EvalBatches);
            sum += Loss(model, batch, 1, options.DataMode).item<float>();
            count += batch.ScoredTokens;
        }

        model.train();
        return sum / count;
    }

    private sealed record Start(ModelConfig Config, ITextTokenizer Tokenizer, TrainerState State, string? Directory,
        IReadOnlyDictionary<string, NamedTensor>? Weights, IReadOnlyDictionary<string, NamedTensor>? OptimizerState);

    private static Start LoadStart(TrainRequest request, CheckpointStore store)
    {
        if (request.Resume)
        {
            string directory = store.Latest ?? throw new InvalidCheckpointException(
                $"No complete checkpoint in '{request.RunDirectory}' to resume from. Start a new run without --resume.");
            var checkpoint = TrainingCheckpoint.Load(directory);
            var state = request.CorpusPath is null ? checkpoint.State : checkpoint.State with { Corpus = request.CorpusPath };
            return new Start(checkpoint.Config, checkpoint.Tokenizer, state, directory, checkpoint.Weights, checkpoint.OptimizerState);
        }

        if (store.Latest is string existing)
        {
            throw new InvalidOperationException(
                $"The run directory '{request.RunDirectory}' already holds checkpoints (newest: '{existing}'). Pass --resume to continue it, or choose another --output directory.");
        }

        var preset = request.Preset ?? throw new ArgumentException("A new run needs a preset (--preset).");
        string corpusPath = request.CorpusPath ?? throw new ArgumentException("A new run needs a corpus (--corpus).");
        var corpus = Corpus.Load(corpusPath);
        ITextTokenizer newTokenizer = preset.Training.Tokenizer == TokenizerKind.Gpt2
            ? Gpt2Tokenizer.Instance
            : CharTokenizer.FromText(corpus.TrainText);
        var modelConfig = preset.ModelConfigFor(newTokenizer.VocabSize);
        preset.Training.Validate(modelConfig.MaxPositions);
        return new Start(modelConfig, newTokenizer, new TrainerState { Corpus = corpusPath, Training = preset.Training }, null, null, null);
    }

    /// <summary>Writes <c>loss.png</c> from <c>metrics.jsonl</c>; returns false after logging one warning when SkiaSharp cannot render here.</summary>
    private static bool TryWritePlot(string metricsPath, string plotPath, Action<string> log)
    {
        var records = MetricsFile.Read(metricsPath);
        if (records.Count == 0)
        {
            return true;
        }

        try
        {
            LossPlot.Write(records, plotPath);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
        {
            log($"warning: {LossPlot.FileName} is not written in this run because SkiaSharp's native library failed to load: {e.GetBaseException().Message} Training continues, and {MetricsFile.FileName} contains the same values.");
            return false;
        }
    }

    private static void LogSummary(Action<string> log, Start start, TrainingOptions options, Model.SimpleTransformer model, Corpus corpus, BatchSampler train, BatchSampler validation, int? threads)
    {
        var c = start.Config;
        log(string.Create(CultureInfo.InvariantCulture,
            $"model: {model.ParameterCount():N0} parameters | {c.NumLayers} layers, hidden {c.HiddenSize}, {c.NumHeads} heads, ffn {c.IntermediateSize}, context {c.MaxPositions}, vocab {c.VocabSize} ({start.Tokenizer.Kind})"));
        log($"architecture: {ConfigName(c.PositionEmbedding)} positions, {ConfigName(c.NormPosition)}-norm, {ConfigName(c.Activation)}, sliding window {c.SlidingWindow?.ToString(CultureInfo.InvariantCulture) ?? "off"}, tied embeddings {(c.TieWordEmbeddings ? "yes" : "no")}");
        log(string.Create(CultureInfo.InvariantCulture,
            $"data: '{corpus.Path}' | {corpus.Train.Count} training documents ({train.StreamTokens:N0} tokens), {corpus.Validation.Count} validation documents ({validation.StreamTokens:N0} tokens) | mode {ConfigName(options.DataMode)}"));
        log(string.Create(CultureInfo.InvariantCulture,
            $"training: {options.MaxSteps} {(options.MaxSteps == 1 ? "step" : "steps")} of {options.BatchSize} x {options.SequenceLength} x {options.GradientAccumulationSteps} = {(long)options.BatchSize * options.SequenceLength * options.GradientAccumulationSteps:N0} tokens/step | lr {options.LearningRate:0.0e+00} warmup {options.WarmupSteps} {ConfigName(options.Decay)} | {PrecisionText(options.Precision)} | threads {threads ?? get_num_threads()}"));
        if (start.Directory is not null)
        {
            log($"resuming from '{start.Directory}' at step {start.State.Step}");
        }
    }

    private static string PrecisionText(TrainingPrecision precision) =>
        precision == TrainingPrecision.Bf16 ? "bf16 passes, fp32 master weights" : "fp32";

    /// <summary>Returns the name an enum value has in config.json and presets, for example <c>learned</c>.</summary>
    private static string ConfigName<TEnum>(TEnum value) where TEnum : struct, Enum =>
        JsonSerializer.Serialize(value).Trim('"');
}
