using System.Text.Json.Nodes;
using SimpleTransformer.Export;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Export;

namespace SimpleTransformer.Parity.Tests.GenAI;

/// <summary>
/// Loads exported model directories with ONNX Runtime GenAI 0.20.0 through their <c>genai_config.json</c> and checks
/// that GenAI's greedy search, fed the same token ids, picks the same tokens as a plain greedy loop over the same
/// graph in ONNX Runtime. No Hugging Face tokenizer is involved: token ids go in through GenAI's
/// <c>Generator.AppendTokens</c>. GenAI runs in a child process (<see cref="GenAiProcess"/>).
/// </summary>
[TestClass]
public sealed class GenAiGenerationTests
{
    private const int NewTokens = 40;

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> VariantNames => ExportFixtures.VariantNames;

    [TestMethod]
    [DynamicData(nameof(VariantNames))]
    public void GenAi_Variant_GreedyMatchesOnnxRuntimeLoop(string variant)
    {
        // 64 tokens instead of 11 keep most greedy sequences from settling on one token at once.
        var config = (ExportFixtures.Variants[variant] with { VocabSize = 64, MaxPositions = 64 }).Validate();
        using var scratch = new ScratchDirectory("genai");
        long[] prompt = [5, 9, 12, 7];
        var cases = Enum.GetValues<ExportGraph>()
            .SelectMany(graph => Enum.GetValues<ExportPrecision>().Select(precision => (Graph: graph, Precision: precision)))
            .Select(c => (c.Graph, c.Precision, Directory: ExportFixtures.Export(scratch, config, $"{c.Graph}-{c.Precision}", graph: c.Graph, precision: c.Precision)))
            .ToList();

        var results = GenAiProcess.Run(scratch.Path, [.. cases.Select(c => new GenAiRequest(c.Directory, [prompt], NewTokens))]);

        for (int i = 0; i < cases.Count; i++)
        {
            string name = $"{variant} {cases[i].Graph} {cases[i].Precision}";
            int[] expected = OnnxGreedy(cases[i].Directory, [prompt], NewTokens)[0];
            int[] actual = UpToEndOfSequence(results[i].Generated[0]);
            Assert.AreEqual("decoder", results[i].ModelType, name);
            CollectionAssert.AreEqual(expected, actual, $"{name}: GenAI {string.Join(",", actual)}; ONNX Runtime loop {string.Join(",", expected)}");
            TestContext.WriteLine($"{name}: GenAI and the ONNX Runtime loop agree on {actual.Length} tokens: {string.Join(",", actual)}");
        }
    }

    [TestMethod]
    public void GenAi_EqualLengthBatch_MatchesSingleRuns()
    {
        var config = (ExportFixtures.Variants["rotary-pre-relu-window"] with { VocabSize = 64, MaxPositions = 64 }).Validate();
        using var scratch = new ScratchDirectory("genai-batch");
        long[][] prompts = [[5, 9, 12, 7, 30], [40, 3, 3, 17, 8]];
        string[] directories = [.. Enum.GetValues<ExportGraph>().Select(graph => ExportFixtures.Export(scratch, config, graph.ToString(), graph: graph))];

        var results = GenAiProcess.Run(scratch.Path, [.. directories.Select(d => new GenAiRequest(d, prompts, NewTokens))]);

        for (int i = 0; i < directories.Length; i++)
        {
            for (int row = 0; row < prompts.Length; row++)
            {
                int[] alone = OnnxGreedy(directories[i], [prompts[row]], NewTokens)[0];
                int[] batch = UpToEndOfSequence(results[i].Generated[row]);
                CollectionAssert.AreEqual(alone, batch,
                    $"{Path.GetFileName(directories[i])} row {row}: GenAI batch {string.Join(",", batch)}; single ONNX Runtime loop {string.Join(",", alone)}");
            }
        }
    }

    [TestMethod]
    public void GenAi_NoTokenizerFiles_GeneratesFromIds()
    {
        using var scratch = new ScratchDirectory("genai-tokenizer");
        string directory = ExportFixtures.Export(scratch, ExportFixtures.Small);

        var result = GenAiProcess.Run(scratch.Path, new GenAiRequest(directory, [[3, 4, 5]], 4))[0];

        Assert.HasCount(4, result.Generated[0], "GenAI generates from token ids without any tokenizer file it can read");
        Assert.IsNotNull(result.TokenizerError, "GenAI's Tokenizer needs Hugging Face tokenizer files, which the export does not write");
        StringAssert.Contains(result.TokenizerError, "tokenizer_config.json");
        TestContext.WriteLine($"GenAI Tokenizer on an exported directory: {result.TokenizerError}");
    }

    [TestMethod]
    public void GenAiConfig_Export_DescribesGraphAndTokenizer()
    {
        var config = ExportFixtures.Variants["alibi-pre-relu-3heads"];
        using var scratch = new ScratchDirectory("genai-config");
        string directory = ExportFixtures.Export(scratch, config);
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, GenAiConfig.FileName)))!;
        var model = root["model"]!;
        var decoder = model["decoder"]!;

        Assert.AreEqual("decoder", (string?)model["type"]);
        Assert.AreEqual(config.MaxPositions, (int)model["context_length"]!);
        Assert.AreEqual(config.VocabSize, (int)model["vocab_size"]!);
        Assert.AreEqual(CharTokenizer.EndOfSequence, (int)model["eos_token_id"]!);
        Assert.AreEqual(CharTokenizer.Pad, (int)model["pad_token_id"]!);
        Assert.AreEqual("model.onnx", (string?)decoder["filename"]);
        Assert.AreEqual(config.HeadSize, (int)decoder["head_size"]!);
        Assert.AreEqual(config.NumHeads, (int)decoder["num_key_value_heads"]!);
        Assert.AreEqual(config.NumLayers, (int)decoder["num_hidden_layers"]!);
        Assert.AreEqual("past_key_values.%d.key", (string?)decoder["inputs"]!["past_key_names"]);
        Assert.AreEqual("present.%d.value", (string?)decoder["outputs"]!["present_value_names"]);
        Assert.IsFalse((bool)root["search"]!["past_present_share_buffer"]!, "the graph returns present = past ++ new, not a shared buffer");
    }

    // The project's greedy loop over the same graph: argmax of the last logits, one cached step per token, stopping a
    // row after end of sequence as GenAI does.
    private static int[][] OnnxGreedy(string directory, long[][] prompts, int newTokens)
    {
        using var runner = new OnnxModelRunner(directory);
        var result = prompts.Select(_ => new List<int>()).ToArray();
        var step = runner.RunFull(prompts);
        int length = prompts[0].Length;
        for (int i = 0; i < newTokens; i++)
        {
            var next = new long[prompts.Length][];
            for (int row = 0; row < prompts.Length; row++)
            {
                float[] last = step.LogitsAt(row, (int)step.LogitsShape[1] - 1);
                int token = Array.IndexOf(last, last.Max());
                result[row].Add(token);
                next[row] = [token];
            }

            if (i + 1 < newTokens)
            {
                step = runner.Run(next, OnnxModelRunner.Ones(prompts.Length, length + 1), [.. prompts.Select(_ => new long[] { length })], step.Present);
                length++;
            }
        }

        return [.. result.Select(tokens => UpToEndOfSequence([.. tokens]))];
    }

    // The tokens up to and including the first end of sequence. GenAI fills a finished row with further tokens until
    // the whole batch is done, so only the part up to the first one is compared.
    private static int[] UpToEndOfSequence(int[] tokens)
    {
        int end = Array.IndexOf(tokens, CharTokenizer.EndOfSequence);
        return end < 0 ? tokens : tokens[..(end + 1)];
    }
}
