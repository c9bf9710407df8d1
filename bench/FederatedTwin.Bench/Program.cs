using BenchmarkDotNet.Running;

// Micro-benchmarks of the ring layer. The product-level targets are `ftwin bench crypto`.
// dotnet run -c Release --project bench/FederatedTwin.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
