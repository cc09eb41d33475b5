using SimpleTransformer.Inference;
using SimpleTransformer.Inference.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Checkpoints;

/// <summary>Moves weights between TorchSharp modules and named fp32 tensors, by the shared tensor names.</summary>
public static class ModelWeights
{
    /// <summary>Copies every persistent tensor of <paramref name="module"/> to managed memory, in state-dict order.</summary>
    public static List<NamedTensor> ToNamedTensors(nn.Module module)
    {
        var list = new List<NamedTensor>();
        foreach (var (name, value) in module.state_dict())
        {
            list.Add(ToNamedTensor(name, value));
        }

        return list;
    }

    /// <summary>Copies one tensor to managed memory as fp32.</summary>
    public static NamedTensor ToNamedTensor(string name, Tensor value)
    {
        using var cpu = value.detach().to(float32).cpu().contiguous();
        return new NamedTensor(name, cpu.shape, cpu.data<float>().ToArray());
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> into the model after checking that names and shapes match its
    /// configuration exactly; <paramref name="source"/> names the file in errors.
    /// </summary>
    public static void Load(Model.SimpleTransformer model, IReadOnlyDictionary<string, NamedTensor> tensors, string source)
    {
        TensorLayout.Check(model.Config, tensors, source);
        CopyInto(model, tensors);
    }

    /// <summary>Copies same-named tensors into the module's state dict (names must exist in both).</summary>
    public static void CopyInto(nn.Module module, IReadOnlyDictionary<string, NamedTensor> tensors)
    {
        using var noGrad = no_grad();
        foreach (var (name, target) in module.state_dict())
        {
            var source = tensors[name];
            using var value = tensor(source.Data, source.Shape, dtype: float32);
            target.copy_(value);
        }
    }
}
