namespace Inspection.Cli;

public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Something the user can fix: a missing file, a corrupt model, a bad option. Nothing else exits with 2.</summary>
    public const int UserError = 2;
}
