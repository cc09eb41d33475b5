using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using SimpleTransformer.Export;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Checkpoints;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>
/// Damaged checkpoint files are rejected by every reader (the checkpoint loader, a resumed run and the exporter)
/// with an exception of the documented type whose message names the file and the problem.
/// </summary>
[TestClass]
public sealed class CorruptCheckpointTests
{
    private const string Config = ModelConfig.FileName;
    private const string Tokenizer = TokenizerFile.FileName;
    private const string Weights = CheckpointStore.WeightsFile;
    private const string Optimizer = CheckpointStore.OptimizerFile;
    private const string State = TrainerState.FileName;

    /// <summary>A damage to one file, the exception every reader of that file throws, and message fragments.</summary>
    private sealed record Damage(string Name, string File, Action<string> Apply, Type Expected, params string[] Fragments)
    {
        /// <summary>Whether the exporter reads the damaged file (it ignores the trainer state and optimizer moments).</summary>
        public bool ReadByExporter => File is Config or Tokenizer or Weights;
    }

    private static readonly Damage[] Damages =
    [
        new("weights cut in half", Weights, path => Truncate(path, new FileInfo(path).Length / 2), typeof(InvalidCheckpointException), "truncated"),
        new("weights cut to 5 bytes", Weights, path => Truncate(path, 5), typeof(InvalidCheckpointException), "shorter than the 8-byte header length"),
        new("weights cut inside the header", Weights, path => Truncate(path, 100), typeof(InvalidCheckpointException), "exceeds the file size"),
        new("header bytes garbage", Weights, path => Overwrite(path, 8, [.. Enumerable.Repeat((byte)0xFF, 64)]), typeof(InvalidCheckpointException), "header is not valid JSON"),
        new("header length huge", Weights, path => Overwrite(path, 0, BitConverter.GetBytes(long.MaxValue)), typeof(InvalidCheckpointException), "header length 9223372036854775807"),
        new("dtype F16", Weights, path => EditHeader(path, h => h.Replace("\"F32\"", "\"F16\"")), typeof(InvalidCheckpointException), "dtype F16", "float32"),
        new("shape product overflowing", Weights, path => EditHeader(path, OverflowFirstShape), typeof(InvalidCheckpointException), "[4611686018427387904]", "0 bytes"),
        new("overlapping offsets", Weights, path => EditHeader(path, OverlapFirstTwo), typeof(InvalidCheckpointException), "overlaps"),
        new("bytes appended", Weights, path => Append(path, new byte[16]), typeof(InvalidCheckpointException), "cover"),
        new("duplicate tensor name", Weights, path => EditHeader(path, DuplicateFirstEntry), typeof(InvalidCheckpointException), "Duplicate"),
        new("NaN weight", Weights, path => SetFirstFloat(path, float.NaN), typeof(InvalidCheckpointException), "NaN at element 0"),
        new("wrong shapes", Weights, path => Safetensors.Save(path, ExportFixtures.RandomWeights(ExportFixtures.Small with { IntermediateSize = 48 }, 1).Values),
            typeof(InvalidCheckpointException), "'layers.0.mlp.fc_in.weight' has shape [48, 16], expected [32, 16]"),
        new("weights missing", Weights, path => System.IO.File.Delete(path), typeof(FileNotFoundException), "not found"),
        new("config not JSON", Config, path => System.IO.File.WriteAllText(path, "{\"vocab_size\": 11,"), typeof(InvalidModelConfigException), "Invalid model configuration"),
        new("config empty", Config, path => System.IO.File.WriteAllText(path, ""), typeof(InvalidModelConfigException), "Invalid model configuration"),
        new("config key missing", Config, path => EditJson(path, o => o.Remove("hidden_size")), typeof(InvalidModelConfigException), "hidden_size"),
        new("config heads not dividing", Config, path => EditJson(path, o => o["num_attention_heads"] = 3), typeof(InvalidModelConfigException), "'num_attention_heads' is 3"),
        new("config layer count", Config, path => EditJson(path, o => o["num_hidden_layers"] = 3), typeof(InvalidCheckpointException), "3 layers", "describes 53 tensors but the weights file contains 37"),
        new("config layer count huge", Config, path => EditJson(path, o => o["num_hidden_layers"] = 100_000_000), typeof(InvalidCheckpointException), "describes 1600000005 tensors"),
        new("config duplicate key", Config, path => System.IO.File.WriteAllText(path, System.IO.File.ReadAllText(path).Replace("{", "{\"vocab_size\": 12,")), typeof(InvalidModelConfigException), "Duplicate"),
        new("config enum number", Config, path => EditJson(path, o => o["norm_position"] = 1), typeof(InvalidModelConfigException), "norm_position"),
        new("tokenizer wrong type", Tokenizer, path => EditJson(path, o => o["type"] = "bpe"), typeof(InvalidTokenizerException), "'type' is \"bpe\""),
        new("tokenizer duplicate character", Tokenizer, path => EditJson(path, o => o["tokens"]![4] = "a"), typeof(InvalidTokenizerException), "'a' appears twice"),
        new("tokenizer without specials", Tokenizer, path => EditJson(path, o => o["tokens"] = new JsonArray("<pad>", "<unk>")), typeof(InvalidTokenizerException), "has 2 entries"),
        new("tokenizer not an object", Tokenizer, path => System.IO.File.WriteAllText(path, "[]"), typeof(InvalidTokenizerException), "expected a JSON object"),
        new("tokenizer invalid UTF-8", Tokenizer, path => Overwrite(path, 2, [0xC3, 0x28]), typeof(InvalidTokenizerException), "UTF-8"),
        new("tokenizer larger than vocab_size", Tokenizer, path => TokenizerFile.Save(CharTokenizer.FromText(ExportFixtures.TokenizerText + "i"), Path.GetDirectoryName(path)!),
            typeof(InvalidCheckpointException), "12 tokens", "vocab_size"),
        new("state not JSON", State, path => System.IO.File.WriteAllText(path, "{\"step\": 2"), typeof(InvalidCheckpointException), "Invalid trainer state"),
        new("state without step", State, path => EditJson(path, o => o.Remove("step")), typeof(InvalidCheckpointException), "step"),
        new("state negative tokens", State, path => EditJson(path, o => o["tokens_seen"] = -1), typeof(InvalidCheckpointException), "'tokens_seen' is -1"),
        new("state of another step", State, path => EditJson(path, o => o["step"] = 5), typeof(InvalidCheckpointException), "'step' is 5", "step 2"),
        new("state bad option", State, path => EditJson(path, o => o["training"]!["batch_size"] = 0), typeof(InvalidCheckpointException), "'batch_size' is 0"),
        new("state unknown key", State, path => EditJson(path, o => o["stepp"] = 2), typeof(InvalidCheckpointException), "stepp"),
        new("state missing", State, path => System.IO.File.Delete(path), typeof(InvalidCheckpointException), "Trainer state not found"),
        new("optimizer moment missing", Optimizer, path => Safetensors.Save(path, Safetensors.Load(path).Values.Skip(1)), typeof(InvalidCheckpointException), "contains 73 tensors, expected 74"),
        new("optimizer negative second moment", Optimizer, path => Safetensors.Save(path, Safetensors.Load(path).Values.Select(t =>
            t.Name == "exp_avg_sq.final_norm.bias" ? t with { Data = [.. t.Data.Select(_ => -1f)] } : t)), typeof(InvalidCheckpointException), "never negative"),
        new("optimizer cut in half", Optimizer, path => Truncate(path, new FileInfo(path).Length / 2), typeof(InvalidCheckpointException), "truncated"),
    ];

    public static IEnumerable<object[]> DamageNames => Damages.Select(d => new object[] { d.Name });

    [TestMethod]
    public void ValidCheckpoint_LoadsResumesAndExports()
    {
        using var scratch = new ScratchDirectory("valid-checkpoint");
        string corpus = FaultFixtures.WriteSmallAlphabetCorpus(scratch.Path);
        string run = Path.Combine(scratch.Path, "run");
        string checkpoint = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "checkpoint-000002"), 2, corpus);

        var loaded = TrainingCheckpoint.Load(checkpoint);
        OnnxExporter.ExportDirectory(checkpoint, Path.Combine(scratch.Path, "onnx"), new ExportOptions());
        // A child process, because training in this process would share LibTorch's global random generator with
        // tests of other classes running in parallel.
        var (exitCode, _, error) = TrainingProcess.RunTrain(TimeSpan.FromSeconds(60), "--resume", "--output", run, "--stop-after", "3", "--threads", "1");

        Assert.AreEqual(2, loaded.State.Step);
        Assert.AreEqual(0, exitCode, string.Join("\n", error));
        Assert.AreEqual(3, TrainingCheckpoint.Load(Path.Combine(run, "checkpoint-000003")).State.Step);
    }

    [TestMethod]
    public void TensorLayout_ExpectedCount_MatchesList()
    {
        foreach (var (name, config) in ExportFixtures.Variants)
        {
            Assert.AreEqual(TensorLayout.Expected(config).Count, TensorLayout.ExpectedCount(config), name);
        }
    }

    [TestMethod]
    [DynamicData(nameof(DamageNames))]
    public void DamagedFile_IsRejectedByEveryReader(string name)
    {
        var damage = Damages.Single(d => d.Name == name);
        using var scratch = new ScratchDirectory("damaged");
        string corpus = FaultFixtures.WriteSmallAlphabetCorpus(scratch.Path);
        string run = Path.Combine(scratch.Path, "run");
        string checkpoint = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(run, "checkpoint-000002"), 2, corpus);
        damage.Apply(Path.Combine(checkpoint, damage.File));

        AssertRejected(damage, () => TrainingCheckpoint.Load(checkpoint), "TrainingCheckpoint.Load");
        AssertRejected(damage, () => Trainer.Run(new TrainRequest { RunDirectory = run, Resume = true }, _ => { }), "a resumed run");
        Assert.IsFalse(Directory.Exists(Path.Combine(run, "checkpoint-000003")), "the resumed run wrote nothing");

        string output = Path.Combine(scratch.Path, "onnx");
        if (damage.ReadByExporter)
        {
            AssertRejected(damage, () => OnnxExporter.ExportDirectory(checkpoint, output, new ExportOptions()), "OnnxExporter.ExportDirectory");
            Assert.IsFalse(File.Exists(Path.Combine(output, OnnxExporter.ModelFileName)), "the exporter wrote no model");
        }
    }

    private static void AssertRejected(Damage damage, Action read, string reader)
    {
        var error = Assert.Throws<Exception>(read, $"{reader} accepts a checkpoint with: {damage.Name}");
        Assert.IsInstanceOfType(error, damage.Expected, $"{reader}: {error.GetType().Name}: {error.Message}");
        StringAssert.Contains(error.Message, damage.File, $"{reader} names the file");
        foreach (string fragment in damage.Fragments)
        {
            StringAssert.Contains(error.Message, fragment, $"{reader}");
        }
    }

    private static void Truncate(string path, long length)
    {
        using var stream = new FileStream(path, FileMode.Open);
        stream.SetLength(length);
    }

    private static void Overwrite(string path, long offset, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.Open);
        stream.Position = offset;
        stream.Write(bytes);
    }

    private static void Append(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.Append);
        stream.Write(bytes);
    }

    private static void SetFirstFloat(string path, float value)
    {
        byte[] file = File.ReadAllBytes(path);
        long dataStart = 8 + BinaryPrimitives.ReadInt64LittleEndian(file);
        var header = JsonNode.Parse(file.AsSpan(8, (int)(dataStart - 8)))!.AsObject();
        long first = header.Where(p => p.Key != "__metadata__").Min(p => p.Value!["data_offsets"]![0]!.GetValue<long>());
        BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan((int)(dataStart + first)), value);
        File.WriteAllBytes(path, file);
    }

    /// <summary>Rewrites the JSON header text of a safetensors file and its length field, keeping the data.</summary>
    private static void EditHeader(string path, Func<string, string> edit)
    {
        byte[] file = File.ReadAllBytes(path);
        int headerLength = (int)BinaryPrimitives.ReadInt64LittleEndian(file);
        string header = edit(Encoding.UTF8.GetString(file, 8, headerLength));
        byte[] headerBytes = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + headerBytes.Length + file.Length - 8 - headerLength];
        BinaryPrimitives.WriteInt64LittleEndian(result, headerBytes.Length);
        headerBytes.CopyTo(result, 8);
        file.AsSpan(8 + headerLength).CopyTo(result.AsSpan(8 + headerBytes.Length));
        File.WriteAllBytes(path, result);
    }

    // 2^62 elements of 4 bytes wrap a 64-bit byte count to 0, the size of an empty byte range.
    private static string OverflowFirstShape(string header)
    {
        var root = JsonNode.Parse(header)!.AsObject();
        var first = root.Where(p => p.Key != "__metadata__").MinBy(p => p.Value!["data_offsets"]![0]!.GetValue<long>()).Value!.AsObject();
        long begin = first["data_offsets"]![0]!.GetValue<long>();
        first["shape"] = new JsonArray(4611686018427387904L);
        first["data_offsets"] = new JsonArray(begin, begin);
        return root.ToJsonString();
    }

    // Moves the second tensor's start 4 bytes back into the first tensor and widens its shape to match, so that
    // only the overlap is wrong.
    private static string OverlapFirstTwo(string header)
    {
        var root = JsonNode.Parse(header)!.AsObject();
        var entries = root.Where(p => p.Key != "__metadata__").OrderBy(p => p.Value!["data_offsets"]![0]!.GetValue<long>()).ToList();
        var second = entries[1].Value!.AsObject();
        long begin = second["data_offsets"]![0]!.GetValue<long>();
        long end = second["data_offsets"]![1]!.GetValue<long>();
        second["data_offsets"] = new JsonArray(begin - 4, end);
        second["shape"] = new JsonArray((end - begin + 4) / 4);
        return root.ToJsonString();
    }

    private static string DuplicateFirstEntry(string header)
    {
        int start = header.IndexOf("\"token_embedding.weight\":", StringComparison.Ordinal);
        int end = header.IndexOf('}', start) + 1;
        return header[..start] + header[start..end] + "," + header[start..];
    }

    private static void EditJson(string path, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(root);
        File.WriteAllText(path, root.ToJsonString());
    }
}
