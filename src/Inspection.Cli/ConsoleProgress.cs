using System.Diagnostics;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Inspection.Cli;

/// <summary>
/// What a command shows a person while it works, on stderr (stdout keeps only results). On a terminal: live
/// Spectre progress bars, with log lines and results written meanwhile put above them. Elsewhere (stderr
/// redirected, <c>CI</c> set, <c>TERM=dumb</c>): plain lines without escapes, at most one per bar every
/// <see cref="PlainInterval"/> and each bar's last, so logs and CI stay readable.
/// </summary>
internal sealed partial class ConsoleProgress : IDisposable
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan TerminalInterval = TimeSpan.FromMilliseconds(100);

    private readonly object _lock = new();
    private readonly List<Bar> _bars = [];
    private readonly IAnsiConsole? _terminal;
    private readonly ProgressContext? _context;
    private readonly TaskCompletionSource _stop = new();
    private readonly Task? _display;
    private readonly Timer? _heldBack;
    private long _renderedAt;
    private bool _stopped;
    private (TextWriter Out, TextWriter Error, TextWriter Lines)? _captured;

    /// <param name="terminal">The terminal to draw bars on; null for plain lines on <see cref="Console.Error"/>.</param>
    internal ConsoleProgress(IAnsiConsole? terminal)
    {
        _terminal = terminal;
        if (terminal is null)
        {
            return;
        }

        var started = new TaskCompletionSource<ProgressContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Drawn when something changes (Render), not on Spectre's timer: between updates there is nothing new to draw.
        _display = new Progress(terminal) { AutoRefresh = false, ExcludeVerticalPadding = true }
            .Columns(new OneLineColumn(task => task.Description), new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new OneLineColumn(task => task.Tag as string ?? string.Empty))
            .StartAsync(context =>
            {
                started.SetResult(context);
                return _stop.Task;
            });
        Task.WaitAny(started.Task, _display);
        if (_display.IsFaulted)
        {
            _display.GetAwaiter().GetResult(); // a display that could not start throws here, not in a wait that never ends
        }

        _context = started.Task.Result;
        _heldBack = new Timer(_ => Render(now: true));
    }

    /// <summary>Runs <paramref name="work"/> with progress shown; the display ends before the caller prints results.</summary>
    public static T Run<T>(Func<ConsoleProgress, T> work)
    {
        using var progress = Start();
        return work(progress);
    }

    /// <inheritdoc cref="Run{T}"/>
    public static async Task<T> RunAsync<T>(Func<ConsoleProgress, Task<T>> work)
    {
        using var progress = Start();
        return await work(progress).ConfigureAwait(false);
    }

    /// <summary>A new bar below the others; <paramref name="unit"/> names what <see cref="Bar.Count"/> counts.</summary>
    public Bar Add(string description, string unit = "items")
    {
        lock (_lock)
        {
            var bar = new Bar(this, description, unit, _context?.AddTask(description, autoStart: true, maxValue: 1));
            _bars.Add(bar);
            return bar;
        }
    }

    /// <summary>Ends the display: bars stay as they were; in plain mode each bar's last state not yet printed is.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var bar in _bars)
            {
                bar.PrintPending();
            }

            _stopped = true;
        }

        _heldBack?.Dispose();
        if (_captured is not { } captured)
        {
            _stop.TrySetResult();
            _display?.GetAwaiter().GetResult();
            return;
        }

        Console.SetOut(captured.Out);
        Console.SetError(captured.Error);
        // Spectre's last redraw and a line written meanwhile take its locks in opposite orders, so no line may be on
        // its way: a writer from TextWriter.Synchronized holds its own lock while it writes.
        lock (captured.Lines)
        {
            _stop.TrySetResult();
            _display?.GetAwaiter().GetResult();
        }

        captured.Lines.Flush();
    }

    private static ConsoleProgress Start()
    {
        var terminal = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("CI") is null && Environment.GetEnvironmentVariable("TERM") != "dumb";
        if (!terminal)
        {
            return new ConsoleProgress(null);
        }

        var progress = new ConsoleProgress(AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(Console.Error),
        }));
        progress.CaptureConsole();
        return progress;
    }

    /// <summary>
    /// Routes Console.Error (logs, warnings) and Console.Out when it is the same terminal through the live display,
    /// which moves its bars down for each line: text written past it would be overwritten by the next redraw.
    /// </summary>
    private void CaptureConsole()
    {
        var lines = TextWriter.Synchronized(new LineWriter(_terminal!));
        _captured = (Console.Out, Console.Error, lines);
        Console.SetError(lines);
        if (!Console.IsOutputRedirected)
        {
            Console.SetOut(lines);
        }
    }

    /// <summary>
    /// Draws the bars, at most every <see cref="TerminalInterval"/> unless <paramref name="now"/> (a file check can
    /// report thousands of files a second); an update held back is drawn when the interval ends, so the bars never
    /// stay behind while the work pauses (a validation after the last batch).
    /// </summary>
    private void Render(bool now)
    {
        lock (_lock)
        {
            if (_context is null || _stopped)
            {
                return;
            }

            var wait = TerminalInterval - Stopwatch.GetElapsedTime(_renderedAt);
            if (!now && wait > TimeSpan.Zero)
            {
                _heldBack!.Change(wait, Timeout.InfiniteTimeSpan);
                return;
            }

            _renderedAt = Stopwatch.GetTimestamp();
            _context.Refresh();
        }
    }

    /// <summary>One task's bar: a description, how much of the total is done, and a status after the bar.</summary>
    internal sealed class Bar
    {
        private readonly ConsoleProgress _owner;
        private readonly string _unit;
        private readonly ProgressTask? _task;
        private readonly Stopwatch _started = Stopwatch.StartNew();
        private readonly Stopwatch _sincePrinted = Stopwatch.StartNew();
        private string _description;
        private string _status = string.Empty;
        private double _done;
        private double _total = 1;
        private bool _pending;
        private bool _finished;

        internal Bar(ConsoleProgress owner, string description, string unit, ProgressTask? task)
        {
            _owner = owner;
            _description = description;
            _unit = unit;
            _task = task;
        }

        /// <summary>Shows <paramref name="done"/> of <paramref name="total"/> with a status (and a new description).</summary>
        public void Show(double done, double total, string status, string? description = null)
        {
            lock (_owner._lock)
            {
                (_done, _total, _status, _description) = (done, Math.Max(total, done), status, description ?? _description);
                _pending = true;
                if (_task is not null)
                {
                    _task.MaxValue = _total;
                    _task.Value = _done;
                    _task.Description = _description;
                    _task.Tag = _status;
                }
                else if (_sincePrinted.Elapsed >= PlainInterval)
                {
                    PrintPending();
                }
            }

            _owner.Render(now: false);
        }

        /// <summary>Shows a count, with the rate since the bar was added: "images 120/360  24.1 images/s".</summary>
        public void Count(int done, int total) =>
            Show(done, total, $"{_unit} {done}/{total}  {done / Math.Max(_started.Elapsed.TotalSeconds, 1e-3):0.0} {_unit}/s");

        /// <summary>
        /// The work is done: the bar ends at 100 % (what was done becomes the total). With a summary, the summary
        /// line takes the bar's place (on a terminal the bar disappears, the line stays above the others).
        /// </summary>
        public void Finish(string? summary = null)
        {
            lock (_owner._lock)
            {
                if (_finished)
                {
                    return;
                }

                _total = _done;
                _pending = summary is null;
                if (_task is not null)
                {
                    _task.HideWhenCompleted = summary is not null;
                    _task.MaxValue = Math.Max(_done, 1);
                    _task.Value = _task.MaxValue;
                }
                else
                {
                    PrintPending();
                }

                _finished = true;
            }

            if (summary is null)
            {
                _owner.Render(now: true);
            }
            else if (_owner._terminal is { } terminal)
            {
                _owner.Render(now: true);
                terminal.Write(new LineAbove(summary));
            }
            else
            {
                Console.Error.WriteLine(summary);
            }
        }

        /// <summary>In plain mode, prints the bar's state if it changed since the last line.</summary>
        internal void PrintPending()
        {
            if (_task is not null || !_pending)
            {
                return;
            }

            var percent = _total > 0 ? 100 * _done / _total : 100;
            Console.Error.WriteLine($"{_description}  {percent:0}%  {_status}");
            _pending = false;
            _sincePrinted.Restart();
        }
    }

    /// <summary>
    /// Text on one line, cut with an ellipsis to the width the row leaves it: on a narrow terminal a long status
    /// or file name must not squeeze the bar nor wrap the row. (Spectre's columns read descriptions as markup, and
    /// file names may hold brackets.)
    /// </summary>
    private sealed class OneLineColumn(Func<ProgressTask, string> text) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) => new OneLine(new Segment(text(task)));

        private sealed class OneLine(Segment text) : Renderable
        {
            protected override Measurement Measure(RenderOptions options, int maxWidth) => new(Math.Min(text.CellCount(), 1), Math.Min(text.CellCount(), maxWidth));

            protected override IEnumerable<Segment> Render(RenderOptions options, int maxWidth) => Segment.SplitOverflow(text, Overflow.Ellipsis, maxWidth);
        }
    }

    /// <summary>
    /// A line written while bars show. Spectre moves the cursor to the top of its bars and writes over them: a line
    /// shorter than the bars would leave their tail visible, so everything below the cursor is erased first.
    /// </summary>
    private sealed class LineAbove(string text) : Renderable
    {
        private readonly IRenderable _text = new Text(text);

        protected override Measurement Measure(RenderOptions options, int maxWidth) => _text.Measure(options, maxWidth);

        protected override IEnumerable<Segment> Render(RenderOptions options, int maxWidth) =>
            [Segment.Control("\u001b[J"), .. _text.Render(options, maxWidth), Segment.LineBreak];
    }

    /// <summary>Writes each complete line through the live display, which keeps its bars below the lines.</summary>
    private sealed class LineWriter(IAnsiConsole terminal) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                terminal.Write(new LineAbove(_line.ToString().TrimEnd('\r')));
                _line.Clear();
            }
            else
            {
                _line.Append(value);
            }
        }

        public override void Flush()
        {
            if (_line.Length > 0)
            {
                Write('\n');
            }
        }
    }
}
