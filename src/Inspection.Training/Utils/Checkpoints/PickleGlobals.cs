using System.Buffers.Binary;
using System.Text;

namespace Inspection.Training.Utils.Checkpoints;

/// <summary>
/// Lists the globals (module.name) a pickle refers to without running it, so a checkpoint naming anything outside
/// the allowed set is refused before unpickling (torch.load's weights_only idea).
/// </summary>
internal static class PickleGlobals
{
    private const string Damaged = "; the file is damaged: download or copy it again";

    /// <summary>Every global the pickle names, in order; STACK_GLOBAL is refused since its name is only known by running.</summary>
    public static List<string> Scan(byte[] pickle)
    {
        var globals = new List<string>();
        var position = 0;
        while (position < pickle.Length)
        {
            var opcode = (char)pickle[position++];
            switch (opcode)
            {
                case '.': // STOP
                    return globals;
                case 'c' or 'i': // GLOBAL, INST: "module\nname\n"
                    var module = ReadLine(pickle, ref position);
                    globals.Add(module + "." + ReadLine(pickle, ref position));
                    break;
                case '\x93':
                    throw new InvalidDataException("it uses pickle protocol 4 (STACK_GLOBAL), whose names are only known by running it; re-save it with torch.save's default protocol");
                case 'F' or 'I' or 'L' or 'P' or 'S' or 'V' or 'g' or 'p':
                    ReadLine(pickle, ref position);
                    break;
                default:
                    position += ArgumentLength(opcode, pickle, position);
                    break;
            }
        }

        throw new InvalidDataException("it ends without STOP" + Damaged);
    }

    private static string ReadLine(byte[] pickle, ref int position)
    {
        var end = Array.IndexOf(pickle, (byte)'\n', position);
        if (end < 0)
        {
            throw new InvalidDataException("it ends inside a text argument" + Damaged);
        }

        var line = Encoding.UTF8.GetString(pickle, position, end - position);
        position = end + 1;
        return line;
    }

    /// <summary>Bytes after a binary opcode: fixed widths, or a length prefix followed by that many bytes.</summary>
    private static int ArgumentLength(char opcode, byte[] pickle, int position) => opcode switch
    {
        '(' or '0' or '1' or '2' or 'N' or 'Q' or 'R' or 'a' or 'b' or 'd' or '}' or 'e' or 'l' or ']' or 'o' or 's'
            or 't' or ')' or 'u' or '\x81' or '\x85' or '\x86' or '\x87' or '\x88' or '\x89' or '\x8f' or '\x90'
            or '\x91' or '\x92' or '\x94' or '\x97' or '\x98' => 0,
        'K' or 'h' or 'q' or '\x80' or '\x82' => 1,
        'M' or '\x83' => 2,
        'J' or 'j' or 'r' or '\x84' => 4,
        'G' or '\x95' => 8,
        'U' or 'C' or '\x8a' or '\x8c' => 1 + Prefix(pickle, position, 1),
        'T' or 'X' or 'B' or '\x8b' => 4 + Prefix(pickle, position, 4),
        '\x8d' or '\x8e' or '\x96' => 8 + Prefix(pickle, position, 8),
        _ => throw new InvalidDataException($"it has an unknown opcode 0x{(int)opcode:x2} at byte {position - 1}" + Damaged),
    };

    private static int Prefix(byte[] pickle, int position, int width)
    {
        if (position + width > pickle.Length)
        {
            throw new InvalidDataException("it ends inside a length" + Damaged);
        }

        var span = pickle.AsSpan(position, width);
        var length = width switch
        {
            1 => span[0],
            4 => BinaryPrimitives.ReadUInt32LittleEndian(span),
            _ => BinaryPrimitives.ReadInt64LittleEndian(span),
        };
        return length <= pickle.Length - position - width
            ? (int)length
            : throw new InvalidDataException("it ends inside a string or bytes argument" + Damaged);
    }
}
