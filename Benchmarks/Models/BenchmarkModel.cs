using SimpleTransformer.Export;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Checkpoints;
using static TorchSharp.torch;
using TorchModel = SimpleTransformer.Training.Model.SimpleTransformer;

namespace SimpleTransformer.Benchmarks.Models;

/// <summary>
/// One set of seeded random weights in every form the benchmark compares: the TorchSharp model, its checkpoint
/// directory (read by the PyTorch script) and ONNX exports with the standard and the fused-operator graph.
/// </summary>
public sealed class BenchmarkModel : IDisposable
{
    /// <summary>Printable ASCII and the newline: 96 characters, so the vocabulary has 99 ids with the 3 special tokens.</summary>
    public const string Alphabet = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\n";

    private BenchmarkModel(ModelConfig config, CharTokenizer tokenizer, TorchModel torch, string checkpoint, string standard, string optimized)
    {
        Config = config;
        Tokenizer = tokenizer;
        Torch = torch;
        CheckpointDirectory = checkpoint;
        StandardDirectory = standard;
        OptimizedDirectory = optimized;
    }

    /// <summary>The model configuration.</summary>
    public ModelConfig Config { get; }

    /// <summary>The character tokenizer over <see cref="Alphabet"/>.</summary>
    public CharTokenizer Tokenizer { get; }

    /// <summary>The TorchSharp model in eval mode.</summary>
    public TorchModel Torch { get; }

    /// <summary>The checkpoint directory: <c>config.json</c>, <c>model.safetensors</c>, <c>tokenizer.json</c>, <c>trainer_state.json</c>.</summary>
    public string CheckpointDirectory { get; }

    /// <summary>The ONNX export of standard opset-17 operators.</summary>
    public string StandardDirectory { get; }

    /// <summary>The ONNX export of ONNX Runtime's fused operators.</summary>
    public string OptimizedDirectory { get; }

    /// <summary>Returns the quick preset's model section with <paramref name="context"/> positions, or a tiny shape when <paramref name="presetShape"/> is false.</summary>
    public static ModelConfig ConfigFor(string repositoryRoot, bool presetShape, int context, int vocabSize)
    {
        if (!presetShape)
        {
            return new ModelConfig { VocabSize = vocabSize, HiddenSize = 32, NumLayers = 2, NumHeads = 4, IntermediateSize = 64, MaxPositions = context, TieWordEmbeddings = true }.Validate();
        }

        var preset = Preset.Load(Path.Combine(repositoryRoot, "models", "quick.json"));
        return (preset.ModelConfigFor(vocabSize) with { MaxPositions = context }).Validate();
    }

    /// <summary>
    /// Creates a TorchSharp model of <paramref name="config"/> with the training initialisation under
    /// <paramref name="seed"/>, saves it as a checkpoint under <paramref name="root"/> and exports both graph kinds.
    /// </summary>
    public static BenchmarkModel Create(ModelConfig config, string root, int seed)
    {
        var tokenizer = CharTokenizer.FromText(Alphabet);
        if (tokenizer.VocabSize != config.VocabSize)
        {
            throw new ArgumentException($"The configuration has vocab_size {config.VocabSize} but the benchmark tokenizer has {tokenizer.VocabSize} ids. Build the configuration with ConfigFor.", nameof(config));
        }

        manual_seed(seed);
        var torch = new TorchModel(config);
        torch.eval();

        string checkpoint = Path.Combine(root, "checkpoint");
        var state = new TrainerState { Corpus = "(none: seeded random weights)", Training = new TrainingOptions() };
        CheckpointStore.WriteDirectory(checkpoint, config, tokenizer, ModelWeights.ToNamedTensors(torch), optimizer: null, state);

        string standard = Path.Combine(root, "onnx-standard");
        string optimized = Path.Combine(root, "onnx-optimized");
        OnnxExporter.ExportDirectory(checkpoint, standard, ExportOptions.Default);
        OnnxExporter.ExportDirectory(checkpoint, optimized, new ExportOptions { Graph = ExportGraph.Optimized });
        return new BenchmarkModel(config, tokenizer, torch, checkpoint, standard, optimized);
    }

    /// <summary>
    /// Parameters that take part in a matrix product for each token: every tensor except the position embedding table
    /// (a lookup) and, for untied embeddings, the token embedding table (also a lookup, while the separate <c>lm_head</c> counts).
    /// </summary>
    public static long MatmulParameters(ModelConfig config) =>
        TensorLayout.Expected(config)
            .Where(t => t.Name != "position_embedding.weight" && (config.TieWordEmbeddings || t.Name != "token_embedding.weight"))
            .Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Builds <paramref name="batch"/> prompts of <paramref name="length"/> characters of <see cref="Alphabet"/> (no newline), the same for the same seed.</summary>
    public PromptSet Prompts(int batch, int length, int seed)
    {
        var random = new Random(seed);
        var texts = new string[batch];
        for (int row = 0; row < batch; row++)
        {
            texts[row] = new string([.. Enumerable.Range(0, length).Select(_ => Alphabet[random.Next(Alphabet.Length - 1)])]);
        }

        return new PromptSet(texts, [.. texts.Select(Tokenizer.Encode)]);
    }

    /// <inheritdoc/>
    public void Dispose() => Torch.Dispose();
}

/// <summary>The same prompts as text (for the inference library) and as token ids (for the other runtimes).</summary>
/// <param name="Texts">One prompt per sequence.</param>
/// <param name="Ids">The token ids of each prompt.</param>
public sealed record PromptSet(string[] Texts, int[][] Ids)
{
    /// <summary>B, the number of sequences.</summary>
    public int Batch => Texts.Length;
}
