namespace FederatedTwin.Node.Ingest;

/// <summary>What a merge did: resources whose stored copy was already identical, and patients whose facts changed.</summary>
internal readonly record struct MergeResult(long Unchanged, int PatientsUpdated);
