using Google.Protobuf;
using Onnx;

namespace Inspection.Onnx;

/// <summary>Loads an ONNX file into its protobuf form, turning every way a file can be wrong into a <see cref="ModelFormatException"/>.</summary>
public static class OnnxModelFile
{
    public static ModelProto Load(string path)
    {
        if (Directory.Exists(path))
        {
            throw new ModelFormatException($"Model '{path}' is a folder; give the path of an .onnx file.");
        }

        if (!File.Exists(path))
        {
            throw new ModelFormatException($"Model '{path}' does not exist; check the path (relative paths start from {Environment.CurrentDirectory}).");
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException($"Model '{path}' cannot be read: {e.Message}", e);
        }

        return Parse(bytes, path);
    }

    public static ModelProto Parse(byte[] bytes, string source)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelFormatException(
                $"Model '{source}' is not a readable ONNX file ({FirstLine(e.Message)}); it may be truncated or another format. Export it again with Ultralytics (format=onnx).", e);
        }

        if (model.IrVersion <= 0 || model.Graph is null || model.Graph.Node.Count == 0 || model.Graph.Input.Count == 0 || model.Graph.Output.Count == 0)
        {
            throw new ModelFormatException(
                $"Model '{source}' is not an ONNX model (no graph with inputs, outputs and nodes was found); it may be truncated or another format.");
        }

        return model;
    }

    /// <summary>The version of the default ("ai.onnx") operator set the model imports.</summary>
    public static long DefaultOpset(ModelProto model) =>
        model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();

    public static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
