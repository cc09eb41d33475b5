using System.Diagnostics;
using System.Text;
using SimpleTransformer.Export;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training.Checkpoints;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>
/// Feeds seeded mutations of valid files to each loader. Only the loader's documented exception types may
/// escape, no call may take long, and the safetensors reader may not allocate much more than the file's size.
/// A mutated file that still loads must give a self-consistent result.
/// </summary>
[TestClass]
public sealed class LoaderFuzzTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>The outcome of one fuzzing run.</summary>
    private sealed class FuzzReport(string loader)
    {
        public int Tried { get; set; }
        public int Accepted { get; set; }
        public Dictionary<string, int> Rejected { get; } = [];
        public List<string> Escaped { get; } = [];
        public TimeSpan Slowest { get; set; }
        public long MaxAllocated { get; set; }

        public override string ToString() =>
            $"{loader}: {Tried} mutations, {Accepted} still valid, rejected {string.Join(", ", Rejected.Select(r => $"{r.Value} × {r.Key}"))}, " +
            $"{Escaped.Count} escaped, slowest {Slowest.TotalMilliseconds:F1} ms, max allocated {MaxAllocated:N0} bytes";
    }

    [TestMethod]
    public void Safetensors_Load_Mutations()
    {
        using var scratch = new ScratchDirectory("fuzz-safetensors");
        string path = Path.Combine(scratch.Path, "model.safetensors");
        Safetensors.Save(path, ExportFixtures.RandomWeights(ExportFixtures.Small, 1).Values);
        byte[] valid = File.ReadAllBytes(path);

        var report = Fuzz("Safetensors.Load", valid, isSafetensors: true, count: 2000, TimeSpan.FromSeconds(20), [typeof(InvalidCheckpointException)], bytes =>
        {
            File.WriteAllBytes(path, bytes);
            var tensors = Safetensors.Load(path);
            long dataBytes = tensors.Values.Sum(t => t.Data.LongLength * sizeof(float));
            Assert.IsLessThanOrEqualTo((long)bytes.Length, dataBytes, "the tensors hold no more bytes than the file");
            foreach (var tensor in tensors.Values)
            {
                Assert.AreEqual(tensor.ElementCount, tensor.Data.LongLength, $"'{tensor.Name}' has as many values as its shape implies");
            }
        }, allocationLimit: length => 16L * length + (1 << 20));

        Finish(report);
    }

    [TestMethod]
    public void ModelConfig_FromJson_Mutations()
    {
        byte[] valid = Encoding.UTF8.GetBytes(ExportFixtures.Variants["rotary-pre-relu-window"].ToJson());

        var report = Fuzz("ModelConfig.FromJson", valid, isSafetensors: false, count: 2000, TimeSpan.FromSeconds(20), [typeof(InvalidModelConfigException)], bytes =>
        {
            var config = ModelConfig.FromJson(Encoding.UTF8.GetString(bytes), "fuzzed config.json");
            Assert.AreEqual(config, ModelConfig.FromJson(config.ToJson()), "an accepted configuration survives a round trip");
        }, allocationLimit: length => 256L * length + (4 << 20));

        Finish(report);
    }

    [TestMethod]
    public void TokenizerFile_Parse_Mutations()
    {
        byte[] valid = Encoding.UTF8.GetBytes(CharTokenizer.FromText("The jury said: \"abc\" \\ é 😀\n").ToJson());

        var report = Fuzz("TokenizerFile.Parse", valid, isSafetensors: false, count: 2000, TimeSpan.FromSeconds(20), [typeof(InvalidTokenizerException)], bytes =>
        {
            var tokenizer = TokenizerFile.Parse(bytes, "fuzzed tokenizer.json");
            var again = TokenizerFile.Parse(tokenizer.ToJson(), "round trip");
            Assert.AreEqual(tokenizer.VocabSize, again.VocabSize, "an accepted tokenizer survives a round trip");
            Assert.IsGreaterThanOrEqualTo(3, tokenizer.VocabSize, "padding, unknown and end of sequence exist");
            TokenizerFile.Parse(Encoding.UTF8.GetString(bytes), "fuzzed tokenizer.json as text");
        }, allocationLimit: length => 256L * length + (4 << 20));

        Finish(report);
    }

    [TestMethod]
    public void TrainingCheckpoint_Load_StateAndMomentMutations()
    {
        using var scratch = new ScratchDirectory("fuzz-checkpoint");
        string checkpoint = FaultFixtures.WriteTrainingCheckpoint(Path.Combine(scratch.Path, "checkpoint-000003"), 3, "corpus.txt");
        string statePath = Path.Combine(checkpoint, TrainerState.FileName);
        string optimizerPath = Path.Combine(checkpoint, CheckpointStore.OptimizerFile);
        byte[] validState = File.ReadAllBytes(statePath);
        byte[] validOptimizer = File.ReadAllBytes(optimizerPath);
        Type[] allowed = [typeof(InvalidCheckpointException)];

        var stateReport = Fuzz("TrainingCheckpoint.Load (trainer_state.json)", validState, isSafetensors: false, count: 600, TimeSpan.FromSeconds(15), allowed, bytes =>
        {
            File.WriteAllBytes(statePath, bytes);
            var loaded = TrainingCheckpoint.Load(checkpoint);
            Assert.AreEqual(3, loaded.State.Step);
        });
        File.WriteAllBytes(statePath, validState);

        var optimizerReport = Fuzz("TrainingCheckpoint.Load (optimizer.safetensors)", validOptimizer, isSafetensors: true, count: 400, TimeSpan.FromSeconds(15), allowed, bytes =>
        {
            File.WriteAllBytes(optimizerPath, bytes);
            TrainingCheckpoint.Load(checkpoint);
        });

        Finish(stateReport, optimizerReport);
    }

    [TestMethod]
    public void OnnxExporter_ExportDirectory_Mutations()
    {
        using var scratch = new ScratchDirectory("fuzz-export");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, 1);
        string output = Path.Combine(scratch.Path, "onnx");
        var files = new[] { ModelConfig.FileName, TokenizerFile.FileName, CheckpointStore.WeightsFile }
            .ToDictionary(name => name, name => File.ReadAllBytes(Path.Combine(checkpoint, name)));
        var picker = new Random(11);
        Type[] allowed = [typeof(InvalidCheckpointException), typeof(InvalidModelConfigException), typeof(InvalidTokenizerException)];

        var reports = new List<FuzzReport>();
        foreach (var (name, valid) in files)
        {
            string path = Path.Combine(checkpoint, name);
            reports.Add(Fuzz($"OnnxExporter.ExportDirectory ({name})", valid, name.EndsWith(".safetensors", StringComparison.Ordinal), count: 150, TimeSpan.FromSeconds(6), allowed, bytes =>
            {
                File.WriteAllBytes(path, bytes);
                OnnxExporter.ExportDirectory(checkpoint, output, new ExportOptions());
                Assert.IsTrue(File.Exists(Path.Combine(output, OnnxExporter.ModelFileName)));
            }, seed: picker.Next()));
            File.WriteAllBytes(path, valid);
        }

        Finish([.. reports]);
    }

    /// <summary>Runs up to <paramref name="count"/> mutations of <paramref name="valid"/> within <paramref name="budget"/>.</summary>
    private static FuzzReport Fuzz(string loader, byte[] valid, bool isSafetensors, int count, TimeSpan budget, Type[] allowed, Action<byte[]> load,
        Func<long, long>? allocationLimit = null, int seed = 1234)
    {
        var mutator = new FileMutator(seed);
        var report = new FuzzReport(loader);
        var clock = Stopwatch.StartNew();
        load(valid);
        while (report.Tried < count && clock.Elapsed < budget)
        {
            var (bytes, description) = mutator.Mutate(valid, isSafetensors);
            report.Tried++;
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var call = Stopwatch.StartNew();
            try
            {
                load(bytes);
                report.Accepted++;
            }
            catch (Exception e) when (allowed.Contains(e.GetType()))
            {
                report.Rejected[e.GetType().Name] = report.Rejected.GetValueOrDefault(e.GetType().Name) + 1;
            }
            catch (Exception e)
            {
                report.Escaped.Add($"{description}: {e.GetType().FullName}: {e.Message}");
            }

            report.Slowest = call.Elapsed > report.Slowest ? call.Elapsed : report.Slowest;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            report.MaxAllocated = Math.Max(report.MaxAllocated, allocated);
            if (allocationLimit is not null && allocated > allocationLimit(bytes.Length))
            {
                report.Escaped.Add($"{description}: allocated {allocated:N0} bytes for a {bytes.Length:N0}-byte input");
            }
        }

        return report;
    }

    private void Finish(params FuzzReport[] reports)
    {
        foreach (var report in reports)
        {
            TestContext.WriteLine(report.ToString());
        }

        var escaped = reports.SelectMany(r => r.Escaped).ToList();
        Assert.IsEmpty(escaped, $"{escaped.Count} mutations escaped the documented exceptions or the limits:\n{string.Join("\n", escaped.Take(15))}");
        foreach (var report in reports)
        {
            Assert.IsLessThan(TimeSpan.FromSeconds(2), report.Slowest, $"no call hangs: {report}");
            Assert.IsGreaterThanOrEqualTo(50, report.Tried, $"enough mutations ran: {report}");
        }
    }
}
