namespace SimpleTransformer.Inference.Tokenization;

/// <summary>Converts text to token ids and back. Implementations are immutable and thread-safe.</summary>
public interface ITextTokenizer
{
    /// <summary>The tokenizer kind written to <c>tokenizer.json</c>: <c>char</c> or <c>gpt2</c>.</summary>
    string Kind { get; }

    /// <summary>Number of token ids, V.</summary>
    int VocabSize { get; }

    /// <summary>The id used to pad batches.</summary>
    int PadId { get; }

    /// <summary>The id that ends a sequence.</summary>
    int EosId { get; }

    /// <summary>Encodes text; characters outside the vocabulary map to the unknown token where the tokenizer has one.</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids to text. Special tokens (padding, end of sequence) produce no text.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// Returns the UTF-8 bytes of one token, so streaming decoders can hold back incomplete characters.
    /// Special tokens return an empty array.
    /// </summary>
    byte[] TokenBytes(int id);

    /// <summary>Serializes the tokenizer as the content of <c>tokenizer.json</c>.</summary>
    string ToJson();
}
