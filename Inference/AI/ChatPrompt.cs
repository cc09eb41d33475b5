using Microsoft.Extensions.AI;

namespace SimpleTransformer.Inference.AI;

/// <summary>
/// The prompt format of <see cref="TransformerChatClient"/>. The models are plain language models without a chat
/// template, so a conversation becomes the text a document would contain: <see cref="ChatOptions.Instructions"/>
/// first when set, then the text of every message in order, joined by <see cref="Separator"/>. Roles and author names
/// are not written, and no separator follows the last message.
/// </summary>
internal static class ChatPrompt
{
    /// <summary>The text placed between the instructions and messages: one line feed.</summary>
    public const string Separator = "\n";

    /// <summary>Builds the prompt text of a request.</summary>
    /// <exception cref="ArgumentException">A message is null.</exception>
    /// <exception cref="NotSupportedException">A message contains content other than text.</exception>
    public static string Build(IEnumerable<ChatMessage> messages, string? instructions)
    {
        ArgumentNullException.ThrowIfNull(messages);

        var parts = new List<string>();
        if (!string.IsNullOrEmpty(instructions))
        {
            parts.Add(instructions);
        }

        int index = 0;
        foreach (var message in messages)
        {
            if (message is null)
            {
                throw new ArgumentException($"Message {index} is null. Remove it or pass a ChatMessage.", nameof(messages));
            }

            CheckTextOnly(message, index);
            parts.Add(message.Text);
            index++;
        }

        return string.Join(Separator, parts);
    }

    // Usage reports are metadata that ToChatResponse may leave in a message, so they are skipped. Any other
    // non-text content would be dropped silently by ChatMessage.Text, so it is rejected.
    private static void CheckTextOnly(ChatMessage message, int index)
    {
        foreach (var content in message.Contents)
        {
            if (content is not (TextContent or UsageContent))
            {
                throw new NotSupportedException(
                    $"Message {index} ({message.Role}) contains {content.GetType().Name}, but the model reads text only. " +
                    "Remove that content or convert it to TextContent.");
            }
        }
    }
}
