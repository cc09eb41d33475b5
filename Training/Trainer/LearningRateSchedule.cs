namespace SimpleTransformer.Training.Trainer;

/// <summary>Linear warmup from 0 to the peak rate, then cosine or linear decay to the minimum rate at the last step.</summary>
public static class LearningRateSchedule
{
    /// <summary>Returns the learning rate for 0-based optimizer step <paramref name="step"/>.</summary>
    public static double At(TrainingOptions options, long step)
    {
        if (step < options.WarmupSteps)
        {
            return options.LearningRate * (step + 1) / options.WarmupSteps;
        }

        long decaySteps = Math.Max(1, options.MaxSteps - options.WarmupSteps);
        double progress = Math.Clamp((double)(step - options.WarmupSteps) / decaySteps, 0, 1);
        double factor = options.Decay == DecaySchedule.Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1 - progress;
        return options.MinLearningRate + factor * (options.LearningRate - options.MinLearningRate);
    }
}
