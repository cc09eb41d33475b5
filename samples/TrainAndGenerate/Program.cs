// Trains a small model on a text file, exports it to ONNX and generates text from it.
// Usage: train-and-generate [CORPUS] [RUN_DIRECTORY]
// A starting point for your own code: each step is one call into the SimpleTransformer libraries.
using SimpleTransformer.Export;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Trainer;

string corpus = args.Length > 0 ? args[0] : "data/brown-sample.txt";
string run = args.Length > 1 ? args[1] : Path.Combine("runs", $"sample-{DateTime.UtcNow:yyyyMMdd-HHmmss}");

// 1. Train: a preset gives the architecture and the schedule; here a short run of the quick preset.
var preset = Preset.Load("models/quick.json");
preset = preset with { Training = preset.Training with { MaxSteps = 300, EvalInterval = 100, CheckpointInterval = 300 } };
var result = Trainer.Run(new TrainRequest { RunDirectory = run, CorpusPath = corpus, Preset = preset }, Console.WriteLine);

// 2. Export the final checkpoint to an ONNX model directory.
string modelDirectory = Path.Combine(run, "onnx");
OnnxExporter.ExportDirectory(result.LastCheckpoint, modelDirectory, ExportOptions.Default);

// 3. Generate with ONNX Runtime, streaming the text as it is produced.
using var model = TransformerModel.Load(modelDirectory);
var options = new GenerationOptions { MaxNewTokens = 100, Temperature = 0.8f, TopK = 40, Seed = 1 };
await foreach (string piece in model.GenerateStreamingAsync("The jury said", options))
{
    Console.Write(piece);
}

Console.WriteLine();
