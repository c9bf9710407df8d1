# One image for every role: `ftwin coordinator run` or `ftwin node run` (docker-compose.yml).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish cli/FederatedTwin.Cli.csproj -c Release -o /app --no-self-contained

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# Runs as the image's non-root user; data lives in mounted volumes.
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/ftwin.dll"]
