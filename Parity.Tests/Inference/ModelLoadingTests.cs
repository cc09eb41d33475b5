using Microsoft.Extensions.Logging;
using SimpleTransformer.Export;
using SimpleTransformer.Export.Onnx;
using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Generation;
using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Runtime;
using SimpleTransformer.Inference.Tokenization;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class ModelLoadingTests
{
    [TestMethod]
    public void LoadsExportedDirectory()
    {
        var logger = new TestLogger();

        using var model = TransformerModel.Load(InferenceModels.Directory(), new ModelOptions { Logger = logger, IntraOpThreads = 1 });

        Assert.AreEqual(InferenceModels.Small, model.Config);
        Assert.AreEqual(InferenceModels.Tokenizer.VocabSize, model.Tokenizer.VocabSize);
        Assert.AreEqual(ExecutionProvider.Cpu, model.ExecutionProvider);
        Assert.IsTrue(logger.Entries.Any(e => e.Level == LogLevel.Information && e.Message.Contains("2 layers")), "no load message was logged");
    }

    [TestMethod]
    public void Float16CacheDetected()
    {
        string directory = InferenceModels.Directory("learned-float16");
        string modelPath = Path.Combine(directory, TransformerModel.ModelFileName);
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(modelPath);

        var signature = GraphSignature.Check(session, ModelConfig.Load(directory), modelPath);

        Assert.AreEqual(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16, signature.CacheElementType);
    }

    [TestMethod]
    public void MissingDirectoryNamed()
    {
        string path = Path.Combine(InferenceModels.NewDirectory("missing"), "nothing-here");

        var error = Assert.ThrowsExactly<DirectoryNotFoundException>(() => TransformerModel.Load(path));

        StringAssert.Contains(error.Message, path);
    }

    [TestMethod]
    [DataRow("config.json")]
    [DataRow("tokenizer.json")]
    [DataRow("model.onnx")]
    public void MissingFileNamed(string file)
    {
        string directory = InferenceModels.CopyOf("learned");
        File.Delete(Path.Combine(directory, file));

        var error = Assert.ThrowsExactly<FileNotFoundException>(() => TransformerModel.Load(directory));

        StringAssert.Contains(error.Message, Path.Combine(directory, file));
    }

    [TestMethod]
    public void CorruptModelNamesFile()
    {
        string directory = InferenceModels.CopyOf("learned");
        string modelPath = Path.Combine(directory, TransformerModel.ModelFileName);
        byte[] bytes = File.ReadAllBytes(modelPath);
        File.WriteAllBytes(modelPath, bytes[..(bytes.Length / 3)]);

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(directory));

        StringAssert.Contains(error.Message, modelPath);
        StringAssert.Contains(error.Message, "export the checkpoint again");
        Assert.IsInstanceOfType<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(error.InnerException);
    }

    [TestMethod]
    public void TokenizerVocabularyMismatchNamesBoth()
    {
        string directory = InferenceModels.CopyOf("learned");
        TokenizerFile.Save(CharTokenizer.FromText("abc"), directory);

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(directory));

        StringAssert.Contains(error.Message, "has 6 tokens");
        StringAssert.Contains(error.Message, $"vocab_size {InferenceModels.Small.VocabSize}");
        StringAssert.Contains(error.Message, Path.Combine(directory, "tokenizer.json"));
    }

    [TestMethod]
    public void ConfigDifferentFromEmbeddedNamesKey()
    {
        string directory = InferenceModels.CopyOf("learned");
        var changed = (InferenceModels.Small with { LayerNormEps = 1e-3 }).Validate();
        AtomicFile.WriteAllText(Path.Combine(directory, ModelConfig.FileName), changed.ToJson());

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(directory));

        StringAssert.Contains(error.Message, "'layer_norm_eps' is 1E-05 in the model and 0.001 in config.json");
    }

    [TestMethod]
    public void LayerCountMismatchNamesBoth()
    {
        // A graph without the embedded configuration, so only its inputs and outputs can reveal the mismatch.
        string directory = WithoutEmbeddedConfig();
        var changed = (InferenceModels.Small with { NumLayers = 3 }).Validate();
        AtomicFile.WriteAllText(Path.Combine(directory, ModelConfig.FileName), changed.ToJson());

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(directory));

        StringAssert.Contains(error.Message, "past_key_values inputs for 2 layers");
        StringAssert.Contains(error.Message, "num_hidden_layers 3");
    }

    [TestMethod]
    public void HeadCountMismatchNamesShapes()
    {
        string directory = WithoutEmbeddedConfig();
        var changed = (InferenceModels.Small with { NumHeads = 2 }).Validate();
        AtomicFile.WriteAllText(Path.Combine(directory, ModelConfig.FileName), changed.ToJson());

        var error = Assert.ThrowsExactly<InvalidModelException>(() => TransformerModel.Load(directory));

        StringAssert.Contains(error.Message, "num_attention_heads 2, head size 16");
        StringAssert.Contains(error.Message, "input 'past_key_values.0.key' has shape");
        StringAssert.Contains(error.Message, "expected [?, 2, ?, 16]");
    }

    [TestMethod]
    public void CudaWithoutGpuPackageExplainsSetup()
    {
        var options = new ModelOptions { ExecutionProvider = ExecutionProvider.Cuda };

        var error = Assert.ThrowsExactly<ExecutionProviderUnavailableException>(() => TransformerModel.Load(InferenceModels.Directory(), options));

        StringAssert.Contains(error.Message, "Microsoft.ML.OnnxRuntime.Gpu 1.32.0");
        StringAssert.Contains(error.Message, "CUDA 12");
        StringAssert.Contains(error.Message, "cuDNN 9");
        StringAssert.Contains(error.Message, "CPUExecutionProvider");
    }

    [TestMethod]
    public void CudaFallbackRunsOnCpuAndWarns()
    {
        var logger = new TestLogger();
        var options = new ModelOptions { ExecutionProvider = ExecutionProvider.Cuda, AllowCpuFallback = true, Logger = logger };

        using var model = TransformerModel.Load(InferenceModels.Directory(), options);
        var result = model.Generate("ab", new GenerationOptions { Temperature = 0, MaxNewTokens = 4 });

        Assert.AreEqual(ExecutionProvider.Cpu, model.ExecutionProvider);
        Assert.AreEqual(4, result.TokenCount);
        Assert.IsTrue(logger.Entries.Any(e => e.Level == LogLevel.Warning && e.Message.Contains("CUDA")), "no fallback warning was logged");
    }

    [TestMethod]
    public void InvalidModelOptionNamed()
    {
        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(
            () => TransformerModel.Load(InferenceModels.Directory(), new ModelOptions { IntraOpThreads = 0 }));

        Assert.AreEqual(nameof(ModelOptions.IntraOpThreads), error.ParamName);
    }

    private static string WithoutEmbeddedConfig()
    {
        string directory = InferenceModels.CopyOf("learned");
        string modelPath = Path.Combine(directory, TransformerModel.ModelFileName);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        var embedded = model.MetadataProps.Single(p => p.Key == OnnxExporter.ConfigMetadataKey);
        model.MetadataProps.Remove(embedded);
        OnnxModelFile.Save(model, modelPath, externalDataThreshold: null);
        return directory;
    }
}
