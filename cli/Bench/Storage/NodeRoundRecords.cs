using System.Data;
using Dapper;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Bench.Storage;

/// <summary>What a node stored of one attempt, as `ftwin bench rounds` rebuilds the node's uploads from it.</summary>
internal sealed record NodeAttemptRecord(byte[] Ciphertext, long ValueCount, byte[] KeyShare, byte[] CrpSeed, string AggregateDigest, byte[] DecryptionShare,
    string UpdateSetDigest, string KeySetDigest);

/// <summary>
/// Read-only queries on a node's node.db (its submissions, attempt keys, decryption shares and commitment sets), in standard
/// SQL. They sit with the benchmark, not in the coordinator's store: the coordinator never reads a node's database.
/// </summary>
internal static class NodeRoundRecords
{
    public static NodeAttemptRecord Read(IDbConnection c, string study, long round, long attempt)
    {
        var args = new { study, round, attempt };
        var (ciphertext, values) = c.QuerySingle<(byte[] ciphertext, long value_count)>("SELECT ciphertext, value_count FROM submissions WHERE study_id=@study AND round=@round AND attempt=@attempt", args);
        var (keyShare, seed) = c.QuerySingle<(byte[] key_share, byte[] crp_seed)>("SELECT key_share, crp_seed FROM attempt_keys WHERE study_id=@study AND round=@round AND attempt=@attempt", args);
        var (digest, share, updateSet) = c.QuerySingle<(string aggregate_digest, byte[] share, string update_set_digest)>(
            "SELECT aggregate_digest, share, update_set_digest FROM decryption_shares WHERE study_id=@study AND round=@round AND attempt=@attempt", args);
        var keySet = c.QuerySingle<string>("SELECT digest FROM commitment_sets WHERE study_id=@study AND round=@round AND attempt=@attempt AND kind=@kind",
            new { study, round, attempt, kind = ContributionKind.KeyShare });
        return new NodeAttemptRecord(ciphertext, values, keyShare, seed, digest, share, updateSet, keySet);
    }
}
