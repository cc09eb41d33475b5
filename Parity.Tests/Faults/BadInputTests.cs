using System.Text.Json.Nodes;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>Bad corpora, presets and options are rejected before any training step, with the value and the fix.</summary>
[TestClass]
public sealed class BadInputTests
{
    /// <summary>A corpus text, a preset edit, the expected exception type and the message fragments.</summary>
    private sealed record BadInput(string Name, Action<string> WriteCorpus, Action<JsonObject, JsonObject> EditPreset, Type Expected, params string[] Fragments);

    private static readonly BadInput[] Cases =
    [
        Corpus("empty corpus", "", typeof(InvalidDataException), "is empty", "corpus.txt"),
        Corpus("whitespace-only corpus", "  \n\n \t\n", typeof(InvalidDataException), "is empty"),
        Corpus("9 documents", string.Join("\n\n", Enumerable.Repeat("a document", 9)), typeof(InvalidDataException), "has 9 documents", "at least 10"),
        Corpus("corpus shorter than one sequence", string.Join("\n\n", Enumerable.Repeat("a", 12)), typeof(InvalidDataException), "fewer than one sequence", "sequence_length + 1 = 33"),
        new("corpus not UTF-8", path => File.WriteAllBytes(path, [.. Enumerable.Repeat((byte)'a', 100), 0xC3, 0x28, .. Enumerable.Repeat((byte)'b', 100)]),
            (_, _) => { }, typeof(InvalidDataException), "not valid UTF-8"),
        new("corpus missing", path => File.Delete(path), (_, _) => { }, typeof(FileNotFoundException), "Corpus not found", "corpus.txt"),
        Training("sequence_length above context", "sequence_length", 64, typeof(ArgumentException), "'sequence_length' is 64", "max_position_embeddings (32)"),
        Training("negative learning rate", "learning_rate", -0.001, typeof(ArgumentException), "'learning_rate' is -0.001"),
        Training("learning rate beyond fp32", "learning_rate", 1e300, typeof(ArgumentException), "'learning_rate' is 1E+300", "fp32"),
        Training("zero batch size", "batch_size", 0, typeof(ArgumentException), "'batch_size' is 0", "positive integer"),
        Training("zero max_steps", "max_steps", 0, typeof(ArgumentException), "'max_steps' is 0"),
        Training("negative warmup", "warmup_steps", -5, typeof(ArgumentException), "'warmup_steps' is -5"),
        Training("beta1 of 1", "beta1", 1.0, typeof(ArgumentException), "'beta1' is 1", "[0, 1)"),
        Training("negative grad_clip", "grad_clip", -1.0, typeof(ArgumentException), "'grad_clip' is -1"),
        Training("zero accumulation", "gradient_accumulation_steps", 0, typeof(ArgumentException), "'gradient_accumulation_steps' is 0"),
        Training("zero keep_last", "keep_last", 0, typeof(ArgumentException), "'keep_last' is 0"),
        Training("zero checkpoint_interval", "checkpoint_interval", 0, typeof(ArgumentException), "'checkpoint_interval' is 0"),
        Training("batch_size as string", "batch_size", "16", typeof(InvalidDataException), "preset.json", "batch_size"),
        Training("misspelt training key", "learning_rat", 0.001, typeof(InvalidDataException), "learning_rat"),
        Training("training enum as number", "data_mode", 1, typeof(InvalidDataException), "data_mode", "\"windows\""),
        Model("heads not dividing hidden", "num_attention_heads", 3, typeof(InvalidModelConfigException), "'num_attention_heads' is 3", "divisor of hidden_size (32)"),
        Model("misspelt model key", "hidden_sise", 32, typeof(InvalidModelConfigException), "hidden_sise"),
        Model("enum as number", "position_embedding", 1, typeof(InvalidModelConfigException), "position_embedding", "\"learned\""),
        Model("unknown activation", "hidden_act", "swish", typeof(InvalidModelConfigException), "swish", "\"gelu\""),
        Model("two activations", "hidden_act", "gelu, relu", typeof(InvalidModelConfigException), "gelu, relu"),
        Model("zero layers", "num_hidden_layers", 0, typeof(InvalidModelConfigException), "'num_hidden_layers' is 0"),
        Model("dropout of 1", "hidden_dropout", 1.0, typeof(InvalidModelConfigException), "'hidden_dropout' is 1"),
        Model("table too large for one array", "max_position_embeddings", int.MaxValue, typeof(InvalidModelConfigException), "max_position_embeddings × hidden_size"),
        new("missing model key", WriteGoodCorpus, (model, _) => model.Remove("intermediate_size"), typeof(InvalidModelConfigException), "intermediate_size"),
    ];

    public static IEnumerable<object[]> CaseNames => Cases.Select(c => new object[] { c.Name });

    [TestMethod]
    [DynamicData(nameof(CaseNames))]
    public void BadInput_IsRejectedBeforeTraining(string name)
    {
        var input = Cases.Single(c => c.Name == name);
        using var scratch = new ScratchDirectory("bad-input");
        var (preset, corpus, run) = Write(scratch, input);

        var error = Assert.Throws<Exception>(() =>
            Trainer.Run(new TrainRequest { RunDirectory = run, CorpusPath = corpus, Preset = Preset.Load(preset) }, _ => { }));

        Assert.IsInstanceOfType(error, input.Expected, $"{error.GetType().Name}: {error.Message}");
        foreach (string fragment in input.Fragments)
        {
            StringAssert.Contains(error.Message, fragment);
        }

        Assert.IsFalse(Directory.Exists(run), "nothing is written");
    }

    [TestMethod]
    [DataRow("empty corpus")]
    [DataRow("corpus not UTF-8")]
    [DataRow("sequence_length above context")]
    [DataRow("misspelt model key")]
    [DataRow("batch_size as string")]
    [DataRow("learning rate beyond fp32")]
    public void BadInput_ThroughCommandLine_PrintsOneErrorLine(string name)
    {
        var input = Cases.Single(c => c.Name == name);
        using var scratch = new ScratchDirectory("bad-input-cli");
        var (preset, corpus, run) = Write(scratch, input);

        var (exitCode, output, error) = TrainingProcess.RunTrain(TimeSpan.FromSeconds(60), "--preset", preset, "--corpus", corpus, "--output", run);

        Assert.AreEqual(1, exitCode);
        Assert.HasCount(1, error, $"one error line, no stack trace: {string.Join("\n", error)}");
        StringAssert.StartsWith(error[0], "error: ");
        foreach (string fragment in input.Fragments)
        {
            StringAssert.Contains(error[0], fragment);
        }

        Assert.IsFalse(output.Any(l => l.StartsWith("step ", StringComparison.Ordinal)), "no step ran");
        Assert.IsFalse(Directory.Exists(run), "nothing is written");
    }

    private static (string Preset, string Corpus, string Run) Write(ScratchDirectory scratch, BadInput input)
    {
        string corpus = Path.Combine(scratch.Path, "corpus.txt");
        input.WriteCorpus(corpus);
        var model = FaultFixtures.TinyModel();
        var training = FaultFixtures.TinyTraining(4);
        input.EditPreset(model, training);
        string preset = FaultFixtures.WritePreset(scratch.Path, model, training);
        return (preset, corpus, Path.Combine(scratch.Path, "run"));
    }

    private static void WriteGoodCorpus(string path) => File.Copy(FaultFixtures.WriteCorpus(Path.GetDirectoryName(path)!, "source.txt"), path);

    private static BadInput Corpus(string name, string text, Type expected, params string[] fragments) =>
        new(name, path => File.WriteAllText(path, text), (_, _) => { }, expected, fragments);

    private static BadInput Training(string name, string key, JsonNode value, Type expected, params string[] fragments) =>
        new(name, WriteGoodCorpus, (_, training) => training[key] = value.DeepClone(), expected, fragments);

    private static BadInput Model(string name, string key, JsonNode value, Type expected, params string[] fragments) =>
        new(name, WriteGoodCorpus, (model, _) => model[key] = value.DeepClone(), expected, fragments);
}
