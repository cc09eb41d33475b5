using System.Globalization;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training.Optimization;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Training.Checkpoints;

/// <summary>
/// The checkpoints of one run directory: <c>checkpoint-000500/</c> for step 500 and <c>best/</c> for the lowest
/// validation loss. A checkpoint is written into <c>checkpoint-000500.tmp/</c> and renamed when complete, so a
/// directory named <c>checkpoint-NNNNNN</c> is always whole. Older checkpoints beyond <c>keep_last</c> are removed
/// only after the new one is in place, and each is renamed to <c>checkpoint-NNNNNN.deleting</c> before its files
/// go, so a process killed while pruning never leaves a partly deleted directory under a checkpoint name.
/// </summary>
public sealed class CheckpointStore
{
    /// <summary>The weights file inside a checkpoint directory.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>The optimizer-state file inside a checkpoint directory.</summary>
    public const string OptimizerFile = "optimizer.safetensors";

    /// <summary>The directory that contains a copy of the checkpoint with the lowest validation loss.</summary>
    public const string BestDirectory = "best";

    private const string Prefix = "checkpoint-";
    private const string TemporarySuffix = ".tmp";
    private const string ReplacedSuffix = ".old";
    private const string DeletingSuffix = ".deleting";

    /// <summary>Uses <paramref name="runDirectory"/>; <see cref="Save"/> creates it when missing.</summary>
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
            .Where(d => StepOf(d) is not null)
            .OrderBy(d => StepOf(d))];
    }

    /// <summary>The newest complete checkpoint, or null when the run has none.</summary>
    public string? Latest => List().LastOrDefault();

    /// <summary>
    /// Writes a checkpoint for <paramref name="state"/>'s step, then prunes old ones; returns its directory.
    /// Throws <see cref="NonFiniteLossException"/>, and writes nothing, when a weight or optimizer moment is NaN
    /// or infinite. Throws <see cref="IOException"/> naming the checkpoint when a file cannot be written (full
    /// disk, read-only directory); the partial directory is removed and earlier checkpoints are unchanged.
    /// </summary>
    public string Save(ModelConfig config, ITextTokenizer tokenizer, IEnumerable<NamedTensor> weights, AdamW optimizer, TrainerState state, int keepLast, bool isBest)
    {
        string name = Prefix + state.Step.ToString("D6", CultureInfo.InvariantCulture);
        string final = Path.Combine(RunDirectory, name);
        var weightList = weights.ToList();
        var moments = optimizer.StateTensors().Select(t => ModelWeights.ToNamedTensor(t.Name, t.Value)).ToList();
        RejectNonFinite(weightList.Concat(moments), state.Step);

        Directory.CreateDirectory(RunDirectory);
        RemoveLeftovers();
        Write(final, config, tokenizer, weightList, moments, state);
        if (isBest)
        {
            CopyDirectory(final, Path.Combine(RunDirectory, BestDirectory));
        }

        foreach (string old in List().SkipLast(keepLast))
        {
            string deleting = old + DeletingSuffix;
            Directory.Move(old, deleting);
            Directory.Delete(deleting, recursive: true);
        }

        return final;
    }

    /// <summary>Writes all checkpoint files into <paramref name="final"/> by way of a temporary directory.</summary>
    public static void WriteDirectory(string final, ModelConfig config, ITextTokenizer tokenizer, IEnumerable<NamedTensor> weights, AdamW? optimizer, TrainerState state)
    {
        var moments = optimizer?.StateTensors().Select(t => ModelWeights.ToNamedTensor(t.Name, t.Value)).ToList();
        Write(final, config, tokenizer, weights, moments, state);
    }

    /// <summary>
    /// Removes what a killed process can leave behind: temporary directories (<c>*.tmp</c>), directories being
    /// deleted (<c>*.deleting</c>) and replaced ones (<c>*.old</c>). A <c>best.old</c> without <c>best</c> (a kill
    /// between the two renames that replace <c>best</c>) is renamed back to <c>best</c>. Returns the removed paths.
    /// </summary>
    public IReadOnlyList<string> RemoveLeftovers()
    {
        var removed = new List<string>();
        if (!Directory.Exists(RunDirectory))
        {
            return removed;
        }

        string best = Path.Combine(RunDirectory, BestDirectory);
        if (!Directory.Exists(best) && Directory.Exists(best + ReplacedSuffix))
        {
            Directory.Move(best + ReplacedSuffix, best);
        }

        foreach (string directory in Directory.GetDirectories(RunDirectory))
        {
            string name = Path.GetFileName(directory);
            bool ours = name.StartsWith(Prefix, StringComparison.Ordinal) || name.StartsWith(BestDirectory + ".", StringComparison.Ordinal);
            bool leftover = name.EndsWith(TemporarySuffix, StringComparison.Ordinal)
                || name.EndsWith(ReplacedSuffix, StringComparison.Ordinal)
                || name.EndsWith(DeletingSuffix, StringComparison.Ordinal);
            if (ours && leftover)
            {
                Directory.Delete(directory, recursive: true);
                removed.Add(directory);
            }
        }

        return removed;
    }

    /// <summary>Returns the step of a directory named <c>checkpoint-NNNNNN</c>, or null for any other name.</summary>
    public static long? StepOf(string directory)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        return name.StartsWith(Prefix, StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long step)
            ? step
            : null;
    }

    private static void Write(string final, ModelConfig config, ITextTokenizer tokenizer, IEnumerable<NamedTensor> weights, IReadOnlyList<NamedTensor>? moments, TrainerState state)
    {
        string temporary = final + TemporarySuffix;
        try
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }

            Directory.CreateDirectory(temporary);
            AtomicFile.WriteAllText(Path.Combine(temporary, ModelConfig.FileName), config.ToJson());
            TokenizerFile.Save(tokenizer, temporary);
            Safetensors.Save(Path.Combine(temporary, WeightsFile), weights);
            if (moments is not null)
            {
                Safetensors.Save(Path.Combine(temporary, OptimizerFile), moments);
            }

            AtomicFile.WriteAllText(Path.Combine(temporary, TrainerState.FileName), state.ToJson());
            ReplaceDirectory(temporary, final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailed(final, temporary, e);
        }
    }

    private static void CopyDirectory(string source, string destination)
    {
        string temporary = destination + TemporarySuffix;
        try
        {
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw WriteFailed(destination, temporary, e);
        }
    }

    /// <summary>
    /// Renames a finished temporary directory into place, replacing an older one of the same name. When the
    /// second rename fails, the older directory is renamed back, so <paramref name="final"/> is never left missing
    /// by an error (a kill between the renames leaves <c>{final}.old</c>, which <see cref="RemoveLeftovers"/> restores).
    /// </summary>
    private static void ReplaceDirectory(string temporary, string final)
    {
        // NOTE: the renames are not followed by an fsync of the run directory, so after a power failure (not a
        // process kill) the file system may come back with the directory under its temporary name.
        if (!Directory.Exists(final))
        {
            Directory.Move(temporary, final);
            return;
        }

        string old = final + ReplacedSuffix;
        if (Directory.Exists(old))
        {
            Directory.Delete(old, recursive: true);
        }

        Directory.Move(final, old);
        try
        {
            Directory.Move(temporary, final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Directory.Move(old, final);
            throw;
        }

        Directory.Delete(old, recursive: true);
    }

    private static IOException WriteFailed(string final, string temporary, Exception cause)
    {
        string cleanup;
        try
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }

            cleanup = "The partial copy was removed";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            cleanup = $"The partial copy '{temporary}' could not be removed ({e.Message}) and is ignored by --resume";
        }

        return new IOException(
            $"Could not write checkpoint '{final}': {cause.Message} {cleanup}; earlier checkpoints are unchanged. Free disk space or make the directory writable, then continue with --resume.",
            cause);
    }

    private static void RejectNonFinite(IEnumerable<NamedTensor> tensors, long step)
    {
        foreach (var tensor in tensors)
        {
            long index = tensor.IndexOfNonFinite();
            if (index >= 0)
            {
                string value = tensor.Data[index].ToString(CultureInfo.InvariantCulture);
                throw new NonFiniteLossException(
                    $"Training stopped at step {step}: after the optimizer step, '{tensor.Name}' contains {value} at element {index}. No checkpoint was written for this step; earlier checkpoints are unchanged. Lower learning_rate or enable grad_clip in the preset and start a new run.");
            }
        }
    }
}
