using System.CommandLine;
using Microsoft.Extensions.Logging;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Runtime;
using SimpleTransformer.Inference.Tokenization;

// Streams a model's continuation of a prompt to standard output. Logs and errors go to standard error.

var model = new Option<DirectoryInfo>("--model", "-m")
{
    Description = $"Exported model directory: {TransformerModel.ModelFileName}, {ModelConfig.FileName} and {TokenizerFile.FileName}.",
    Required = true,
};
var prompt = new Option<string>("--prompt", "-p")
{
    Description = "Text to continue. An empty prompt starts a new text.",
    DefaultValueFactory = _ => "",
};
var maxNewTokens = new Option<int?>("--max-new-tokens", "-n")
{
    Description = "The most tokens to generate; prompt plus new tokens must fit the model's context. Default: 200, or the room the prompt leaves in the context when that is less.",
};
var temperature = new Option<float>("--temperature", "-t")
{
    Description = "Sampling temperature; 0 selects greedy decoding.",
    DefaultValueFactory = _ => 0.8f,
};
var topK = new Option<int>("--top-k")
{
    Description = "Sample only from the K most likely tokens; 0 disables the limit.",
};
var topP = new Option<float>("--top-p")
{
    Description = "Sample only from the most likely tokens whose probabilities sum to P, in (0, 1]; 1 disables the limit.",
    DefaultValueFactory = _ => 1f,
};
var repetitionPenalty = new Option<float>("--repetition-penalty")
{
    Description = "Penalty for tokens already in the text (CTRL style); 1 disables it, values above 1 discourage repetition.",
    DefaultValueFactory = _ => 1f,
};
var seed = new Option<int?>("--seed", "-s")
{
    Description = "Random seed; the same seed, model and options give the same text. Default: a fresh seed per run.",
};
var stop = new Option<string[]>("--stop")
{
    Description = "A string that ends generation; it is not printed. Repeat the option for several.",
    AllowMultipleArgumentsPerToken = false,
};
var device = new Option<string>("--device")
{
    Description = "Execution provider: cpu, or cuda (needs Microsoft.ML.OnnxRuntime.Gpu, CUDA 12 and cuDNN 9).",
    DefaultValueFactory = _ => "cpu",
};
device.AcceptOnlyFromAmong("cpu", "cuda");
var deviceId = new Option<int>("--device-id")
{
    Description = "CUDA device ordinal.",
};
var cpuFallback = new Option<bool>("--cpu-fallback")
{
    Description = "Run on the CPU with a warning when CUDA is unavailable, instead of failing.",
};
var threads = new Option<int?>("--threads")
{
    Description = "ONNX Runtime intra-op threads. Default: one per physical core.",
};
var verbose = new Option<bool>("--verbose", "-v")
{
    Description = "Log loading details and the generation speed (tokens/s) to standard error.",
};

var root = new RootCommand("Generates text with a SimpleTransformer model exported to ONNX, streaming it to the terminal.")
{
    model, prompt, maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, stop, device, deviceId, cpuFallback, threads, verbose,
};

root.SetAction(async (parseResult, cancellationToken) =>
{
    var minimumLevel = parseResult.GetValue(verbose) ? LogLevel.Debug : LogLevel.Warning;
    using var loggerFactory = LoggerFactory.Create(builder => builder
        .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(format => format.SingleLine = true)
        .SetMinimumLevel(minimumLevel));

    var modelOptions = new ModelOptions
    {
        ExecutionProvider = parseResult.GetValue(device) == "cuda" ? ExecutionProvider.Cuda : ExecutionProvider.Cpu,
        DeviceId = parseResult.GetValue(deviceId),
        AllowCpuFallback = parseResult.GetValue(cpuFallback),
        IntraOpThreads = parseResult.GetValue(threads),
        Logger = loggerFactory.CreateLogger("generate"),
    };
    var generationOptions = new GenerationOptions
    {
        Temperature = parseResult.GetValue(temperature),
        TopK = parseResult.GetValue(topK),
        TopP = parseResult.GetValue(topP),
        RepetitionPenalty = parseResult.GetValue(repetitionPenalty),
        Seed = parseResult.GetValue(seed),
        StopStrings = parseResult.GetValue(stop) ?? [],
    };
    string directory = parseResult.GetRequiredValue(model).FullName;
    string text = parseResult.GetValue(prompt) ?? "";

    try
    {
        using var transformer = TransformerModel.Load(directory, modelOptions);
        generationOptions = generationOptions with { MaxNewTokens = parseResult.GetValue(maxNewTokens) ?? DefaultMaxNewTokens(transformer, text) };
        var pieces = transformer.GenerateStreamingAsync(text, generationOptions, cancellationToken);
        Console.Write(text);
        await foreach (string piece in pieces)
        {
            Console.Write(piece);
        }

        Console.WriteLine();
        return 0;
    }
    catch (OperationCanceledException)
    {
        Console.WriteLine();
        Console.Error.WriteLine("generation cancelled");
        return 130;
    }
    catch (Exception e) when (e is IOException or ArgumentException or InvalidModelException or InvalidModelConfigException
                                  or InvalidTokenizerException or ExecutionProviderUnavailableException)
    {
        Console.Error.WriteLine($"error: {Describe(e)}");
        return 1;
    }
});

return await root.Parse(args).InvokeAsync();

// 200 new tokens, or fewer when the prompt leaves less room in the context; an empty prompt counts its start token.
static int DefaultMaxNewTokens(TransformerModel model, string prompt)
{
    int promptTokens = prompt.Length == 0 ? 1 : model.Tokenizer.Encode(prompt).Length;
    int room = model.Config.MaxPositions - promptTokens;
    return room >= 1 ? Math.Min(200, room) : 200;
}

// Names the command-line option behind an invalid library setting and keeps the message to one line.
static string Describe(Exception error)
{
    string message = error.Message;
    if (error is ArgumentException { ParamName: string parameter })
    {
        int suffix = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        message = suffix >= 0 ? message[..suffix] : message;
        string? option = parameter switch
        {
            "MaxNewTokens" => "--max-new-tokens",
            "Temperature" => "--temperature",
            "TopK" => "--top-k",
            "TopP" => "--top-p",
            "RepetitionPenalty" => "--repetition-penalty",
            "IntraOpThreads" => "--threads",
            "DeviceId" => "--device-id",
            _ when parameter.StartsWith("StopStrings", StringComparison.Ordinal) => "--stop",
            _ => null,
        };
        message = option is null ? message : $"{option}: {message}";
    }

    return message.ReplaceLineEndings(" ");
}
