// Shape letters: B batch, T new tokens in this call, P past length (tokens in the KV cache),
// S = P + T total length, C hidden size, H attention heads, D head size (C / H),
// I feed-forward intermediate size, V vocabulary size.

using SimpleTransformer.Export.Onnx;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using static SimpleTransformer.Export.Graph.Attributes;
using DataType = SimpleTransformer.Export.Onnx.TensorProto.Types.DataType;

namespace SimpleTransformer.Export.Graph;

/// <summary>
/// Emits the decoder as one graph for the prompt (P = 0) and for every cached decoding step, from standard ONNX
/// operators or, for <see cref="ExportGraph.Optimized"/>, from ONNX Runtime's fused operators where they compute
/// the same thing. The subgraphs live in one method each, spread over the partial files of this class: embedding,
/// layers and head here, the attention mask, attention, rotary embedding, feed-forward and precision casts beside it.
/// </summary>
internal sealed partial class TransformerGraph
{
    /// <summary>Graph input: token ids [B, T], int64.</summary>
    public const string InputIds = "input_ids";

    /// <summary>Graph input: 1 for a real token, 0 for padding, [B, S], int64.</summary>
    public const string AttentionMaskInput = "attention_mask";

    /// <summary>Graph input: position of each new token [B, T], int64.</summary>
    public const string PositionIds = "position_ids";

    /// <summary>Graph output: next-token logits [B, T, V], float32.</summary>
    public const string Logits = "logits";

    private readonly ModelConfig _config;
    private readonly GraphBuilder _graph = new("SimpleTransformer");
    private readonly bool _fused;

    private TransformerGraph(ModelConfig config, ExportOptions options)
    {
        _config = config;
        _fused = options.Graph == ExportGraph.Optimized;
        WeightType = options.Precision == ExportPrecision.Float16 ? DataType.Float16 : DataType.Float;
    }

    /// <summary>
    /// Element type of the weight matrices, embeddings, position tables, the activations between the norms and the
    /// key-value cache. LayerNorm and its parameters, the residual stream, the standard graph's softmax and the logits
    /// output are always float32.
    /// </summary>
    private DataType WeightType { get; }

    /// <summary>Graph input name of layer <paramref name="layer"/>'s cached keys or values ([B, H, P, D]).</summary>
    public static string Past(int layer, string kind) => $"past_key_values.{layer}.{kind}";

    /// <summary>Graph output name of layer <paramref name="layer"/>'s updated keys or values ([B, H, S, D]).</summary>
    public static string Present(int layer, string kind) => $"present.{layer}.{kind}";

    /// <summary>
    /// Builds the graph of <paramref name="config"/> with <paramref name="weights"/> as initializers, in the form
    /// <paramref name="options"/> selects. The weights must already match the configuration
    /// (<see cref="TensorLayout.Check"/>). Returns the graph and the <c>com.microsoft</c> operators it uses, in
    /// order of first use (none for the standard graph).
    /// </summary>
    public static (GraphProto Graph, IReadOnlyList<string> ContribOperators) Build(
        ModelConfig config, IReadOnlyDictionary<string, NamedTensor> weights, ExportOptions options)
    {
        var model = new TransformerGraph(config, options);
        model.DeclareInputs();
        model.AddWeights(weights);

        var inputs = model.InputChecks();
        string x = model.Embedding(inputs.PositionIds);
        var attention = new AttentionContext(model.AttentionMask(inputs), model.RotaryInputs(inputs.PositionIds));
        string normed = config.NormPosition == NormPosition.Pre ? model.PreNormLayers(x, attention) : model.PostNormLayers(x, attention);

        model.Head(normed);
        model.DeclareOutputs();
        return (model._graph.Graph, model._graph.ContribOperators);
    }

    private void DeclareInputs()
    {
        var batch = GraphBuilder.Symbolic("batch_size");
        _graph.Input(InputIds, DataType.Int64, batch, GraphBuilder.Symbolic("sequence_length"));
        _graph.Input(AttentionMaskInput, DataType.Int64, batch, GraphBuilder.Symbolic("total_sequence_length"));
        _graph.Input(PositionIds, DataType.Int64, batch, GraphBuilder.Symbolic("sequence_length"));
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            _graph.Input(Past(layer, "key"), WeightType, CacheShape("past_sequence_length"));
            _graph.Input(Past(layer, "value"), WeightType, CacheShape("past_sequence_length"));
        }
    }

    private void DeclareOutputs()
    {
        var batch = GraphBuilder.Symbolic("batch_size");
        _graph.Output(Logits, DataType.Float, batch, GraphBuilder.Symbolic("sequence_length"), GraphBuilder.Fixed(_config.VocabSize));
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            _graph.Output(Present(layer, "key"), WeightType, CacheShape("total_sequence_length"));
            _graph.Output(Present(layer, "value"), WeightType, CacheShape("total_sequence_length"));
        }
    }

    // [B, H, length, D]
    private TensorShapeProto.Types.Dimension[] CacheShape(string length) =>
    [
        GraphBuilder.Symbolic("batch_size"),
        GraphBuilder.Fixed(_config.NumHeads),
        GraphBuilder.Symbolic(length),
        GraphBuilder.Fixed(_config.HeadSize),
    ];

    // Checkpoint tensors become initializers under their own names and layout, in TensorLayout order. LayerNorm
    // parameters stay float32 because LayerNorm runs in float32 at either precision.
    private void AddWeights(IReadOnlyDictionary<string, NamedTensor> weights)
    {
        foreach (var (name, shape) in TensorLayout.Expected(_config))
        {
            bool isNormParameter = name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("norm.bias", StringComparison.Ordinal);
            _graph.Initializer(name, shape, weights[name].Data, isNormParameter ? DataType.Float : WeightType);
        }
    }

    //    input_ids [B,T] ── Gather(token_embedding.weight) ── [B,T,C] ──┐
    // position_ids [B,T] ── Gather(position table) ──────── [B,T,C] ──┴── Add ── x [B,T,C]
    //
    // The position branch exists for learned and sinusoidal embeddings only; rotary and ALiBi act inside
    // attention. Dropout is the identity at inference and has no node. With float16 weights each gathered row is
    // cast to float32 before the sum, so the residual stream starts in float32. positionIds is position_ids after
    // the input checks.
    private string Embedding(string positionIds)
    {
        string tokens = _graph.Node("/embedding/token/Gather", "Gather", ["token_embedding.weight", InputIds]);
        tokens = ToFloat32("/embedding/token", tokens);
        string? table = _config.PositionEmbedding switch
        {
            PositionEmbedding.Learned => "position_embedding.weight",
            PositionEmbedding.Sinusoidal => _graph.Initializer(
                "position_embedding.sinusoidal_table", [_config.MaxPositions, _config.HiddenSize], PositionTables.Sinusoidal(_config), WeightType),
            _ => null,
        };
        if (table is null)
        {
            return tokens;
        }

        string positions = _graph.Node("/embedding/position/Gather", "Gather", [table, positionIds]);
        positions = ToFloat32("/embedding/position", positions);
        return _graph.Node("/embedding/Add", "Add", [tokens, positions]);
    }

    // Pre-norm (GPT-2), layer i:
    //   x ─┬─ attn_norm ─ attn ─ Add ── x'
    //      └──────────────────────┘
    //   x'─┬─ mlp_norm ── mlp ── Add ── out
    //      └──────────────────────┘
    //
    // Each residual Add is followed by the next LayerNorm (mlp_norm, the next layer's attn_norm, or final_norm),
    // so the loop carries both the residual sum and its normalized form. Returns final_norm's output.
    private string PreNormLayers(string x, AttentionContext attention)
    {
        string normed = LayerNorm("/layers.0/attn_norm", x, TensorLayout.Layer(0, "attn_norm"));
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            string scope = $"/layers.{layer}";
            string attended = Attention(layer, normed, attention);
            (x, normed) = AddAndNorm($"{scope}/attn_residual", x, attended, $"{scope}/mlp_norm", TensorLayout.Layer(layer, "mlp_norm"));

            bool last = layer == _config.NumLayers - 1;
            string normScope = last ? "/final_norm" : $"/layers.{layer + 1}/attn_norm";
            string normPrefix = last ? "final_norm" : TensorLayout.Layer(layer + 1, "attn_norm");
            (x, normed) = AddAndNorm($"{scope}/mlp_residual", x, FeedForward(layer, normed), normScope, normPrefix);
        }

        return normed;
    }

    // Post-norm (original Transformer), layer i:
    //   x ─┬─ attn ─ Add ─ attn_norm ── x'
    //      └────────┘
    //   x'─┬─ mlp ── Add ─ mlp_norm ─── out
    //      └────────┘
    //
    // final_norm follows the stack. Returns its output.
    private string PostNormLayers(string x, AttentionContext attention)
    {
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            string scope = $"/layers.{layer}";
            (_, x) = AddAndNorm($"{scope}/attn_residual", x, Attention(layer, x, attention), $"{scope}/attn_norm", TensorLayout.Layer(layer, "attn_norm"));
            (_, x) = AddAndNorm($"{scope}/mlp_residual", x, FeedForward(layer, x), $"{scope}/mlp_norm", TensorLayout.Layer(layer, "mlp_norm"));
        }

        return LayerNorm("/final_norm", x, "final_norm");
    }

    //   x [B,T,C] ──────┐
    //   branch [B,T,C] ─┴── Add ── sum ── LayerNorm ── normed
    //
    // Inputs and outputs are float32 at either precision.
    // NOTE: SkipLayerNormalization (com.microsoft) computes this pair in one node, but it is slower on ONNX Runtime
    // 1.32.0's CPU provider: 294 µs against 39 µs for Add + LayerNormalization at [1, 128, 384]. So the optimized
    // graph keeps the two nodes; docs/export.md has the measurement.
    private (string Sum, string Normed) AddAndNorm(string residualScope, string x, string branch, string normScope, string tensorPrefix)
    {
        string sum = _graph.Node($"{residualScope}/Add", "Add", [x, branch]);
        return (sum, LayerNorm(normScope, sum, tensorPrefix));
    }

    //   normed [B,T,C] (final_norm's output) ── MatMul ── logits [B,T,V]
    //                                             │
    //   lm_head.weight [V,C] ── Transpose ── [C,V]      (token_embedding.weight when tied)
    //
    // With float16 weights the input is cast to float16, and the product is cast to float32 logits.
    private void Head(string normed)
    {
        string weight = _config.TieWordEmbeddings ? "token_embedding.weight" : "lm_head.weight";
        string transposed = _graph.Node("/lm_head/Transpose", "Transpose", [weight], Ints("perm", 1, 0)); // [V,C] -> [C,V]
        string input = ToWeightType("/lm_head/input", normed);
        if (WeightType == DataType.Float)
        {
            _graph.Node("/lm_head/MatMul", "MatMul", [input, transposed], [Logits]);
            return;
        }

        string product = _graph.Node("/lm_head/MatMul", "MatMul", [input, transposed]);
        _graph.Node("/lm_head/output/Cast", "Cast", [product], [Logits], Int("to", (long)DataType.Float));
    }

    //   x [..,in] ── MatMul ── Add(bias [out]) ── [..,out]
    //                  │
    //   weight [out,in] ── Transpose ── [in,out]     (folded into a constant by ONNX Runtime at load)
    private string Linear(string scope, string x, string tensorPrefix) =>
        _graph.Node($"{scope}/Add", "Add", [MatMulWeight(scope, x, tensorPrefix), tensorPrefix + ".bias"]);

    //   x [..,in] ── MatMul ── [..,out]        the linear layer without its bias, for operators that add it themselves
    //                  │
    //   weight [out,in] ── Transpose ── [in,out]
    private string MatMulWeight(string scope, string x, string tensorPrefix)
    {
        string transposed = _graph.Node($"{scope}/Transpose", "Transpose", [tensorPrefix + ".weight"], Ints("perm", 1, 0)); // [out,in] -> [in,out]
        return _graph.Node($"{scope}/MatMul", "MatMul", [x, transposed]);
    }

    // LayerNorm over the last axis with the checkpoint's weight and bias, in float32.
    private string LayerNorm(string scope, string x, string tensorPrefix) =>
        _graph.Node($"{scope}/LayerNormalization", "LayerNormalization", [x, tensorPrefix + ".weight", tensorPrefix + ".bias"],
            Int("axis", -1), Float("epsilon", (float)_config.LayerNormEps));
}
