using System.Globalization;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training.Optimization;

namespace SimpleTransformer.Training.Checkpoints;

/// <summary>
/// The checkpoints of one run directory: <c>checkpoint-000500/</c> for step 500 and <c>best/</c> for the lowest
/// validation loss. A checkpoint is written into <c>checkpoint-000500.tmp/</c> and renamed when complete, so a
/// directory without the suffix is always whole; older checkpoints beyond <c>keep_last</c> are removed only
/// after the new one is in place.
/// </summary>
public sealed class CheckpointStore
{
    /// <summary>The weights file inside a checkpoint directory.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The optimizer-state file inside a checkpoint directory.</summary>
    public const string OptimizerFile = "optimizer.safetensors";

    private const string Prefix = "checkpoint-";

    /// <summary>Uses <paramref name="runDirectory"/>, creating it when missing.</summary>
    public CheckpointStore(string runDirectory)
    {
        RunDirectory = runDirectory;
    }

    /// <summary>The run directory.</summary>
    public string RunDirectory { get; }

    /// <summary>Returns the complete checkpoint directories, oldest first.</summary>
    public IReadOnlyList<string> List()
    {
        if (!Directory.Exists(RunDirectory))
        {
            return [];
        }

        return [.. Directory.GetDirectories(RunDirectory, Prefix + "*")
            .Where(d => !d.EndsWith(".tmp", StringComparison.Ordinal) && StepOf(d) is not null)
            .OrderBy(d => StepOf(d))];
    }

    /// <summary>The newest complete checkpoint, or null when the run has none.</summary>
    public string? Latest => List().LastOrDefault();

    /// <summary>Writes a checkpoint for <paramref name="state"/>'s step, then prunes old ones; returns its directory.</summary>
    public string Save(ModelConfig config, ITextTokenizer tokenizer, IEnumerable<NamedTensor> weights, AdamW optimizer, TrainerState state, int keepLast, bool isBest)
    {
        Directory.CreateDirectory(RunDirectory);
        string name = Prefix + state.Step.ToString("D6", CultureInfo.InvariantCulture);
        string final = Path.Combine(RunDirectory, name);
        WriteDirectory(final, config, tokenizer, weights, optimizer, state);
        if (isBest)
        {
            CopyDirectory(final, Path.Combine(RunDirectory, "best"));
        }

        foreach (string old in List().SkipLast(keepLast))
        {
            Directory.Delete(old, recursive: true);
        }

        return final;
    }

    /// <summary>Writes all checkpoint files into <paramref name="final"/> by way of a temporary directory.</summary>
    public static void WriteDirectory(string final, ModelConfig config, ITextTokenizer tokenizer, IEnumerable<NamedTensor> weights, AdamW? optimizer, TrainerState state)
    {
        string temporary = final + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        Directory.CreateDirectory(temporary);
        AtomicFile.WriteAllText(Path.Combine(temporary, ModelConfig.FileName), config.ToJson());
        TokenizerFile.Save(tokenizer, temporary);
        Safetensors.Save(Path.Combine(temporary, WeightsFile), weights);
        if (optimizer is not null)
        {
            Safetensors.Save(Path.Combine(temporary, OptimizerFile), optimizer.StateTensors().Select(t => Model.ToNamed(t.Name, t.Value)));
        }

        AtomicFile.WriteAllText(Path.Combine(temporary, TrainerState.FileName), state.ToJson());
        ReplaceDirectory(temporary, final);
    }

    private static void CopyDirectory(string source, string destination)
    {
        string temporary = destination + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        Directory.CreateDirectory(temporary);
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(temporary, Path.GetFileName(file)));
        }

        ReplaceDirectory(temporary, destination);
    }

    /// <summary>Renames a finished temporary directory into place, replacing an older one of the same name.</summary>
    private static void ReplaceDirectory(string temporary, string final)
    {
        if (Directory.Exists(final))
        {
            string old = final + ".old";
            if (Directory.Exists(old))
            {
                Directory.Delete(old, recursive: true);
            }

            Directory.Move(final, old);
            Directory.Move(temporary, final);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.Move(temporary, final);
        }
    }

    private static long? StepOf(string directory)
    {
        string name = Path.GetFileName(directory);
        return name.StartsWith(Prefix, StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long step)
            ? step
            : null;
    }

    private static class Model
    {
        public static NamedTensor ToNamed(string name, TorchSharp.torch.Tensor value) => ModelWeights.ToNamedTensor(name, value);
    }
}
