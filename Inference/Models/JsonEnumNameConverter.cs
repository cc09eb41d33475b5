using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SimpleTransformer.Inference.Models;

/// <summary>
/// Reads and writes an enum as exactly one of its <see cref="JsonStringEnumMemberNameAttribute"/> names.
/// Unlike <see cref="JsonStringEnumConverter{TEnum}"/>, it rejects integers (<c>1</c>), numeric strings
/// (<c>"1"</c>) and comma-separated lists (<c>"gelu, relu"</c>), which that converter turns into a member
/// silently.
/// </summary>
public sealed class JsonEnumNameConverter<TEnum> : JsonConverter<TEnum> where TEnum : struct, Enum
{
    private static readonly (TEnum Value, string Name)[] Members = [.. typeof(TEnum)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(field => ((TEnum)field.GetValue(null)!, field.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? field.Name))];

    private static readonly string Expected = string.Join(", ", Members.Select(m => $"\"{m.Name}\""));

    /// <inheritdoc/>
    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"Expected one of {Expected} for {typeof(TEnum).Name}, found a JSON {reader.TokenType}.");
        }

        string? text = reader.GetString();
        foreach (var (value, name) in Members)
        {
            if (string.Equals(name, text, StringComparison.Ordinal))
            {
                return value;
            }
        }

        throw new JsonException($"\"{text}\" is not a {typeof(TEnum).Name}; expected one of {Expected}.");
    }

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options)
    {
        foreach (var (member, name) in Members)
        {
            if (EqualityComparer<TEnum>.Default.Equals(member, value))
            {
                writer.WriteStringValue(name);
                return;
            }
        }

        // An undefined value (from an unvalidated record) is written as its number, which Read rejects.
        writer.WriteNumberValue(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
    }
}
