using SimpleTransformer.Inference.Generation;

namespace SimpleTransformer.Parity.Tests.Inference;

[TestClass]
public sealed class GenerationOptionsTests
{
    [TestMethod]
    public void DefaultsAreValid()
    {
        new GenerationOptions().Validate();
    }

    [TestMethod]
    [DataRow(nameof(GenerationOptions.MaxNewTokens), "0")]
    [DataRow(nameof(GenerationOptions.Temperature), "-0.1")]
    [DataRow(nameof(GenerationOptions.Temperature), "NaN")]
    [DataRow(nameof(GenerationOptions.Temperature), "Infinity")]
    [DataRow(nameof(GenerationOptions.TopK), "-1")]
    [DataRow(nameof(GenerationOptions.TopP), "0")]
    [DataRow(nameof(GenerationOptions.TopP), "1.01")]
    [DataRow(nameof(GenerationOptions.TopP), "NaN")]
    [DataRow(nameof(GenerationOptions.RepetitionPenalty), "0")]
    public void OutOfRangeValueNamesItself(string property, string value)
    {
        var options = property switch
        {
            nameof(GenerationOptions.MaxNewTokens) => new GenerationOptions { MaxNewTokens = int.Parse(value) },
            nameof(GenerationOptions.Temperature) => new GenerationOptions { Temperature = float.Parse(value) },
            nameof(GenerationOptions.TopK) => new GenerationOptions { TopK = int.Parse(value) },
            nameof(GenerationOptions.TopP) => new GenerationOptions { TopP = float.Parse(value) },
            _ => new GenerationOptions { RepetitionPenalty = float.Parse(value) },
        };

        var error = Assert.ThrowsExactly<ArgumentOutOfRangeException>(options.Validate);

        Assert.AreEqual(property, error.ParamName);
        StringAssert.Contains(error.Message, $"{property} is {value}");
    }

    [TestMethod]
    public void EmptyStopStringRejected()
    {
        var options = new GenerationOptions { StopStrings = ["ok", ""] };

        var error = Assert.ThrowsExactly<ArgumentException>(options.Validate);

        StringAssert.Contains(error.Message, "StopStrings[1] is empty");
    }

    [TestMethod]
    public void BoundaryValuesAccepted()
    {
        new GenerationOptions { MaxNewTokens = 1, Temperature = 0, TopK = 0, TopP = 1, RepetitionPenalty = 0.5f }.Validate();
        new GenerationOptions { TopP = 1e-6f, TopK = 1 }.Validate();
    }
}
