using System.Globalization;

namespace SimpleTransformer.Training.Trainer;

/// <summary>One logging step of a training run, passed to the progress callback.</summary>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="MaxSteps">Steps in the whole run.</param>
/// <param name="TrainLoss">Mean training loss over the steps since the previous line.</param>
/// <param name="ValidationLoss">Validation loss when this step evaluated it, otherwise null.</param>
/// <param name="LearningRate">Learning rate of the step.</param>
/// <param name="TokensPerSecond">Training tokens per second since the previous line.</param>
/// <param name="Elapsed">Time since the run (or the resumed part of it) started.</param>
/// <param name="GradNorm">Global gradient norm before clipping.</param>
public sealed record TrainingProgress(long Step, long MaxSteps, double TrainLoss, double? ValidationLoss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, double GradNorm)
{
    /// <summary>Formats the fixed-width console line: step, loss, validation loss, learning rate, tokens/s, elapsed.</summary>
    public string ToLogLine()
    {
        string validation = ValidationLoss is double v ? v.ToString("F4", CultureInfo.InvariantCulture) : "      ";
        return string.Create(CultureInfo.InvariantCulture,
            $"step {Step,6}/{MaxSteps} | loss {TrainLoss:F4} | val {validation} | lr {LearningRate:0.00e+00} | grad {GradNorm,7:F3} | {TokensPerSecond,8:F0} tok/s | {Elapsed:hh\\:mm\\:ss}");
    }
}
