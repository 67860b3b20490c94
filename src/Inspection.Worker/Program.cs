using Inspection.Worker;
using Inspection.Worker.Observability;
using Inspection.Worker.Serving;

return args switch
{
    // The hidden --check-model mode is the worker checking a candidate model in a child process (CandidateCheck).
    [CandidateCheck.Flag, ..] => await CandidateCheck.RunAsync(args),

    // A container's HEALTHCHECK: is the worker that runs beside this one alive?
    [HealthProbe.Command, .. var rest] => await HealthProbe.RunAsync(rest),
    _ => await WorkerApp.RunAsync(args),
};
