using System.Text.RegularExpressions;
using Spectre.Console.Testing;

namespace Inspection.Cli.Tests;

/// <summary>The progress display's terminal mode, drawn on Spectre's test console.</summary>
public sealed partial class ConsoleProgressTests
{
    [Fact]
    public void On_a_terminal_a_bar_advances_and_ends_at_100_percent()
    {
        using var terminal = new TestConsole().Interactive().EmitAnsiSequences().Width(100);
        using (var progress = new ConsoleProgress(terminal))
        {
            var bar = progress.Add("val", "images");
            bar.Count(5, 10);
            bar.Count(10, 10);
        }

        var frames = Frames(terminal.Output);
        Assert.Matches(@"^val ━{20}  50% images 5/10  [0-9.]+ images/s$", frames[0]); // the first update is drawn at once
        Assert.Matches(@"^val ━{20} 100% images 10/10  [0-9.]+ images/s$", frames[^1]);
        Assert.Contains("\u001b[", terminal.Output, StringComparison.Ordinal); // a live display, redrawn in place
    }

    [Fact]
    public void A_finished_bar_with_a_summary_leaves_the_summary_line_above_the_other_bars()
    {
        using var terminal = new TestConsole().Interactive().EmitAnsiSequences().Width(100);
        using (var progress = new ConsoleProgress(terminal))
        {
            var phases = progress.Add("retrain");
            phases.Show(1, 5, "2/5 train");
            var epoch = progress.Add("epoch 1/2");
            epoch.Show(3, 3, "3/3 batches");
            epoch.Finish("epoch 1/2  mAP50 0.500");
        }

        var frames = Frames(terminal.Output);
        Assert.Contains("epoch 1/2  mAP50 0.500", frames);
        Assert.Matches(@"^retrain ━{20}  20% 2/5 train$", frames[^1]);
        Assert.DoesNotContain(frames.SkipWhile(f => f != "epoch 1/2  mAP50 0.500"), f => f.StartsWith("epoch 1/2 ━", StringComparison.Ordinal));
    }

    /// <summary>What the terminal showed, line by line and redraw by redraw, without escapes and padding.</summary>
    private static List<string> Frames(string output) => [.. Escapes().Replace(output, string.Empty)
        .Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)
        .Select(line => line.TrimEnd())
        .Where(line => line.Length > 0)];

    [GeneratedRegex(@"\u001b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex Escapes();
}
