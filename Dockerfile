# One image for every role: `ftwin coordinator run` or `ftwin node run` (docker-compose.yml).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish cli/FederatedTwin.Cli.csproj -c Release -o /app --no-self-contained

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# Mount points owned by the service's user: a named volume mounted on them starts with this owner (and mode), so the
# non-root user can write its data directory and the trial certificates (docker-compose.yml).
RUN mkdir -p /data /tls && chown "$APP_UID" /data /tls && chmod 700 /data /tls
# Runs as the image's non-root user; data lives in mounted volumes.
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/ftwin.dll"]
