using Microsoft.ML.OnnxRuntime;
using SimpleTransformer.Export;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Runtime;
using SimpleTransformer.Parity.Tests.Export;

namespace SimpleTransformer.Parity.Tests.Faults;

/// <summary>Damaged or stale files in an exported model directory: the exporter replaces them, the loader rejects them.</summary>
[TestClass]
public sealed class ExportedModelFaultTests
{
    [TestMethod]
    public void Export_OverDamagedDirectory_ReplacesEveryFile()
    {
        using var scratch = new ScratchDirectory("export-over-garbage");
        string checkpoint = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "checkpoint"), ExportFixtures.Small, 1);
        string output = Path.Combine(scratch.Path, "onnx");
        Directory.CreateDirectory(output);
        File.WriteAllBytes(Path.Combine(output, OnnxExporter.ModelFileName), [0x08, 0xFF, 0xFF, 0xFF, 0x13]);
        File.WriteAllBytes(Path.Combine(output, OnnxExporter.ModelFileName + ".data"), new byte[4096]);
        File.WriteAllText(Path.Combine(output, ModelConfig.FileName), "{");

        OnnxExporter.ExportDirectory(checkpoint, output, new ExportOptions());

        Assert.IsFalse(File.Exists(Path.Combine(output, OnnxExporter.ModelFileName + ".data")), "the stale external data file is removed");
        Assert.AreEqual(ExportFixtures.Small, ModelConfig.Load(output));
        using var session = new InferenceSession(Path.Combine(output, OnnxExporter.ModelFileName));
        Assert.HasCount(7, session.InputMetadata, "input_ids, attention_mask, position_ids and two past tensors for each of the 2 layers");
    }

    [TestMethod]
    public void FailedExport_LeavesPreviousExportUnchanged()
    {
        using var scratch = new ScratchDirectory("export-failure");
        string good = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "good"), ExportFixtures.Small, 1);
        string bad = ExportFixtures.WriteCheckpoint(Path.Combine(scratch.Path, "bad"), ExportFixtures.Small, 2);
        using (var stream = new FileStream(Path.Combine(bad, "model.safetensors"), FileMode.Open))
        {
            stream.SetLength(stream.Length - 100);
        }

        string output = Path.Combine(scratch.Path, "onnx");
        OnnxExporter.ExportDirectory(good, output, new ExportOptions());
        var before = Directory.GetFiles(output).ToDictionary(Path.GetFileName, File.ReadAllBytes);

        Assert.ThrowsExactly<SimpleTransformer.Inference.InvalidCheckpointException>(() => OnnxExporter.ExportDirectory(bad, output, new ExportOptions()));

        var after = Directory.GetFiles(output).ToDictionary(Path.GetFileName, File.ReadAllBytes);
        CollectionAssert.AreEquivalent(before.Keys.ToList(), after.Keys.ToList(), "no file is added or removed");
        foreach (var (name, bytes) in before)
        {
            CollectionAssert.AreEqual(bytes, after[name], $"'{name}' is unchanged");
        }
    }

    [TestMethod]
    [DataRow("truncated", DisplayName = "model.onnx truncated to half")]
    [DataRow("garbage", DisplayName = "model.onnx replaced by random bytes")]
    [DataRow("empty", DisplayName = "model.onnx empty")]
    public void DamagedModelOnnx_IsRejectedByLoader(string damage)
    {
        using var scratch = new ScratchDirectory("damaged-onnx");
        string model = ExportFixtures.Export(scratch, ExportFixtures.Small);
        string path = Path.Combine(model, OnnxExporter.ModelFileName);
        byte[] bytes = File.ReadAllBytes(path);
        byte[] damaged = damage switch
        {
            "truncated" => bytes[..(bytes.Length / 2)],
            "garbage" => RandomBytes(bytes.Length, seed: 3),
            _ => [],
        };
        File.WriteAllBytes(path, damaged);

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(model));

        StringAssert.Contains(error.Message, path);
    }

    [TestMethod]
    public void ConfigOfAnotherModel_IsRejectedByLoader()
    {
        using var scratch = new ScratchDirectory("mismatched-onnx");
        string model = ExportFixtures.Export(scratch, ExportFixtures.Small);
        File.WriteAllText(Path.Combine(model, ModelConfig.FileName), (ExportFixtures.Small with { LayerNormEps = 1e-6 }).ToJson());

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(model));

        StringAssert.Contains(error.Message, "layer_norm_eps");
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
