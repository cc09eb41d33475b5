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
/// Emits the decoder as standard ONNX operators: one graph for the prompt (P = 0) and for every cached
/// decoding step. The subgraphs live in one method each, spread over the partial files of this class:
/// embedding and layers here, the attention mask, attention, rotary embedding and feed-forward beside it.
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

    private TransformerGraph(ModelConfig config)
    {
        _config = config;
    }

    /// <summary>Graph input name of layer <paramref name="layer"/>'s cached keys or values ([B, H, P, D]).</summary>
    public static string Past(int layer, string kind) => $"past_key_values.{layer}.{kind}";

    /// <summary>Graph output name of layer <paramref name="layer"/>'s updated keys or values ([B, H, S, D]).</summary>
    public static string Present(int layer, string kind) => $"present.{layer}.{kind}";

    /// <summary>
    /// Builds the graph of <paramref name="config"/> with <paramref name="weights"/> as initializers. The
    /// weights must already match the configuration (<see cref="TensorLayout.Check"/>).
    /// </summary>
    public static GraphProto Build(ModelConfig config, IReadOnlyDictionary<string, NamedTensor> weights)
    {
        var model = new TransformerGraph(config);
        model.DeclareInputs();
        model.AddWeights(weights);

        string x = model.Embedding();
        var attention = new AttentionContext(model.AttentionMask(), model.RotaryTables());
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            x = model.Layer(layer, x, attention);
        }

        model.Head(x);
        model.DeclareOutputs();
        return model._graph.Graph;
    }

    private void DeclareInputs()
    {
        var batch = GraphBuilder.Symbolic("batch_size");
        _graph.Input(InputIds, DataType.Int64, batch, GraphBuilder.Symbolic("sequence_length"));
        _graph.Input(AttentionMaskInput, DataType.Int64, batch, GraphBuilder.Symbolic("total_sequence_length"));
        _graph.Input(PositionIds, DataType.Int64, batch, GraphBuilder.Symbolic("sequence_length"));
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            _graph.Input(Past(layer, "key"), DataType.Float, CacheShape("past_sequence_length"));
            _graph.Input(Past(layer, "value"), DataType.Float, CacheShape("past_sequence_length"));
        }
    }

    private void DeclareOutputs()
    {
        var batch = GraphBuilder.Symbolic("batch_size");
        _graph.Output(Logits, DataType.Float, batch, GraphBuilder.Symbolic("sequence_length"), GraphBuilder.Fixed(_config.VocabSize));
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            _graph.Output(Present(layer, "key"), DataType.Float, CacheShape("total_sequence_length"));
            _graph.Output(Present(layer, "value"), DataType.Float, CacheShape("total_sequence_length"));
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

    // Checkpoint tensors become initializers under their own names and layout, in TensorLayout order.
    private void AddWeights(IReadOnlyDictionary<string, NamedTensor> weights)
    {
        foreach (var (name, shape) in TensorLayout.Expected(_config))
        {
            _graph.Initializer(name, shape, weights[name].Data);
        }
    }

    //    input_ids [B,T] ── Gather(token_embedding.weight) ── [B,T,C] ──┐
    // position_ids [B,T] ── Gather(position table) ──────── [B,T,C] ──┴── Add ── x [B,T,C]
    //
    // The position branch exists for learned and sinusoidal embeddings only; rotary and ALiBi act inside
    // attention. Dropout is the identity at inference and has no node.
    private string Embedding()
    {
        string tokens = _graph.Node("/embedding/token/Gather", "Gather", ["token_embedding.weight", InputIds]);
        string? table = _config.PositionEmbedding switch
        {
            PositionEmbedding.Learned => "position_embedding.weight",
            PositionEmbedding.Sinusoidal => _graph.Initializer(
                "position_embedding.sinusoidal_table", [_config.MaxPositions, _config.HiddenSize], PositionTables.Sinusoidal(_config)),
            _ => null,
        };
        if (table is null)
        {
            return tokens;
        }

        string positions = _graph.Node("/embedding/position/Gather", "Gather", [table, PositionIds]);
        return _graph.Node("/embedding/Add", "Add", [tokens, positions]);
    }

    // Pre-norm (GPT-2):                         Post-norm (original Transformer):
    //   x ─┬─ attn_norm ─ attn ─ Add ── x'        x ─┬─ attn ─ Add ─ attn_norm ── x'
    //      └──────────────────────┘                  └────────┘
    //   x'─┬─ mlp_norm ── mlp ── Add ── out       x'─┬─ mlp ── Add ─ mlp_norm ─── out
    //      └──────────────────────┘                  └────────┘
    private string Layer(int layer, string x, AttentionContext attention)
    {
        string scope = $"/layers.{layer}";
        if (_config.NormPosition == NormPosition.Pre)
        {
            string normed = LayerNorm($"{scope}/attn_norm", x, TensorLayout.Layer(layer, "attn_norm"));
            x = _graph.Node($"{scope}/attn_residual/Add", "Add", [x, Attention(layer, normed, attention)]);

            normed = LayerNorm($"{scope}/mlp_norm", x, TensorLayout.Layer(layer, "mlp_norm"));
            return _graph.Node($"{scope}/mlp_residual/Add", "Add", [x, FeedForward(layer, normed)]);
        }

        string sum = _graph.Node($"{scope}/attn_residual/Add", "Add", [x, Attention(layer, x, attention)]);
        x = LayerNorm($"{scope}/attn_norm", sum, TensorLayout.Layer(layer, "attn_norm"));

        sum = _graph.Node($"{scope}/mlp_residual/Add", "Add", [x, FeedForward(layer, x)]);
        return LayerNorm($"{scope}/mlp_norm", sum, TensorLayout.Layer(layer, "mlp_norm"));
    }

    //   x [B,T,C] ── final_norm ── MatMul ── logits [B,T,V]
    //                                │
    //   lm_head.weight [V,C] ── Transpose ── [C,V]      (token_embedding.weight when tied)
    private void Head(string x)
    {
        string normed = LayerNorm("/final_norm", x, "final_norm");
        string weight = _config.TieWordEmbeddings ? "token_embedding.weight" : "lm_head.weight";
        string transposed = _graph.Node("/lm_head/Transpose", "Transpose", [weight], Ints("perm", 1, 0)); // [V,C] -> [C,V]
        _graph.Node("/lm_head/MatMul", "MatMul", [normed, transposed], [Logits]);
    }

    //   x [..,in] ── MatMul ── Add(bias [out]) ── [..,out]
    //                  │
    //   weight [out,in] ── Transpose ── [in,out]     (folded into a constant by ONNX Runtime at load)
    private string Linear(string scope, string x, string tensorPrefix)
    {
        string transposed = _graph.Node($"{scope}/Transpose", "Transpose", [tensorPrefix + ".weight"], Ints("perm", 1, 0)); // [out,in] -> [in,out]
        string product = _graph.Node($"{scope}/MatMul", "MatMul", [x, transposed]);
        return _graph.Node($"{scope}/Add", "Add", [product, tensorPrefix + ".bias"]);
    }

    // LayerNorm over the last axis with the checkpoint's weight and bias.
    private string LayerNorm(string scope, string x, string tensorPrefix) =>
        _graph.Node($"{scope}/LayerNormalization", "LayerNormalization", [x, tensorPrefix + ".weight", tensorPrefix + ".bias"],
            Int("axis", -1), Float("epsilon", (float)_config.LayerNormEps));
}
