// Dimension letters: B batch, T new tokens, P past length, S = P + T, C hidden, H heads, D head size,
// V vocabulary.
using SimpleTransformer.Inference.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Model;

/// <summary>
/// A GPT-style decoder-only language model: token embedding, positional information (learned, sinusoidal,
/// rotary or ALiBi), a stack of <see cref="TransformerLayer"/>s, a final LayerNorm and a projection to the
/// vocabulary, optionally tied to the token embedding. Parameter names equal the checkpoint tensor names
/// listed by <see cref="TensorLayout.Expected"/>.
/// </summary>
public sealed class SimpleTransformer : nn.Module
{
    private readonly Embedding token_embedding;
    private readonly Embedding? position_embedding;
    private readonly ModuleList<TransformerLayer> layers;
    private readonly LayerNorm final_norm;
    private readonly Linear? lm_head;
    private readonly Dropout embedding_dropout;

    /// <summary>Builds a randomly initialised model; call <c>torch.manual_seed</c> first for reproducible weights.</summary>
    public SimpleTransformer(ModelConfig config) : base(nameof(SimpleTransformer))
    {
        Config = config.Validate();
        token_embedding = nn.Embedding(config.VocabSize, config.HiddenSize);
        if (config.PositionEmbedding == PositionEmbedding.Learned)
        {
            position_embedding = nn.Embedding(config.MaxPositions, config.HiddenSize);
        }

        layers = nn.ModuleList([.. Enumerable.Range(0, config.NumLayers).Select(_ => new TransformerLayer(config))]);
        final_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        if (!config.TieWordEmbeddings)
        {
            lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        }

        embedding_dropout = nn.Dropout(config.HiddenDropout);
        RegisterComponents();

        if (config.PositionEmbedding == PositionEmbedding.Sinusoidal)
        {
            register_buffer("sinusoidal_table", PositionTables.Sinusoidal(config.MaxPositions, config.HiddenSize), persistent: false);
        }
        else if (config.PositionEmbedding == PositionEmbedding.Rotary)
        {
            var (cos, sin) = PositionTables.Rotary(config.MaxPositions, config.HeadSize, config.RopeTheta);
            register_buffer("rotary_cos", cos, persistent: false);
            register_buffer("rotary_sin", sin, persistent: false);
        }

        InitializeWeights();
    }

    /// <summary>The validated configuration this model was built from.</summary>
    public ModelConfig Config { get; }

    /// <summary>The transformer layers, in order.</summary>
    public IReadOnlyList<TransformerLayer> Layers => [.. layers];

    /// <summary>Whether each layer recomputes its activations during the backward pass instead of storing them.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Selects the attention implementation of every layer.</summary>
    public AttentionKernel Kernel
    {
        get => layers[0].Attention.Kernel;
        set
        {
            foreach (var layer in layers)
            {
                layer.Attention.Kernel = value;
            }
        }
    }

    /// <summary>
    /// Computes logits [B, T, V] for a batch without a cache, as used in training.
    /// </summary>
    /// <param name="inputIds">[B, T] token ids.</param>
    /// <param name="attentionMask">[B, T], 1 for real tokens and 0 for padding; null when nothing is padded.</param>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var mask = attentionMask ?? ones_like(inputIds);
        var positions = PositionTables.PositionIds(mask, inputIds.shape[1]);
        var (logits, presents) = Forward(inputIds, mask, positions, past: null);
        foreach (var present in presents)
        {
            present.Dispose();
        }

        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs the model on new tokens after an optional cache of earlier ones: the same computation as the
    /// exported ONNX graph.
    /// </summary>
    /// <param name="inputIds">[B, T] new token ids.</param>
    /// <param name="attentionMask">[B, S] mask over cached and new tokens, 1 for real tokens, 0 for padding.</param>
    /// <param name="positionIds">[B, T] positions of the new tokens.</param>
    /// <param name="past">One cache per layer holding P tokens each, or null for P = 0.</param>
    /// <returns>Logits [B, T, V] and one cache per layer holding S tokens.</returns>
    public (Tensor Logits, LayerCache[] Presents) Forward(Tensor inputIds, Tensor attentionMask, Tensor positionIds, IReadOnlyList<LayerCache>? past)
    {
        CheckInputs(inputIds, attentionMask, positionIds, past);
        using var scope = NewDisposeScope();
        long batch = inputIds.shape[0], tokens = inputIds.shape[1];

        // The fixed tables and the attention bias are built in fp32 and cast to the weights' dtype, so a bf16 copy of
        // the model computes in bf16 throughout. TorchSharp 0.107.0's Module.to(dtype) leaves these
        // non-persistent buffers fp32.
        var x = token_embedding.forward(inputIds);                                        // [B, T, C]
        if (position_embedding is not null)
        {
            x = x + position_embedding.forward(positionIds);
        }
        else if (Config.PositionEmbedding == PositionEmbedding.Sinusoidal)
        {
            var table = get_buffer("sinusoidal_table")!;
            x = x + table.index_select(0, positionIds.flatten()).view(batch, tokens, -1).to(x.dtype); // [B, T, C]
        }

        x = embedding_dropout.forward(x);

        (Tensor, Tensor)? rotary = null;
        if (Config.PositionEmbedding == PositionEmbedding.Rotary)
        {
            var flat = positionIds.flatten();
            var cos = get_buffer("rotary_cos")!.index_select(0, flat).view(batch, 1, tokens, -1).to(x.dtype); // [B, 1, T, D/2]
            var sin = get_buffer("rotary_sin")!.index_select(0, flat).view(batch, 1, tokens, -1).to(x.dtype); // [B, 1, T, D/2]
            rotary = (cos, sin);
        }

        var bias = PositionTables.AttentionBias(Config, attentionMask, tokens).to(x.dtype); // [B, 1 or H, T, S]
        var presents = new LayerCache[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            bool checkpoint = GradientCheckpointing && training && past is null && is_grad_enabled();
            (x, presents[i]) = checkpoint
                ? LayerCheckpoint.Run(layers[i], x, bias, rotary)
                : layers[i].Forward(x, bias, rotary, past?[i]);
            presents[i].Key.MoveToOuterDisposeScope();
            presents[i].Value.MoveToOuterDisposeScope();
        }

        x = final_norm.forward(x);
        var logits = lm_head is not null
            ? lm_head.forward(x)
            : x.matmul(token_embedding.weight!.t());                                    // [B, T, V]
        return (logits.MoveToOuterDisposeScope(), presents);
    }

    /// <summary>Returns the number of distinct trainable values; a tied weight counts once.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());

    private void CheckInputs(Tensor inputIds, Tensor attentionMask, Tensor positionIds, IReadOnlyList<LayerCache>? past)
    {
        if (inputIds.dim() != 2)
        {
            throw new ArgumentException($"inputIds must be [batch, tokens], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        }

        long batch = inputIds.shape[0], tokens = inputIds.shape[1];
        long pastLength = past is { Count: > 0 } ? past[0].Length : 0;
        if (past is not null && past.Count != layers.Count)
        {
            throw new ArgumentException($"past has {past.Count} layer caches, expected {layers.Count}.", nameof(past));
        }

        if (attentionMask.dim() != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != pastLength + tokens)
        {
            throw new ArgumentException(
                $"attentionMask must be [{batch}, {pastLength + tokens}] (batch, past + new tokens), got [{string.Join(", ", attentionMask.shape)}].",
                nameof(attentionMask));
        }

        if (!positionIds.shape.SequenceEqual(inputIds.shape))
        {
            throw new ArgumentException(
                $"positionIds must have the shape of inputIds [{batch}, {tokens}], got [{string.Join(", ", positionIds.shape)}].", nameof(positionIds));
        }

        if (pastLength + tokens > Config.MaxPositions)
        {
            throw new ArgumentException(
                $"The sequence holds {pastLength + tokens} tokens (past {pastLength} + new {tokens}), more than max_position_embeddings {Config.MaxPositions}. Shorten the input.",
                nameof(inputIds));
        }
    }

    /// <summary>GPT-2 style initialisation: normal(0, 0.02) for matrices, zero biases, output projections scaled by 1/√(2·layers).</summary>
    private void InitializeWeights()
    {
        using var noGrad = no_grad();
        double residualStd = 0.02 / Math.Sqrt(2.0 * Config.NumLayers);
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
            else if (name.Contains("norm", StringComparison.Ordinal))
            {
                parameter.fill_(1.0);
            }
            else
            {
                bool residualOutput = name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("fc_out.weight", StringComparison.Ordinal);
                nn.init.normal_(parameter, 0.0, residualOutput ? residualStd : 0.02);
            }
        }
    }
}
