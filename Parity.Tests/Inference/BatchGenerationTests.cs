using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class BatchGenerationTests
{
    private static readonly string[] Prompts = ["the quick brown fox", "ab", "", "日本 äöü €", "lazy dog."];

    [TestMethod]
    [DynamicData(nameof(InferenceModels.VariantNames), typeof(InferenceModels))]
    public void GreedyRowsEqualSinglePrompts(string variant)
    {
        using var model = TransformerModel.Load(InferenceModels.Directory(variant));
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 20, StopOnEndOfSequence = false };

        var batch = model.GenerateBatch(Prompts, options);

        Assert.AreEqual(Prompts.Length, batch.Count);
        for (int i = 0; i < Prompts.Length; i++)
        {
            var single = model.Generate(Prompts[i], options);
            CollectionAssert.AreEqual(single.TokenIds.ToArray(), batch[i].TokenIds.ToArray(), $"{variant}: prompt {i} '{Prompts[i]}'");
            Assert.AreEqual(single.Text, batch[i].Text);
            Assert.AreEqual(single.PromptTokenCount, batch[i].PromptTokenCount);
        }
    }

    [TestMethod]
    public void SeededRowsEqualSinglePrompts()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        var options = new GenerationOptions { Temperature = 1.3f, TopK = 12, Seed = 5, MaxNewTokens = 25 };

        var batch = model.GenerateBatch(Prompts, options);

        for (int i = 0; i < Prompts.Length; i++)
        {
            var single = model.Generate(Prompts[i], options);
            CollectionAssert.AreEqual(single.TokenIds.ToArray(), batch[i].TokenIds.ToArray(), $"prompt {i} '{Prompts[i]}'");
            Assert.AreEqual(single.StopReason, batch[i].StopReason);
        }
    }

    [TestMethod]
    public void RowsStopIndependently()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        var greedy = new GenerationOptions { Temperature = 0, MaxNewTokens = 20, StopOnEndOfSequence = false };
        string early = model.Generate(Prompts[1], greedy).Text.Substring(2, 2);
        var options = greedy with { StopStrings = [early] };

        var batch = model.GenerateBatch(Prompts, options);

        Assert.AreEqual(StopReason.StopString, batch[1].StopReason);
        Assert.IsTrue(batch[1].TokenCount <= 4, $"prompt 1 generated {batch[1].TokenCount} tokens after its stop string");
        Assert.IsTrue(batch.Any(r => r.StopReason == StopReason.MaxNewTokens && r.TokenCount == 20), "no row continued to the token limit");
        for (int i = 0; i < Prompts.Length; i++)
        {
            var single = model.Generate(Prompts[i], options);
            Assert.AreEqual(single.Text, batch[i].Text, $"prompt {i}");
            Assert.AreEqual(single.StopReason, batch[i].StopReason, $"prompt {i}");
        }
    }

    [TestMethod]
    public void TooLongPromptNamesIndex()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        var error = Assert.ThrowsExactly<ArgumentException>(
            () => model.GenerateBatch(["ok", new string('a', 60)], new GenerationOptions { MaxNewTokens = 8 }));

        StringAssert.Contains(error.Message, "Prompt 1 has 60 tokens");
    }

    [TestMethod]
    public void EmptyBatchRejected()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());

        Assert.ThrowsExactly<ArgumentException>(() => model.GenerateBatch([]));
    }
}
