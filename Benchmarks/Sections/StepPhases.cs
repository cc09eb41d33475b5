// Dimension letters: B batch, T sequence length, V vocabulary.
using System.Diagnostics;
using SimpleTransformer.Benchmarks.Harness;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Optimization;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TorchModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Benchmarks.Sections;

/// <summary>
/// The trainer's optimizer step on random tokens, timed phase by phase: forward and loss, backward, gradient clipping,
/// AdamW with zeroed gradients. The first call is a warm-up and is not recorded.
/// </summary>
public sealed class StepPhases : IDisposable
{
    private readonly ModelConfig _config;
    private readonly TrainingOptions _options;
    private readonly TorchModel _model;
    private readonly AdamW _optimizer;
    private readonly List<TorchSharp.Modules.Parameter> _parameters;
    private readonly List<(double Forward, double Backward, double Clip, double Optimizer)> _samples = [];
    private bool _warm;

    /// <summary>Creates the model (training initialisation, seeded) and its optimizer.</summary>
    public StepPhases(ModelConfig config, TrainingOptions options)
    {
        _config = config;
        _options = options;
        manual_seed(options.Seed);
        _model = new TorchModel(config);
        _model.train();
        _optimizer = new AdamW(_model.named_parameters(), options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
        _parameters = [.. _optimizer.Parameters.Select(p => p.Parameter)];
    }

    /// <summary>Runs one step and returns its seconds.</summary>
    public double Run()
    {
        using var scope = NewDisposeScope();
        var inputIds = randint(0, _config.VocabSize, [_options.BatchSize, _options.SequenceLength]);          // [B, T]
        var targets = randint(0, _config.VocabSize, [_options.BatchSize * _options.SequenceLength]);           // [B·T]
        var stopwatch = Stopwatch.StartNew();
        var logits = _model.forward(inputIds);                                                                  // [B, T, V]
        var loss = F.cross_entropy(logits.view(-1, _config.VocabSize), targets);
        double forward = stopwatch.Elapsed.TotalSeconds;
        loss.backward();
        double backward = stopwatch.Elapsed.TotalSeconds;
        nn.utils.clip_grad_norm_(_parameters, _options.GradClip > 0 ? _options.GradClip : double.PositiveInfinity);
        double clip = stopwatch.Elapsed.TotalSeconds;
        _optimizer.Step(_options.LearningRate);
        _model.zero_grad();
        double end = stopwatch.Elapsed.TotalSeconds;
        if (_warm)
        {
            _samples.Add((forward, backward - forward, clip - backward, end - clip));
        }

        _warm = true;
        return end;
    }

    /// <summary>Returns the median of each phase over the recorded steps.</summary>
    public (double Forward, double Backward, double Clip, double Optimizer) Medians() => (
        Statistics.Median(_samples.Select(s => s.Forward)),
        Statistics.Median(_samples.Select(s => s.Backward)),
        Statistics.Median(_samples.Select(s => s.Clip)),
        Statistics.Median(_samples.Select(s => s.Optimizer)));

    /// <inheritdoc/>
    public void Dispose()
    {
        _optimizer.Dispose();
        _model.Dispose();
    }
}
