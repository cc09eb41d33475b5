using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntimeGenAI;

// Reads a JSON array of requests from the file named by the first argument and writes a JSON array of results,
// one per request, to standard output. A request is
//   { "directory": "...", "prompts": [[ids], ...], "new_tokens": 40 }
// and requests greedy search from equal-length prompts, one batch row per prompt, on the CPU with one thread.
// A result contains "model_type", "sequences" (each prompt followed by its generated ids, as GenAI returns them),
// "tokenizer_error" (GenAI's message when it cannot build a Tokenizer from the directory, or null) and "error"
// (the message of any GenAI exception, or null).
if (args.Length != 1 || !File.Exists(args[0]))
{
    Console.Error.WriteLine("usage: SimpleTransformer.GenAiCheck REQUESTS.json (a JSON array of {directory, prompts, new_tokens} objects)");
    return 2;
}

var requests = JsonNode.Parse(File.ReadAllText(args[0]))!.AsArray();
var results = new JsonArray();
using (var genAi = new OgaHandle())
{
    foreach (var request in requests)
    {
        results.Add(Run(request!));
    }
}

Console.WriteLine(results.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
return 0;

static JsonObject Run(JsonNode request)
{
    string directory = (string)request["directory"]!;
    int[][] prompts = [.. request["prompts"]!.AsArray().Select(row => row!.AsArray().Select(id => (int)id!).ToArray())];
    int newTokens = (int)request["new_tokens"]!;
    var result = new JsonObject { ["directory"] = directory };
    try
    {
        using var config = new Config(directory);
        config.ClearProviders();
        config.Overlay("""{ "model": { "decoder": { "session_options": { "intra_op_num_threads": 1, "inter_op_num_threads": 1 } } } }""");
        using var model = new Model(config);
        result["model_type"] = model.GetModelType();

        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("batch_size", prompts.Length);
        parameters.SetSearchOption("max_length", prompts[0].Length + newTokens);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens([.. prompts.SelectMany(row => row)]);
        while (!generator.IsDone())
        {
            generator.GenerateNextToken();
        }

        result["sequences"] = new JsonArray([.. Enumerable.Range(0, prompts.Length)
            .Select(row => (JsonNode)new JsonArray([.. generator.GetSequence((ulong)row).ToArray().Select(id => (JsonNode)id)]))]);
        result["tokenizer_error"] = TokenizerError(model);
        result["error"] = null;
    }
    catch (OnnxRuntimeGenAIException e)
    {
        result["error"] = e.Message;
    }

    return result;
}

static string? TokenizerError(Model model)
{
    try
    {
        using var tokenizer = new Tokenizer(model);
        return null;
    }
    catch (OnnxRuntimeGenAIException e)
    {
        return e.Message;
    }
}
