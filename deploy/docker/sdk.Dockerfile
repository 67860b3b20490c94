# A stand-in for mcr.microsoft.com/dotnet/sdk:10.0 where no registry is reachable: a local base image plus this
# machine's .NET SDK. tools/images.sh builds it with the SDK folder (/usr/share/dotnet) as its context.
ARG BASE=localhost/debian12:base
FROM ${BASE}
COPY . /usr/share/dotnet/
RUN ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
