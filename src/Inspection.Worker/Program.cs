using Inspection.Worker;
using Inspection.Worker.Serving;

// The hidden --check-model mode is the worker checking a candidate model in a child process (CandidateCheck).
return args is [CandidateCheck.Flag, ..] ? await CandidateCheck.RunAsync(args) : await WorkerApp.RunAsync(args);
