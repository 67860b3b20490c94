using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Training.Utils;

/// <summary>
/// Scalars that live long enough. TorchSharp 0.107 makes a <see cref="Scalar"/> for each number passed to an
/// operation (and alpha = 1 for Tensor + Tensor) and leaves it to the finaliser, which can free it while libtorch
/// still reads it (dotnet/TorchSharp#1434; a long run died in "toFloat (Scalar.h:140)"). Training code takes its
/// scalars from here, and its arithmetic with numbers through the extensions below; ScalarLifetimeTests reads the
/// IL to keep it so.
/// </summary>
public static class Scalars
{
    private static readonly ConcurrentDictionary<double, Scalar> Reals = new();
    private static readonly ConcurrentDictionary<long, Scalar> Integers = new();

    public static Scalar One { get; } = Of(1.0);

    /// <summary>alpha = 1 for add: an integer, which libtorch accepts for integer and floating-point tensors alike.</summary>
    private static Scalar Alpha { get; } = Of(1L);

    /// <summary>A floating-point scalar kept for the life of the process: for constants and settings, not for values that change each step.</summary>
    public static Scalar Of(double value) => Reals.GetOrAdd(value, static v => v.ToScalar());

    /// <summary>An integer scalar (keeps integer tensors integer) kept for the life of the process.</summary>
    public static Scalar Of(long value) => Integers.GetOrAdd(value, static v => v.ToScalar());

    /// <summary>A scalar for a value that changes each step (a learning rate): the caller disposes of it with <c>using</c>, which also keeps it alive through the call.</summary>
    public static Scalar Temporary(double value) => value.ToScalar();

    /// <summary>0, 1, ..., count - 1 (arange(count)).</summary>
    public static Tensor Range(long count, ScalarType dtype, Device device) => arange(Of(0L), Of(count), Of(1L), dtype, device);

    public static Tensor Plus(this Tensor x, Tensor y) => x.add(y, Alpha);

    public static Tensor Plus(this Tensor x, double y) => x.add(Of(y), Alpha);

    public static Tensor Plus(this Tensor x, long y) => x.add(Of(y), Alpha);

    /// <summary>1 - x.</summary>
    public static Tensor OneMinus(this Tensor x) => x.neg().add_(One, Alpha);

    public static Tensor Times(this Tensor x, double y) => x.mul(Of(y));

    public static Tensor Times(this Tensor x, long y) => x.mul(Of(y));

    public static Tensor DividedBy(this Tensor x, double y) => x.div(Of(y));
}
