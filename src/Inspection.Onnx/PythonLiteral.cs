using System.Globalization;
using System.Text;

namespace Inspection.Onnx;

/// <summary>
/// Reads and writes the Python literals Ultralytics stores in ONNX metadata (<c>str(dict)</c>, <c>str(list)</c>):
/// dicts, lists, tuples, quoted strings, numbers, True, False and None.
/// </summary>
public static class PythonLiteral
{
    /// <summary>Parses a literal into Dictionary&lt;object, object?&gt;, List&lt;object?&gt;, string, long, double, bool or null.</summary>
    public static object? Parse(string text)
    {
        var reader = new Reader(text);
        var value = reader.ReadValue();
        reader.SkipSpace();
        if (!reader.AtEnd)
        {
            throw reader.Error("unexpected text after the value");
        }

        return value;
    }

    /// <summary>Python's <c>repr</c> of a string: single quotes unless the text holds one and no double quote.</summary>
    public static string Quote(string value)
    {
        var quote = value.Contains('\'') && !value.Contains('"') ? '"' : '\'';
        var builder = new StringBuilder().Append(quote);
        foreach (var c in value)
        {
            builder.Append(c switch
            {
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when c == quote => "\\" + c,
                _ => c.ToString(),
            });
        }

        return builder.Append(quote).ToString();
    }

    private sealed class Reader(string text)
    {
        private int _position;

        public bool AtEnd => _position >= text.Length;

        public object? ReadValue()
        {
            SkipSpace();
            if (AtEnd)
            {
                throw Error("the text ended where a value was expected");
            }

            var c = text[_position];
            return c switch
            {
                '{' => ReadDict(),
                '[' => ReadSequence(']'),
                '(' => ReadSequence(')'),
                '\'' or '"' => ReadString(),
                _ when c == '-' || c == '+' || char.IsAsciiDigit(c) => ReadNumber(),
                _ => ReadWord(),
            };
        }

        public void SkipSpace()
        {
            while (!AtEnd && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }

        public FormatException Error(string what) => new($"Python literal: {what} at position {_position} in \"{text}\".");

        private Dictionary<object, object?> ReadDict()
        {
            _position++;
            var dict = new Dictionary<object, object?>();
            while (true)
            {
                SkipSpace();
                if (TryTake('}'))
                {
                    return dict;
                }

                var key = ReadValue() ?? throw Error("a dict key is None");
                SkipSpace();
                Expect(':');
                dict[key] = ReadValue();
                SkipSpace();
                if (!TryTake(','))
                {
                    SkipSpace();
                    Expect('}');
                    return dict;
                }
            }
        }

        private List<object?> ReadSequence(char close)
        {
            _position++;
            var list = new List<object?>();
            while (true)
            {
                SkipSpace();
                if (TryTake(close))
                {
                    return list;
                }

                list.Add(ReadValue());
                SkipSpace();
                if (!TryTake(','))
                {
                    SkipSpace();
                    Expect(close);
                    return list;
                }
            }
        }

        private string ReadString()
        {
            var quote = text[_position++];
            var builder = new StringBuilder();
            while (!AtEnd)
            {
                var c = text[_position++];
                if (c == quote)
                {
                    return builder.ToString();
                }

                if (c == '\\' && !AtEnd)
                {
                    var escaped = text[_position++];
                    builder.Append(escaped switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => escaped });
                }
                else
                {
                    builder.Append(c);
                }
            }

            throw Error("a string is not closed");
        }

        private object ReadNumber()
        {
            var start = _position;
            while (!AtEnd && (char.IsAsciiDigit(text[_position]) || text[_position] is '-' or '+' or '.' or 'e' or 'E'))
            {
                _position++;
            }

            var token = text[start.._position];
            if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
            {
                return integer;
            }

            if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
            {
                return real;
            }

            _position = start;
            throw Error($"'{token}' is not a number");
        }

        private object? ReadWord()
        {
            var start = _position;
            while (!AtEnd && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '_'))
            {
                _position++;
            }

            return text[start.._position] switch
            {
                "True" => true,
                "False" => false,
                "None" => null,
                var word => throw Error($"unexpected '{(word.Length == 0 ? text[start].ToString() : word)}'"),
            };
        }

        private bool TryTake(char c)
        {
            if (!AtEnd && text[_position] == c)
            {
                _position++;
                return true;
            }

            return false;
        }

        private void Expect(char c)
        {
            if (!TryTake(c))
            {
                throw Error($"expected '{c}'");
            }
        }
    }
}
