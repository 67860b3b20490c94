using Inspection.Bench;

// Every benchmark takes --device auto|cpu|0|cuda[:N]|tensorrt[:N] (cpu by default) and --fp16 true (TensorRT); the
// ones that run a worker take --set Inspection:Key=value,... to measure it with settings changed.
// Usage: inspection-bench detector [--model M | --fresh n|s] [--images A,B,...] [--batches 1,4,8] [--rounds 5] [--seconds 2]
//        inspection-bench sources [--video V] [--streams 1,2,4] [--rounds 3]
//        inspection-bench mqtt [--messages 20000] [--rounds 3]
//        inspection-bench training [--data D] [--imgsz 320] [--batch 16] [--epochs 2] [--rounds 3]
//        inspection-bench worker [--streams 1,3] [--frames 200] [--batch 8] [--rounds 3] [--live-seconds 20 (0: none)] [--source video|jpeg]
//        inspection-bench latency [--loads 0.5,0.8,0.95,1.2] [--seconds 20] [--batch 8]
//        inspection-bench warmup [--batch 8] [--calls 400]
//        inspection-bench swap [--swaps 6]
//        inspection-bench soak [--cameras 8] [--fps 25] [--minutes 10]
//        inspection-bench sinks [--sources 3] [--frames 200] [--batch 8] [--messages 20000] [--rounds 3]
//        inspection-bench integrity [--sources 3] [--frames 200] [--batch 8] [--seconds 2] [--rounds 3]
//        inspection-bench web [--cameras 4] [--fps 25] [--seconds 20] [--rounds 3] [--warmup 10]
var command = args.FirstOrDefault() ?? "detector";
BenchOptions options;
try
{
    options = BenchOptions.Parse(args.Skip(1).ToArray());
}
catch (Inspection.Core.InspectionInputException e)
{
    Console.Error.WriteLine($"inspection-bench: {e.Message}");
    return 2;
}

switch (command)
{
    case "detector":
        await DetectorBenchmark.RunAsync(options);
        return 0;
    case "sources":
        await SourcesBenchmark.RunAsync(options);
        return 0;
    case "mqtt":
        await MqttBenchmark.RunAsync(options);
        return 0;
    case "training":
        await TrainingBenchmark.RunAsync(options);
        return 0;
    case "worker":
        await WorkerBenchmark.RunAsync(options);
        return 0;
    case "latency":
        await LatencyBenchmark.RunAsync(options);
        return 0;
    case "warmup":
        await WarmUpBenchmark.RunAsync(options);
        return 0;
    case "swap":
        await SwapBenchmark.RunAsync(options);
        return 0;
    case "soak":
        await SoakBenchmark.RunAsync(options);
        return 0;
    case "sinks":
        await SinkBenchmark.RunAsync(options);
        return 0;
    case "integrity":
        await IntegrityBenchmark.RunAsync(options);
        return 0;
    case "web":
        await WebBenchmark.RunAsync(options);
        return 0;
    default:
        Console.Error.WriteLine($"inspection-bench: unknown benchmark '{command}'; known: detector, sources, mqtt, training, worker, latency, warmup, swap, sinks, soak, integrity, web.");
        return 2;
}
