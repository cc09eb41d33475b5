using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class TokenSamplerTests
{
    private const int Draws = 40_000;

    // Distinct logits, with a tie between ids 2 and 5 to check the tie order.
    private static readonly float[] Logits = [1.0f, -0.5f, 2.0f, 0.3f, -2.0f, 2.0f, 0.9f, -1.0f];

    [TestMethod]
    public void TemperatureZeroTakesArgMax()
    {
        var sampler = new TokenSampler(Logits.Length, new GenerationOptions { Temperature = 0 }, new Random(1));

        Assert.AreEqual(2, sampler.Next(Logits, []), "ids 2 and 5 tie; the lower id wins");
    }

    [TestMethod]
    public void TopKOneEqualsGreedy()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 200; trial++)
        {
            float[] logits = RandomLogits(random, 50);
            var sampler = new TokenSampler(logits.Length, new GenerationOptions { Temperature = 1.7f, TopK = 1 }, new Random(trial));

            Assert.AreEqual(TokenSampler.ArgMax(logits), sampler.Next(logits, []), $"trial {trial}");
        }
    }

    [TestMethod]
    [DataRow(1.0f)]
    [DataRow(0.5f)]
    [DataRow(2.0f)]
    public void TemperatureMatchesSoftmax(float temperature)
    {
        double[] expected = Reference(Logits, temperature, topK: 0, topP: 1);

        AssertFrequencies(expected, new GenerationOptions { Temperature = temperature, Seed = 11 });
    }

    [TestMethod]
    [DataRow(3)]
    [DataRow(5)]
    public void TopKMatchesRestrictedSoftmax(int topK)
    {
        double[] expected = Reference(Logits, 0.8f, topK, topP: 1);

        AssertFrequencies(expected, new GenerationOptions { Temperature = 0.8f, TopK = topK });
    }

    [TestMethod]
    [DataRow(0.5f)]
    [DataRow(0.9f)]
    public void TopPMatchesNucleus(float topP)
    {
        double[] expected = Reference(Logits, 1.2f, topK: 0, topP);

        AssertFrequencies(expected, new GenerationOptions { Temperature = 1.2f, TopP = topP });
    }

    [TestMethod]
    public void TopKAndTopPCombine()
    {
        double[] expected = Reference(Logits, 1.5f, topK: 4, topP: 0.8f);

        AssertFrequencies(expected, new GenerationOptions { Temperature = 1.5f, TopK = 4, TopP = 0.8f });
    }

    [TestMethod]
    public void TopPSearchWidensOnLargeVocabulary()
    {
        // A flat distribution over 1000 ids: the nucleus of p = 0.95 needs 950 ids, more than the first search ranks.
        var logits = new float[1000];
        logits[17] = 0.5f;
        var sampler = new TokenSampler(logits.Length, new GenerationOptions { TopP = 0.95f }, new Random(5));
        var seen = new HashSet<int>();
        for (int i = 0; i < 20_000; i++)
        {
            seen.Add(sampler.Next(logits, []));
        }

        double[] expected = Reference(logits, 1, topK: 0, topP: 0.95f);
        int nucleus = expected.Count(p => p > 0);
        Assert.IsTrue(nucleus > 900, $"nucleus has {nucleus} ids");
        Assert.IsTrue(seen.All(id => expected[id] > 0), "an id outside the nucleus was drawn");
        Assert.IsTrue(seen.Count > 0.95 * nucleus, $"only {seen.Count} of {nucleus} nucleus ids were drawn");
    }

    [TestMethod]
    public void TinyTopPKeepsOnlyTheBest()
    {
        var sampler = new TokenSampler(Logits.Length, new GenerationOptions { TopP = 1e-6f }, new Random(2));
        for (int i = 0; i < 100; i++)
        {
            Assert.AreEqual(2, sampler.Next(Logits, []));
        }
    }

    [TestMethod]
    public void SameSeedSameDraws()
    {
        var options = new GenerationOptions { Temperature = 1.3f, TopK = 6, TopP = 0.95f };
        var first = new TokenSampler(Logits.Length, options, new Random(42));
        var second = new TokenSampler(Logits.Length, options, new Random(42));
        var other = new TokenSampler(Logits.Length, options, new Random(43));

        int[] a = [.. Enumerable.Range(0, 200).Select(_ => first.Next(Logits, []))];
        int[] b = [.. Enumerable.Range(0, 200).Select(_ => second.Next(Logits, []))];
        int[] c = [.. Enumerable.Range(0, 200).Select(_ => other.Next(Logits, []))];

        CollectionAssert.AreEqual(a, b);
        CollectionAssert.AreNotEqual(a, c);
    }

    [TestMethod]
    public void RepetitionPenaltyDividesPositiveMultipliesNegative()
    {
        float[] logits = [2.0f, -1.0f, 0.5f, 0.0f];

        TokenSampler.ApplyRepetitionPenalty(logits, [0, 1, 3], 2.0f);

        CollectionAssert.AreEqual(new[] { 1.0f, -2.0f, 0.5f, 0.0f }, logits);
    }

    [TestMethod]
    public void RepetitionPenaltyChangesGreedyChoice()
    {
        float[] logits = [3.0f, 2.0f, -1.0f];
        var sampler = new TokenSampler(logits.Length, new GenerationOptions { Temperature = 0, RepetitionPenalty = 2.0f }, new Random(0));

        Assert.AreEqual(0, sampler.Next(logits, []));
        Assert.AreEqual(1, sampler.Next(logits, [0]), "3 / 2 = 1.5 is below 2");
    }

    [TestMethod]
    public void PenalizedDistributionMatchesSoftmax()
    {
        float[] penalized = [.. Logits];
        TokenSampler.ApplyRepetitionPenalty(penalized, [2, 4, 5], 1.5f);
        double[] expected = Reference(penalized, 1, topK: 0, topP: 1);

        AssertFrequencies(expected, new GenerationOptions { RepetitionPenalty = 1.5f }, previous: [2, 4, 5]);
    }

    [TestMethod]
    public void NaNLogitThrows()
    {
        float[] logits = [0.1f, float.NaN, 0.3f];
        var sampler = new TokenSampler(logits.Length, new GenerationOptions(), new Random(0));

        var error = Assert.ThrowsExactly<InvalidOperationException>(() => sampler.Next(logits, []));
        StringAssert.Contains(error.Message, "token id 1");
    }

    [TestMethod]
    public void TopCandidatesSortedWithTies()
    {
        float[] scores = [0.5f, 3f, 1f, 3f, -2f, 1f];
        var destination = new int[scores.Length];

        TopCandidates.Select(scores, destination, 4);

        CollectionAssert.AreEqual(new[] { 1, 3, 2, 5 }, destination[..4]);
    }

    [TestMethod]
    public void TopCandidatesMatchFullSort()
    {
        var random = new Random(9);
        for (int trial = 0; trial < 50; trial++)
        {
            float[] scores = [.. Enumerable.Range(0, 300).Select(_ => (float)Math.Round(random.NextDouble() * 20, 1))];
            int count = 1 + random.Next(scores.Length);
            int[] expected = [.. Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(count)];
            var actual = new int[scores.Length];

            TopCandidates.Select(scores, actual, count);

            CollectionAssert.AreEqual(expected, actual[..count], $"trial {trial}, count {count}");
        }
    }

    // Draws many tokens and checks each frequency against the expected probability within 5 standard errors
    // (plus a small floor), and that ids with probability 0 never appear.
    private static void AssertFrequencies(double[] expected, GenerationOptions options, int[]? previous = null)
    {
        var sampler = new TokenSampler(expected.Length, options, new Random(options.Seed ?? 123));
        var counts = new int[expected.Length];
        for (int i = 0; i < Draws; i++)
        {
            counts[sampler.Next(Logits, previous ?? [])]++;
        }

        for (int id = 0; id < expected.Length; id++)
        {
            double frequency = (double)counts[id] / Draws;
            if (expected[id] == 0)
            {
                Assert.AreEqual(0, counts[id], $"id {id} is outside the allowed set but was drawn {counts[id]} times");
                continue;
            }

            double tolerance = 5 * Math.Sqrt(expected[id] * (1 - expected[id]) / Draws) + 1e-3;
            Assert.AreEqual(expected[id], frequency, tolerance, $"id {id}: expected probability {expected[id]:F4}, drew {frequency:F4}");
        }
    }

    // Probabilities written out independently of the sampler: softmax(logits / T), restricted to the top k ids and then
    // to the smallest prefix (by descending probability, lower id first on ties) whose mass reaches p, renormalized.
    private static double[] Reference(float[] logits, float temperature, int topK, float topP)
    {
        int[] order = [.. Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i)];
        int keep = topK > 0 ? Math.Min(topK, logits.Length) : logits.Length;
        double max = logits.Max() / (double)temperature;
        double[] weights = [.. order.Take(keep).Select(i => Math.Exp(logits[i] / (double)temperature - max))];
        double total = weights.Sum();

        int nucleus = keep;
        double cumulative = 0;
        for (int i = 0; i < keep; i++)
        {
            cumulative += weights[i] / total;
            if (cumulative >= topP)
            {
                nucleus = i + 1;
                break;
            }
        }

        double nucleusMass = weights.Take(nucleus).Sum();
        var probabilities = new double[logits.Length];
        for (int i = 0; i < nucleus; i++)
        {
            probabilities[order[i]] = weights[i] / nucleusMass;
        }

        return probabilities;
    }

    private static float[] RandomLogits(Random random, int count) =>
        [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 8 - 4))];
}
