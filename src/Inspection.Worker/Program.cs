using Inspection.Worker;

return await WorkerApp.RunAsync(args);
