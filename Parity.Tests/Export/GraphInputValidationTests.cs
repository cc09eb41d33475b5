// Shape letters: B batch, T new tokens, P past length, S = P + T, H heads, D head size.

using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SimpleTransformer.Export;
using SimpleTransformer.Inference.Models;

namespace SimpleTransformer.Parity.Tests.Export;

/// <summary>
/// Feeds wrong inputs straight to exported graphs in ONNX Runtime and checks that each one fails with an error that
/// names the check, instead of computing logits from inputs that do not fit together.
/// </summary>
[TestClass]
public sealed class GraphInputValidationTests
{
    private const string MaskGuard = "/guards/attention_mask_length_is_past_plus_new";
    private const string ContextGuard = "/guards/sequence_within_context";
    private const string PositionGuard = "/guards/position_ids_within_context";

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> CheckedVariantGraphs =>
        from variant in new[] { "learned-pre-gelu", "sinusoidal-pre-gelu", "rotary-pre-relu-window", "alibi-post-gelu-tied" }
        from graph in Enum.GetValues<ExportGraph>()
        select new object[] { variant, graph };

    [TestMethod]
    [DynamicData(nameof(CheckedVariantGraphs))]
    public void WrongInput_Run_ThrowsNamingCheck(string variant, ExportGraph graph)
    {
        var config = ExportFixtures.Variants[variant];
        int context = config.MaxPositions;
        using var scratch = new ScratchDirectory("input-checks");
        using var session = OpenSession(ExportFixtures.Export(scratch, config, graph: graph));

        // (case, inputs, text the error must contain). The text is a guard node's name where the graph checks the input.
        // ONNX Runtime itself rejects a wrong fixed dimension (H, D) or element type at the graph input, and a past
        // value whose length differs from the past key's in the layer's attention (MatMul or MultiHeadAttention).
        var cases = new (string Case, GraphInputs Inputs, string Expected)[]
        {
            ("mask of length 1 for a 5-token prompt", new GraphInputs(config, past: 0, tokens: 5) { MaskLength = 1 }, MaskGuard),
            ("mask of length 1 for a step after 3 cached tokens", new GraphInputs(config, past: 3, tokens: 1) { MaskLength = 1 }, MaskGuard),
            ("mask one short for a 5-token prompt", new GraphInputs(config, past: 0, tokens: 5) { MaskLength = 4 }, MaskGuard),
            ("mask one long for a step after 3 cached tokens", new GraphInputs(config, past: 3, tokens: 1) { MaskLength = 5 }, MaskGuard),
            ("mask that leaves out the cache", new GraphInputs(config, past: 3, tokens: 2) { MaskLength = 2 }, MaskGuard),
            ("past with 3 heads instead of 2", new GraphInputs(config, past: 3, tokens: 1) { CacheHeads = config.NumHeads + 1 }, "past_key_values.0.key"),
            ("past with head size 4 instead of 8", new GraphInputs(config, past: 3, tokens: 1) { CacheHeadSize = config.HeadSize / 2 }, "past_key_values.0.key"),
            ("past value one shorter than past key", new GraphInputs(config, past: 3, tokens: 1) { ValueLength = 2 }, "/layers.0/attn/"),
            ("float16 past for a float32 graph", new GraphInputs(config, past: 3, tokens: 1) { Float16Cache = true }, "Unexpected input data type. Actual: (tensor(float16)) , expected: (tensor(float))"),
            ($"{context + 1} tokens in all with valid position_ids", new GraphInputs(config, past: context - 4, tokens: 5) { FirstPosition = context - 5 }, ContextGuard),
            ($"position_ids {context} and {context + 1}", new GraphInputs(config, past: 0, tokens: 2) { FirstPosition = context }, PositionGuard),
        };

        Run(session, new GraphInputs(config, past: 3, tokens: 2));
        Run(session, new GraphInputs(config, past: context - 5, tokens: 5));

        var outcomes = cases.Select(c => (c.Case, c.Expected, Error: Outcome(session, c.Inputs))).ToList();
        foreach (var (name, _, error) in outcomes)
        {
            TestContext.WriteLine($"{variant} {graph}, {name}: {error ?? "ran without an error"}");
        }

        foreach (var (name, expected, error) in outcomes)
        {
            Assert.IsNotNull(error, $"{variant} {graph}, {name}: ONNX Runtime ran the graph without an error");
            Assert.Contains(expected, error, $"{variant} {graph}, {name}: the error names the failed check");
        }
    }

    private static InferenceSession OpenSession(string modelDirectory)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        return new InferenceSession(Path.Combine(modelDirectory, "model.onnx"), options);
    }

    // Returns the message of the OnnxRuntimeException the run throws, or null when it runs.
    private static string? Outcome(InferenceSession session, GraphInputs inputs)
    {
        try
        {
            Run(session, inputs);
            return null;
        }
        catch (OnnxRuntimeException error)
        {
            return error.Message;
        }
    }

    private static void Run(InferenceSession session, GraphInputs inputs)
    {
        var values = inputs.Create();
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, values, session.OutputNames);
        }
        finally
        {
            foreach (var value in values.Values)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>
    /// One call's inputs for batch size 1, valid unless a property changes them: T tokens after P cached ones,
    /// attention_mask of ones [1, S], position_ids P..S-1, and a cache [1, H, P, D] of zeros for every layer.
    /// </summary>
    private sealed class GraphInputs(ModelConfig config, int past, int tokens)
    {
        public int MaskLength { get; init; } = past + tokens;

        public int CacheHeads { get; init; } = config.NumHeads;

        public int CacheHeadSize { get; init; } = config.HeadSize;

        /// <summary>Past length of every layer's value cache; the key cache has length P.</summary>
        public int ValueLength { get; init; } = past;

        public bool Float16Cache { get; init; }

        public int FirstPosition { get; init; } = past;

        public Dictionary<string, OrtValue> Create()
        {
            var values = new Dictionary<string, OrtValue>(StringComparer.Ordinal)
            {
                ["input_ids"] = Int64s(Enumerable.Repeat(3L, tokens), tokens),
                ["attention_mask"] = Int64s(Enumerable.Repeat(1L, MaskLength), MaskLength),
                ["position_ids"] = Int64s(Enumerable.Range(FirstPosition, tokens).Select(p => (long)p), tokens),
            };
            for (int layer = 0; layer < config.NumLayers; layer++)
            {
                values[$"past_key_values.{layer}.key"] = Cache(past);
                values[$"past_key_values.{layer}.value"] = Cache(ValueLength);
            }

            return values;
        }

        private static OrtValue Int64s(IEnumerable<long> data, int length) =>
            OrtValue.CreateTensorValueFromMemory(data.ToArray(), [1, length]);

        private OrtValue Cache(int length)
        {
            long[] shape = [1, CacheHeads, length, CacheHeadSize];
            int count = CacheHeads * length * CacheHeadSize;
            return Float16Cache
                ? OrtValue.CreateTensorValueFromMemory(new Float16[count], shape)
                : OrtValue.CreateTensorValueFromMemory(new float[count], shape);
        }
    }
}
