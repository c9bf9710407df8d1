using BenchmarkDotNet.Running;

// Micro-benchmarks of the ring layer and the DP noise sampler. The product-level targets are `ftwin bench crypto`.
// dotnet run -c Release --project bench/FederatedTwin.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
