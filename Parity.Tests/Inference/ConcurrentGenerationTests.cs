using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class ConcurrentGenerationTests
{
    [TestMethod]
    public void ThreadsMatchSequentialRuns()
    {
        using var model = TransformerModel.Load(InferenceModels.Directory());
        string[] prompts = ["the ", "fox", "", "日本", "over the lazy", "abc", "ä", "dog."];
        GenerationOptions OptionsFor(int i) => new() { Temperature = i % 2 == 0 ? 0 : 1.1f, Seed = i, MaxNewTokens = 30, TopP = 0.9f };
        var sequential = prompts.Select((p, i) => model.Generate(p, OptionsFor(i))).ToArray();

        var results = new GenerationResult[prompts.Length, 3];
        using var start = new Barrier(prompts.Length);
        var threads = prompts.Select((p, i) => new Thread(() =>
        {
            start.SignalAndWait();
            for (int repeat = 0; repeat < 3; repeat++)
            {
                results[i, repeat] = model.Generate(p, OptionsFor(i));
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        for (int i = 0; i < prompts.Length; i++)
        {
            for (int repeat = 0; repeat < 3; repeat++)
            {
                CollectionAssert.AreEqual(sequential[i].TokenIds.ToArray(), results[i, repeat].TokenIds.ToArray(), $"prompt {i} '{prompts[i]}', repeat {repeat}");
            }
        }
    }
}
