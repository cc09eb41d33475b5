using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SimpleTransformer.Training.Optimization;

/// <summary>
/// AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", 2019) with two parameter groups:
/// matrices (embeddings and linear weights, rank ≥ 2) receive weight decay, biases and LayerNorm parameters do not.
/// The moments are named after their parameters so they can be saved and restored exactly.
/// Each step computes, for parameter p with gradient g at step t:
/// <c>m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) + lr·λ·p</c>,
/// the same update as <c>torch.optim.AdamW</c>.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<(string Name, Parameter Parameter, bool Decay)> _parameters;
    private readonly Dictionary<string, (Tensor ExpAvg, Tensor ExpAvgSq)> _state = new(StringComparer.Ordinal);

    /// <summary>Creates the optimizer over named parameters; each distinct parameter object is optimized once.</summary>
    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, double beta1, double beta2, double epsilon, double weightDecay)
    {
        var seen = new HashSet<IntPtr>();
        _parameters = [.. parameters
            .Where(p => p.Parameter.requires_grad && seen.Add(p.Parameter.Handle))
            .Select(p => (p.Name, p.Parameter, p.Parameter.dim() >= 2))];
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }

    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }

    /// <summary>Denominator term that keeps the update finite.</summary>
    public double Epsilon { get; }

    /// <summary>Decoupled weight decay λ applied to rank ≥ 2 parameters.</summary>
    public double WeightDecay { get; }

    /// <summary>Number of updates applied so far, t.</summary>
    public long StepCount { get; private set; }

    /// <summary>The optimized parameters with their names and whether they decay.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter, bool Decay)> Parameters => _parameters;

    /// <summary>Applies one update with learning rate <paramref name="learningRate"/> to every parameter that has a gradient.</summary>
    public void Step(double learningRate)
    {
        StepCount++;
        double correction1 = 1 - Math.Pow(Beta1, StepCount);
        double correction2 = 1 - Math.Pow(Beta2, StepCount);
        using var noGrad = no_grad();
        foreach (var (name, parameter, decay) in _parameters)
        {
            var grad = parameter.grad;
            if (grad is null)
            {
                continue;
            }

            if (!_state.TryGetValue(name, out var moments))
            {
                moments = (zeros_like(parameter).DetachFromDisposeScope(), zeros_like(parameter).DetachFromDisposeScope());
                _state[name] = moments;
            }

            if (decay && WeightDecay > 0)
            {
                parameter.mul_(1 - learningRate * WeightDecay);
            }

            moments.ExpAvg.mul_(Beta1).add_(grad, alpha: 1 - Beta1);
            moments.ExpAvgSq.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
            using var denominator = (moments.ExpAvgSq / correction2).sqrt_().add_(Epsilon);
            parameter.addcdiv_(moments.ExpAvg, denominator, value: -learningRate / correction1);
        }
    }

    /// <summary>Clears every gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, parameter, _) in _parameters)
        {
            parameter.grad?.zero_();
        }
    }

    /// <summary>Returns the moments as tensors named <c>exp_avg.{name}</c> and <c>exp_avg_sq.{name}</c>.</summary>
    public IEnumerable<(string Name, Tensor Value)> StateTensors()
    {
        foreach (var (name, _, _) in _parameters)
        {
            if (_state.TryGetValue(name, out var moments))
            {
                yield return ($"exp_avg.{name}", moments.ExpAvg);
                yield return ($"exp_avg_sq.{name}", moments.ExpAvgSq);
            }
        }
    }

    /// <summary>Restores moments saved by <see cref="StateTensors"/> and the step count.</summary>
    public void LoadState(IReadOnlyDictionary<string, Inference.NamedTensor> tensors, long stepCount, string source)
    {
        foreach (var (name, parameter, _) in _parameters)
        {
            if (!tensors.TryGetValue($"exp_avg.{name}", out var avg) || !tensors.TryGetValue($"exp_avg_sq.{name}", out var avgSq))
            {
                throw new Inference.InvalidCheckpointException($"Invalid optimizer state '{source}': the moments of '{name}' are missing.");
            }

            if (!avg.Shape.SequenceEqual(parameter.shape) || !avgSq.Shape.SequenceEqual(parameter.shape))
            {
                throw new Inference.InvalidCheckpointException(
                    $"Invalid optimizer state '{source}': the moments of '{name}' have shape [{string.Join(", ", avg.Shape)}], expected [{string.Join(", ", parameter.shape)}].");
            }

            _state[name] = (tensor(avg.Data, avg.Shape).DetachFromDisposeScope(), tensor(avgSq.Data, avgSq.Shape).DetachFromDisposeScope());
        }

        StepCount = stepCount;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var (avg, avgSq) in _state.Values)
        {
            avg.Dispose();
            avgSq.Dispose();
        }

        _state.Clear();
    }
}
