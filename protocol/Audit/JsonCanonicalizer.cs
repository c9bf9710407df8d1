using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FederatedTwin.Protocol.Audit;

/// <summary>A JSON value that RFC 8785 cannot canonicalize (duplicate names, NaN, lone surrogates).</summary>
public sealed class JsonCanonicalizationException(string message) : Exception(message)
{
    public JsonCanonicalizationException()
        : this("The JSON value cannot be canonicalized.")
    {
    }

    public JsonCanonicalizationException(string message, Exception innerException)
        : this(message + " " + innerException.Message)
    {
    }
}

/// <summary>
/// The JSON Canonicalization Scheme of RFC 8785: no whitespace; object members sorted by the UTF-16
/// code units of their names (§3.2.3); strings escaped as ECMAScript's JSON.stringify does (§3.2.2.2);
/// numbers as IEEE-754 doubles written the way ECMAScript's Number.prototype.toString writes them
/// (§3.2.2.3). Audit entries are hashed over this form, so two writers that agree on the values
/// agree on the bytes.
/// </summary>
public static class JsonCanonicalizer
{
    public static byte[] Canonicalize(JsonNode? node)
    {
        var builder = new StringBuilder();
        Write(builder, node);
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    public static string CanonicalString(JsonNode? node)
    {
        var builder = new StringBuilder();
        Write(builder, node);
        return builder.ToString();
    }

    /// <summary>Parses JSON text (refusing duplicate member names, which RFC 8785 §3.1 forbids) and returns its canonical form.</summary>
    public static string CanonicalString(string json)
    {
        using var document = JsonDocument.Parse(json);
        var builder = new StringBuilder();
        Write(builder, document.RootElement);
        return builder.ToString();
    }

    private static void Write(StringBuilder output, JsonNode? node)
    {
        switch (node)
        {
            case null:
                output.Append("null");
                break;
            case JsonObject obj:
                var members = obj.Select(p => p.Key).ToList();
                members.Sort(string.CompareOrdinal);
                output.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0)
                    {
                        output.Append(',');
                    }

                    WriteString(output, members[i]);
                    output.Append(':');
                    Write(output, obj[members[i]]);
                }

                output.Append('}');
                break;
            case JsonArray array:
                output.Append('[');
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        output.Append(',');
                    }

                    Write(output, array[i]);
                }

                output.Append(']');
                break;
            case JsonValue value:
                using (var document = JsonDocument.Parse(value.ToJsonString()))
                {
                    Write(output, document.RootElement);
                }

                break;
        }
    }

    private static void Write(StringBuilder output, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var members = new List<(string Name, JsonElement Value)>();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    if (!seen.Add(property.Name))
                    {
                        throw new JsonCanonicalizationException($"Duplicate member name '{property.Name}' (RFC 8785 §3.1 requires unique names).");
                    }

                    members.Add((property.Name, property.Value));
                }

                members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                output.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0)
                    {
                        output.Append(',');
                    }

                    WriteString(output, members[i].Name);
                    output.Append(':');
                    Write(output, members[i].Value);
                }

                output.Append('}');
                break;
            case JsonValueKind.Array:
                output.Append('[');
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        output.Append(',');
                    }

                    first = false;
                    Write(output, item);
                }

                output.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(output, element.GetString()!);
                break;
            case JsonValueKind.Number:
                output.Append(FormatNumber(element.GetDouble()));
                break;
            case JsonValueKind.True:
                output.Append("true");
                break;
            case JsonValueKind.False:
                output.Append("false");
                break;
            case JsonValueKind.Null:
                output.Append("null");
                break;
            default:
                throw new JsonCanonicalizationException($"Unexpected JSON value kind {element.ValueKind}.");
        }
    }

    /// <summary>RFC 8785 §3.2.2.2: the two-character escapes of JSON.stringify, \u00xx (lowercase) for other controls, everything else literal.</summary>
    private static void WriteString(StringBuilder output, string value)
    {
        output.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    throw new JsonCanonicalizationException("A string holds a lone surrogate, which has no UTF-8 form (RFC 8785 §3.2.2.2).");
                }

                output.Append(c).Append(value[++i]);
                continue;
            }

            if (char.IsLowSurrogate(c))
            {
                throw new JsonCanonicalizationException("A string holds a lone surrogate, which has no UTF-8 form (RFC 8785 §3.2.2.2).");
            }

            switch (c)
            {
                case '"':
                    output.Append("\\\"");
                    break;
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\b':
                    output.Append("\\b");
                    break;
                case '\f':
                    output.Append("\\f");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '\r':
                    output.Append("\\r");
                    break;
                case '\t':
                    output.Append("\\t");
                    break;
                default:
                    if (c < 0x20)
                    {
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        output.Append(c);
                    }

                    break;
            }
        }

        output.Append('"');
    }

    /// <summary>
    /// ECMAScript Number::toString (ECMA-262 §6.1.6.1.20, which RFC 8785 §3.2.2.3 adopts) from the
    /// shortest round-trip digits .NET produces: with k digits and decimal exponent n (value =
    /// 0.digits × 10^n), fixed notation when −6 &lt; n ≤ 21, otherwise d.ddde±x.
    /// </summary>
    public static string FormatNumber(double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            throw new JsonCanonicalizationException("NaN and infinities have no JSON form (RFC 8785 §3.2.2.3).");
        }

        if (value == 0)
        {
            return "0"; // also -0
        }

        if (value < 0)
        {
            return "-" + FormatNumber(-value);
        }

        var roundTrip = value.ToString("R", CultureInfo.InvariantCulture);
        var e = roundTrip.IndexOfAny(['E', 'e']);
        var mantissa = e < 0 ? roundTrip : roundTrip[..e];
        var exponent = e < 0 ? 0 : int.Parse(roundTrip[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        var digits = point < 0 ? mantissa : mantissa.Remove(point, 1);
        var n = (point < 0 ? mantissa.Length : point) + exponent;
        var leading = digits.Length - digits.TrimStart('0').Length;
        digits = digits.TrimStart('0');
        n -= leading;
        digits = digits.TrimEnd('0');
        var k = digits.Length;

        if (k <= n && n <= 21)
        {
            return digits + new string('0', n - k);
        }

        if (0 < n && n <= 21)
        {
            return digits[..n] + "." + digits[n..];
        }

        if (-6 < n && n <= 0)
        {
            return "0." + new string('0', -n) + digits;
        }

        var e10 = n - 1;
        var sign = e10 < 0 ? "-" : "+";
        var magnitude = Math.Abs(e10).ToString(CultureInfo.InvariantCulture);
        return k == 1 ? $"{digits}e{sign}{magnitude}" : $"{digits[0]}.{digits[1..]}e{sign}{magnitude}";
    }
}
