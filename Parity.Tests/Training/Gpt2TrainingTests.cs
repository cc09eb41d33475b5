using SimpleTransformer.Inference.Models;
using SimpleTransformer.Inference.Tokenization;
using SimpleTransformer.Parity.Tests.Export;
using SimpleTransformer.Training;
using SimpleTransformer.Training.Trainer;

namespace SimpleTransformer.Parity.Tests.TrainingTests;

// Seeds LibTorch's process-wide random generator, so it must not run beside other tests that draw from it.
[TestClass]
[DoNotParallelize]
public sealed class Gpt2TrainingTests
{
    [TestMethod]
    public void Gpt2Run_SavesTokenizerAndResumes()
    {
        using var scratch = new ScratchDirectory("gpt2-run");
        string corpus = TrainingFixtures.WriteCorpus(scratch.Path);
        string run = Path.Combine(scratch.Path, "run");
        var options = TrainingFixtures.TinyOptions(maxSteps: 3) with { Tokenizer = TokenizerKind.Gpt2, CheckpointInterval = 2, KeepLast = 2 };

        var first = Trainer.Run(new TrainRequest { RunDirectory = run, CorpusPath = corpus, Preset = new Preset(TrainingFixtures.TinyModel(), options), StopAfterStep = 2 }, _ => { });
        var resumed = Trainer.Run(new TrainRequest { RunDirectory = run, Resume = true }, _ => { });

        Assert.AreEqual("""{"type":"gpt2"}""", File.ReadAllText(Path.Combine(first.LastCheckpoint, TokenizerFile.FileName)));
        Assert.AreEqual(50257, ModelConfig.Load(first.LastCheckpoint).VocabSize);
        Assert.AreSame(Gpt2Tokenizer.Instance, TokenizerFile.Load(resumed.LastCheckpoint));
        CollectionAssert.AreEqual(new long[] { 3 }, resumed.Losses.Select(l => l.Step).ToArray());
        Assert.IsTrue(double.IsFinite(resumed.Losses[0].Loss));
    }

    [TestMethod]
    public void TrainCommand_TokenizerWithResume_IsRejected()
    {
        using var scratch = new ScratchDirectory("gpt2-resume-flag");

        var (exitCode, _, error) = TrainingFixtures.RunProgram(TimeSpan.FromMinutes(1),
            "train", "--output", scratch.Path, "--resume", "--tokenizer", "gpt2");

        Assert.AreEqual(1, exitCode);
        StringAssert.Contains(error, "--tokenizer applies to new runs only");
    }
}
