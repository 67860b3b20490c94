using Inspection.Training.Utils;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Inspection.Training.Tests;

/// <summary>
/// TorchSharp 0.107 turns numbers into <see cref="TorchSharp.Scalar"/> objects that nothing keeps alive through the
/// native call they are passed to: the garbage collector may finalise one mid-call and libtorch then reads freed
/// memory (a long run died with "toFloat (Scalar.h:140)"; dotnet/TorchSharp#1434). Training code must pass scalars
/// that live long enough (<see cref="Scalars"/>), so this test reads our IL and lists every call that would make a
/// short-lived one: a conversion, or a TorchSharp method that makes one inside (Tensor + Tensor makes alpha = 1).
/// </summary>
public sealed class ScalarLifetimeTests
{
    [Fact]
    public void Training_code_makes_no_scalar_the_collector_could_free_during_a_native_call()
    {
        var torchSharp = ModuleDefinition.ReadModule(typeof(TorchSharp.torch).Assembly.Location);
        var risky = RiskyTorchSharpMethods(torchSharp);
        Assert.Contains(risky, name => name.Contains("Tensor::add(TorchSharp.torch/Tensor)", StringComparison.Ordinal)); // the analysis sees the known case

        var training = ModuleDefinition.ReadModule(typeof(Scalars).Assembly.Location);
        var offences = new List<string>();
        foreach (var method in training.Types.SelectMany(AllTypes).SelectMany(t => t.Methods).Where(m => m.HasBody))
        {
            if (Enclosing(method.DeclaringType).FullName == typeof(Scalars).FullName)
            {
                continue; // the one place that makes scalars, and keeps them
            }

            foreach (var call in Calls(method).Where(c => MakesScalar(c) || risky.Contains(c.FullName) || risky.Contains(Signature(c))))
            {
                offences.Add($"{method.DeclaringType.Name}.{method.Name} calls {call.DeclaringType.Name}.{call.Name}({string.Join(", ", call.Parameters.Select(p => p.ParameterType.Name))})");
            }

            if (Calls(method).Any(c => c.Name == nameof(Scalars.Temporary)) && !Calls(method).Any(c => IsScalarDispose(c) || c.FullName == "System.Void System.IDisposable::Dispose()"))
            {
                offences.Add($"{method.DeclaringType.Name}.{method.Name} takes a temporary scalar and does not dispose of it");
            }
        }

        // Modules are called through Module<T, TResult>.forward, so look at the TorchSharp modules our code names.
        foreach (var module in training.GetTypeReferences().Where(t => t.Scope.Name == "TorchSharp").Select(t => t.Resolve()).Where(t => t is not null && IsModule(t)))
        {
            for (var type = module; type is not null && type.Namespace != "TorchSharp"; type = type.BaseType?.Resolve())
            {
                if (type.Methods.Any(m => m.Name == "forward" && risky.Contains(m.FullName)))
                {
                    offences.Add($"the TorchSharp module {module!.Name} is used, and the forward of {type.Name} makes short-lived scalars");
                }
            }
        }

        Assert.True(offences.Count == 0, "Short-lived TorchSharp scalars:\n" + string.Join("\n", offences.Distinct()));
    }

    /// <summary>TorchSharp methods that make a scalar and do not dispose of it, directly or through another such method.</summary>
    private static HashSet<string> RiskyTorchSharpMethods(ModuleDefinition torchSharp)
    {
        var methods = torchSharp.Types.SelectMany(AllTypes).SelectMany(t => t.Methods).Where(m => m.HasBody).ToList();
        var risky = methods.Where(m => Calls(m).Any(MakesScalar) && !Calls(m).Any(IsScalarDispose)).Select(m => m.FullName).ToHashSet();
        for (var grown = true; grown;)
        {
            var next = methods.Where(m => !risky.Contains(m.FullName) && Calls(m).Any(c => risky.Contains(c.FullName))).Select(m => m.FullName).ToList();
            risky.UnionWith(next);
            grown = next.Count > 0;
        }

        // A virtual call may land in any override: an optimiser's step() is called through its base class.
        risky.UnionWith(methods.Where(m => m.IsVirtual && risky.Contains(m.FullName)).Select(Signature).ToList());
        return risky;
    }

    private static string Signature(MethodReference method) => $"virtual {method.Name}({string.Join(",", method.Parameters.Select(p => p.ParameterType.FullName))})";

    private static TypeDefinition Enclosing(TypeDefinition type) => type.DeclaringType is { } outer ? Enclosing(outer) : type;

    /// <summary>Calls, and lambdas handed on (ldftn): SGD.step does its work in a lambda passed to _step.</summary>
    private static IEnumerable<MethodReference> Calls(MethodDefinition method) =>
        method.Body.Instructions.Where(i => i.OpCode == OpCodes.Call || i.OpCode == OpCodes.Callvirt || i.OpCode == OpCodes.Newobj || i.OpCode == OpCodes.Ldftn).Select(i => i.Operand).OfType<MethodReference>();

    private static bool MakesScalar(MethodReference call) =>
        call.ReturnType.FullName == "TorchSharp.Scalar" && (call.Name == "op_Implicit" || call.Name == "ToScalar");

    private static bool IsScalarDispose(MethodReference call) => call.DeclaringType.FullName == "TorchSharp.Scalar" && call.Name == "Dispose";

    private static bool IsModule(TypeDefinition type) =>
        type.FullName.StartsWith("TorchSharp.torch/nn/Module", StringComparison.Ordinal) || (type.BaseType?.Resolve() is { } parent && IsModule(parent));

    private static IEnumerable<TypeDefinition> AllTypes(TypeDefinition type) => type.NestedTypes.SelectMany(AllTypes).Prepend(type);
}
