using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Training.Checkpoints;

/// <summary>
/// Every file of one checkpoint directory, read and checked against each other before any model is built:
/// what a resumed run starts from.
/// </summary>
/// <param name="Directory">The checkpoint directory.</param>
/// <param name="Config">The model configuration (<c>config.json</c>).</param>
/// <param name="Tokenizer">The tokenizer (<c>tokenizer.json</c>); its size equals <c>vocab_size</c>.</param>
/// <param name="State">The trainer state (<c>trainer_state.json</c>), with training options valid for <paramref name="Config"/>.</param>
/// <param name="Weights">The weights (<c>model.safetensors</c>): exactly the tensors of <paramref name="Config"/>, all finite.</param>
/// <param name="OptimizerState">The AdamW moments (<c>optimizer.safetensors</c>): two per weight, of its shape, finite.</param>
public sealed record TrainingCheckpoint(
    string Directory,
    ModelConfig Config,
    ITextTokenizer Tokenizer,
    TrainerState State,
    IReadOnlyDictionary<string, NamedTensor> Weights,
    IReadOnlyDictionary<string, NamedTensor> OptimizerState)
{
    /// <summary>
    /// Reads and cross-checks every file of <paramref name="directory"/>. Throws <see cref="FileNotFoundException"/>
    /// for a missing file, and <see cref="InvalidModelConfigException"/>, <see cref="InvalidTokenizerException"/> or
    /// <see cref="InvalidCheckpointException"/> naming the file and the problem for a damaged or inconsistent one.
    /// </summary>
    public static TrainingCheckpoint Load(string directory)
    {
        var config = ModelConfig.Load(directory);
        var tokenizer = TokenizerFile.Load(directory);
        if (tokenizer.VocabSize != config.VocabSize)
        {
            throw new InvalidCheckpointException(
                $"The tokenizer '{Path.Combine(directory, TokenizerFile.FileName)}' has {tokenizer.VocabSize} tokens but '{Path.Combine(directory, ModelConfig.FileName)}' has vocab_size {config.VocabSize}. The files come from different runs; use a checkpoint written by training.");
        }

        var state = TrainerState.Load(directory);
        CheckState(directory, config, state);

        string weightsPath = Path.Combine(directory, CheckpointStore.WeightsFile);
        var weights = Safetensors.Load(weightsPath);
        TensorLayout.Check(config, weights, weightsPath);
        TensorLayout.CheckFinite(weights.Values, weightsPath);

        string optimizerPath = Path.Combine(directory, CheckpointStore.OptimizerFile);
        var moments = Safetensors.Load(optimizerPath);
        CheckMoments(optimizerPath, config, moments);
        return new TrainingCheckpoint(directory, config, tokenizer, state, weights, moments);
    }

    private static void CheckState(string directory, ModelConfig config, TrainerState state)
    {
        string path = Path.Combine(directory, TrainerState.FileName);
        try
        {
            state.Training.Validate(config.MaxPositions);
        }
        catch (ArgumentException e)
        {
            throw new InvalidCheckpointException($"Invalid trainer state '{path}': {e.Message}", e);
        }

        if (CheckpointStore.StepOf(directory) is long step && step != state.Step)
        {
            throw new InvalidCheckpointException(
                $"Invalid trainer state '{path}': 'step' is {state.Step} but the directory is the checkpoint of step {step}. The files come from different checkpoints.");
        }

        if (state.Step < 1)
        {
            throw new InvalidCheckpointException($"Invalid trainer state '{path}': 'step' is {state.Step}, but a checkpoint is written only after a step.");
        }
    }

    // AdamW stores exp_avg.{name} and exp_avg_sq.{name} for every weight; the second moment is a running mean of
    // squares, so a negative value can only come from damage.
    private static void CheckMoments(string path, ModelConfig config, IReadOnlyDictionary<string, NamedTensor> moments)
    {
        var expected = TensorLayout.Expected(config);
        if (moments.Count != 2 * expected.Count)
        {
            throw new InvalidCheckpointException(
                $"Invalid optimizer state '{path}': it contains {moments.Count} tensors, expected {2 * expected.Count} (exp_avg and exp_avg_sq for each of the {expected.Count} weights).");
        }

        foreach (var (name, shape) in expected)
        {
            foreach (string moment in new[] { $"exp_avg.{name}", $"exp_avg_sq.{name}" })
            {
                if (!moments.TryGetValue(moment, out var tensor))
                {
                    throw new InvalidCheckpointException($"Invalid optimizer state '{path}': '{moment}' is missing.");
                }

                if (!tensor.Shape.SequenceEqual(shape))
                {
                    throw new InvalidCheckpointException(
                        $"Invalid optimizer state '{path}': '{moment}' has shape [{string.Join(", ", tensor.Shape)}], expected [{string.Join(", ", shape)}].");
                }
            }
        }

        TensorLayout.CheckFinite(moments.Values, path);
        foreach (var tensor in moments.Values.Where(t => t.Name.StartsWith("exp_avg_sq.", StringComparison.Ordinal)))
        {
            int index = Array.FindIndex(tensor.Data, value => value < 0);
            if (index >= 0)
            {
                throw new InvalidCheckpointException(
                    $"Invalid optimizer state '{path}': '{tensor.Name}' is {tensor.Data[index]} at element {index}, but a second moment is never negative.");
            }
        }
    }
}
