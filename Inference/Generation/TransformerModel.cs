using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Runtime;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Inference.Generation;

/// <summary>
/// An exported model directory (<c>model.onnx</c>, <c>config.json</c>, <c>tokenizer.json</c>) loaded into ONNX Runtime,
/// generating text with a key/value cache. One instance serves any number of concurrent generations, because each call
/// keeps its own cache and sampler. Dispose the model only after every generation has finished.
/// </summary>
public sealed class TransformerModel : IDisposable
{
    /// <summary>The file name of the ONNX graph inside an exported model directory.</summary>
    public const string ModelFileName = "model.onnx";

    private readonly ModelSession _session;
    private readonly ILogger _logger;
    private int _disposed;

    private TransformerModel(string directory, ModelSession session, ITextTokenizer tokenizer, ILogger logger)
    {
        Directory = directory;
        _session = session;
        Tokenizer = tokenizer;
        _logger = logger;
    }

    /// <summary>The model directory, as a full path.</summary>
    public string Directory { get; }

    /// <summary>The model's configuration, read from <c>config.json</c>.</summary>
    public ModelConfig Config => _session.Config;

    /// <summary>The tokenizer, read from <c>tokenizer.json</c>.</summary>
    public ITextTokenizer Tokenizer { get; }

    /// <summary>The provider the model runs on: the requested one, or <see cref="Runtime.ExecutionProvider.Cpu"/> after a CPU fallback.</summary>
    public ExecutionProvider ExecutionProvider => _session.Provider;

    /// <summary>
    /// Loads and checks an exported model directory: <c>config.json</c> must be valid, the tokenizer's vocabulary size
    /// must equal <c>vocab_size</c>, and <c>model.onnx</c> must load, carry the same configuration in its metadata (when
    /// it has one) and have the inputs and outputs the configuration implies (layer count, heads, head size, vocabulary size).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">A required file is missing.</exception>
    /// <exception cref="InvalidModelConfigException"><c>config.json</c> is invalid.</exception>
    /// <exception cref="InvalidTokenizerException"><c>tokenizer.json</c> is invalid.</exception>
    /// <exception cref="InvalidModelException"><c>model.onnx</c> is corrupt or the files do not describe the same model.</exception>
    /// <exception cref="ExecutionProviderUnavailableException">CUDA was requested but cannot be used, and <see cref="ModelOptions.AllowCpuFallback"/> is false.</exception>
    public static TransformerModel Load(string directory, ModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new ModelOptions();
        options.Validate();
        ILogger logger = options.Logger ?? NullLogger.Instance;

        string fullPath = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(fullPath))
        {
            throw new DirectoryNotFoundException($"Model directory not found: '{fullPath}'. Pass a directory written by the exporter.");
        }

        var config = ModelConfig.Load(fullPath);
        var tokenizer = TokenizerFile.Load(fullPath);
        if (tokenizer.VocabSize != config.VocabSize)
        {
            throw new InvalidModelException(
                $"'{Path.Combine(fullPath, TokenizerFile.FileName)}' has {tokenizer.VocabSize} tokens, but '{Path.Combine(fullPath, ModelConfig.FileName)}' " +
                $"has vocab_size {config.VocabSize}. Use the tokenizer.json saved with this model.");
        }

        string modelPath = Path.Combine(fullPath, ModelFileName);
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException($"ONNX model not found: '{modelPath}'. Export the checkpoint into this directory first.", modelPath);
        }

        var (session, provider) = SessionFactory.Create(modelPath, options, logger);
        try
        {
            EmbeddedConfig.Check(session, config, modelPath, Path.Combine(fullPath, ModelConfig.FileName));
            var signature = GraphSignature.Check(session, config, modelPath);
            var model = new TransformerModel(fullPath, new ModelSession(session, signature, config, provider, options.DeviceId), tokenizer, logger);
            logger.LogInformation(
                "Loaded '{ModelPath}' on {Provider}: {Layers} layers, hidden size {HiddenSize}, {Heads} heads, vocabulary {VocabSize}, context {Context} tokens",
                modelPath, provider, config.NumLayers, config.HiddenSize, config.NumHeads, config.VocabSize, config.MaxPositions);
            return model;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Generates a continuation of <paramref name="prompt"/>. An empty prompt starts from the end-of-sequence token,
    /// which marks the start of a text.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="ArgumentException">Prompt tokens plus <see cref="GenerationOptions.MaxNewTokens"/> exceed the model's context.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return GenerateBatch([prompt], options, cancellationToken)[0];
    }

    /// <summary>
    /// Generates continuations of several prompts in one batch. Prompts are left-padded to the longest. Each sequence
    /// stops on its own end-of-sequence token, stop string or token limit while the others continue. With greedy
    /// decoding, or with a fixed <see cref="GenerationOptions.Seed"/> (every sequence draws from its own generator with
    /// that seed), each result equals generating that prompt alone, up to floating-point differences between batch sizes.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="prompts"/> is empty or contains null, or a prompt does not fit the context.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<string> prompts, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new GenerationOptions();
        using var loop = new GenerationLoop(_session, Tokenizer.PadId, Prepare(prompts, options), options.MaxNewTokens);
        var stopwatch = Stopwatch.StartNew();
        while (!loop.IsFinished)
        {
            loop.Step(cancellationToken);
        }

        var results = loop.Rows.Select(r => r.ToResult()).ToArray();
        LogFinished(results, stopwatch.Elapsed);
        return results;
    }

    /// <summary>
    /// Generates a continuation of <paramref name="prompt"/> and returns the text piece by piece as tokens arrive. Pieces
    /// never split a UTF-8 character, and text that may begin a stop string is held back until it is decided. Each
    /// decoding step runs on the thread pool.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (thrown by this call, before enumeration).</exception>
    /// <exception cref="ArgumentException">The prompt does not fit the context (thrown by this call, before enumeration).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (thrown during enumeration).</exception>
    public IAsyncEnumerable<string> GenerateStreamingAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        GenerateStreamingAsync(prompt, options, onFinished: null, cancellationToken);

    /// <summary>
    /// Streams like the public overload and, when the sequence has stopped, passes its result (stop reason and token
    /// counts) to <paramref name="onFinished"/> before the enumeration ends. A stream that is cancelled, fails or is
    /// abandoned never calls it.
    /// </summary>
    internal IAsyncEnumerable<string> GenerateStreamingAsync(string prompt, GenerationOptions? options, Action<GenerationResult>? onFinished, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        var rows = Prepare([prompt], options);
        return Stream(rows, options, onFinished, cancellationToken);
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _session.Dispose();
        }
    }

    private async IAsyncEnumerable<string> Stream(
        SequenceState[] rows, GenerationOptions options, Action<GenerationResult>? onFinished, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using (var loop = new GenerationLoop(_session, Tokenizer.PadId, rows, options.MaxNewTokens))
        {
            var row = loop.Rows[0];
            var stopwatch = Stopwatch.StartNew();
            while (!loop.IsFinished)
            {
                await Task.Run(() => loop.Step(cancellationToken), cancellationToken).ConfigureAwait(false);
                string piece = row.TakeStreamableText();
                if (piece.Length > 0)
                {
                    yield return piece;
                }
            }

            var result = row.ToResult();
            onFinished?.Invoke(result);
            LogFinished([result], stopwatch.Elapsed);
        }
    }

    private SequenceState[] Prepare(IReadOnlyList<string> prompts, GenerationOptions options)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentNullException.ThrowIfNull(prompts);
        options.Validate();
        if (prompts.Count == 0)
        {
            throw new ArgumentException("No prompts were given; pass at least one (an empty string is a valid prompt).", nameof(prompts));
        }

        var rows = new SequenceState[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
        {
            string name = prompts.Count == 1 ? "The prompt" : $"Prompt {i}";
            string prompt = prompts[i] ?? throw new ArgumentException($"{name} is null.", nameof(prompts));
            int[] promptIds = Tokenizer.Encode(prompt);
            WarnOnUnknownCharacters(promptIds, name);

            // An empty prompt starts from the end-of-sequence token: training follows each document with it, so a text starts after it.
            int[] inputIds = promptIds.Length > 0 ? promptIds : [Tokenizer.EosId];
            CheckContext(inputIds.Length, options.MaxNewTokens, name, prompt.Length == 0);
            rows[i] = new SequenceState(Tokenizer, options, inputIds, promptIds);
        }

        return rows;
    }

    private void CheckContext(int promptTokens, int maxNewTokens, string name, bool emptyPrompt)
    {
        int context = Config.MaxPositions;
        if ((long)promptTokens + maxNewTokens <= context)
        {
            return;
        }

        string counted = emptyPrompt ? "counts its start token (1 token)" : $"has {promptTokens} tokens";
        // Suggest only limits that can be met: a prompt that fills the context leaves no room for new tokens.
        string fix;
        if (promptTokens >= context && maxNewTokens >= context)
        {
            fix = $"Shorten the prompt and lower MaxNewTokens so that together they are at most {context} tokens.";
        }
        else if (promptTokens >= context)
        {
            fix = $"Shorten the prompt to at most {context - maxNewTokens} tokens.";
        }
        else if (maxNewTokens >= context)
        {
            fix = $"Set MaxNewTokens to at most {context - promptTokens} so that prompt and new tokens fit.";
        }
        else
        {
            fix = $"Shorten the prompt to at most {context - maxNewTokens} tokens or set MaxNewTokens to at most {context - promptTokens}.";
        }
        throw new ArgumentException(
            $"{name} {counted} and MaxNewTokens is {maxNewTokens}, {promptTokens + (long)maxNewTokens} in all, but the model's context " +
            $"(max_position_embeddings) is {context} tokens. {fix}",
            "prompt");
    }

    private void WarnOnUnknownCharacters(int[] promptIds, string name)
    {
        if (Tokenizer is not CharTokenizer || !_logger.IsEnabled(LogLevel.Warning))
        {
            return;
        }

        int unknown = promptIds.Count(id => id == CharTokenizer.Unknown);
        if (unknown > 0)
        {
            _logger.LogWarning("{Prompt} contains {Count} characters outside the vocabulary, encoded as <unk>", name, unknown);
        }
    }

    private void LogFinished(IReadOnlyList<GenerationResult> results, TimeSpan elapsed)
    {
        if (!_logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        int tokens = results.Sum(r => r.TokenCount);
        _logger.LogDebug(
            "Generated {Tokens} tokens for {Sequences} sequences in {Milliseconds:F0} ms ({TokensPerSecond:F1} tokens/s), stop reasons {StopReasons}",
            tokens, results.Count, elapsed.TotalMilliseconds, tokens / Math.Max(elapsed.TotalSeconds, 1e-9), string.Join(", ", results.Select(r => r.StopReason)));
    }
}
