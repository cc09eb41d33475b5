using TorchSharp;

namespace SimpleTransformer.Parity.Tests.Parity;

/// <summary>LibTorch's native libraries load in the test host, on systems with or without GLIBCXX_3.4.32.</summary>
[TestClass]
public sealed class TorchSharpLoadTests
{
    [TestMethod]
    public void TorchSharp_LoadsAndMultiplies()
    {
        using var a = torch.ones(2, 3);
        using var b = torch.full(3, 4, 2.0f);
        using var product = a.matmul(b);

        CollectionAssert.AreEqual(new long[] { 2, 4 }, product.shape);
        Assert.AreEqual(6.0f, product[1, 3].item<float>());
    }
}
