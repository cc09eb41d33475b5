using SimpleTransformer.Export;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training.Checkpoints;
using SimpleTransformer.Parity.Tests.Export;
using TransformerModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Parity.Tests.Parity;

/// <summary>Seeded TorchSharp models and their checkpoint and ONNX directories.</summary>
internal static class TorchModels
{
    /// <summary>
    /// Builds a model in eval mode holding the seeded weights of <see cref="ExportFixtures.RandomWeights"/>: of order 1,
    /// unlike the 0.02-scale training initialisation, so logits are spread out and greedy choices are far from ties.
    /// </summary>
    public static TransformerModel Create(ModelConfig config, int seed)
    {
        var model = new TransformerModel(config);
        ModelWeights.Load(model, ExportFixtures.RandomWeights(config, seed), $"random weights (seed {seed})");
        model.eval();
        return model;
    }

    /// <summary>Writes config, weights and a character tokenizer of the right size as a checkpoint directory.</summary>
    public static string SaveCheckpoint(TransformerModel model, string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, ModelConfig.FileName), model.Config.ToJson());
        Safetensors.Save(Path.Combine(directory, CheckpointStore.WeightsFile), ModelWeights.ToNamedTensors(model));
        string characters = new([.. Enumerable.Range(0, model.Config.VocabSize - 3).Select(i => (char)('!' + i))]);
        TokenizerFile.Save(CharTokenizer.FromText(characters), directory);
        return directory;
    }

    /// <summary>Saves <paramref name="model"/> as a checkpoint under <paramref name="root"/> and exports it; returns the model directory.</summary>
    public static string Export(TransformerModel model, string root, ExportOptions? options = null)
    {
        string checkpoint = SaveCheckpoint(model, Path.Combine(root, "checkpoint"));
        string output = Path.Combine(root, "onnx");
        OnnxExporter.ExportDirectory(checkpoint, output, options ?? ExportOptions.Default);
        return output;
    }
}
