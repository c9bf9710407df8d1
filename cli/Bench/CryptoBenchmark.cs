using System.Diagnostics;
using System.Text.Json;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Threshold;
using Spectre.Console;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench crypto`: the encryption targets (docs/crypto.md §11) on the production parameter set,
/// single-threaded (one core), with a warm-up before every timed section.
/// </summary>
internal static class CryptoBenchmark
{
    private const int MillionValues = 1_000_000;
    private const int Updates = 100;
    private const int PoolSize = 4;

    public static int Run(bool json, bool compareSeal)
    {
        var scheme = RlweThresholdScheme.Default;
        var parameters = scheme.Parameters;
        var n = parameters.N;
        var results = new Dictionary<string, object>
        {
            ["parameter_set"] = parameters.Name,
            ["ring_degree"] = n,
            ["log2_q"] = Math.Round(parameters.LogQ, 2),
            ["cores_used"] = 1,
        };

        // A real 3-party collective key: every figure below is measured under it.
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, 3).Select(_ => scheme.GenerateSecret()).ToArray();
        var keyBytes = scheme.AggregatePublicKey(seed, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray());
        var key = scheme.ReadPublicKey(keyBytes);
        var encryptor = new Encryptor(key);
        var plaintext = new ulong[n];
        var rng = new Random(7);
        for (var j = 0; j < n; j++)
        {
            plaintext[j] = (ulong)rng.NextInt64();
        }

        var ct = new Ciphertext(parameters);
        for (var i = 0; i < 20; i++)
        {
            encryptor.Encrypt(plaintext, ct);
        }

        const int encryptRuns = 200;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < encryptRuns; i++)
        {
            encryptor.Encrypt(plaintext, ct);
        }

        results["encrypt_ms_per_ciphertext"] = Math.Round(sw.Elapsed.TotalMilliseconds / encryptRuns, 3);

        var million = new long[MillionValues];
        for (var j = 0; j < million.Length; j++)
        {
            million[j] = rng.NextInt64(-1_000_000_000_000, 1_000_000_000_000);
        }

        sw.Restart();
        var update = scheme.EncryptToCiphertexts(key, million);
        results["encrypt_1m_values_s"] = Math.Round(sw.Elapsed.TotalSeconds, 4);
        results["ciphertexts_per_1m_values"] = update.Count;

        sw.Restart();
        var updateBytes = scheme.WriteVector(million.Length, update);
        results["serialize_1m_values_s"] = Math.Round(sw.Elapsed.TotalSeconds, 4);
        results["update_bytes_1m_values"] = updateBytes.Length;

        results["bytes_per_value"] = Math.Round(scheme.WriteCiphertext(ct).Length / (double)n, 4);

        // Aggregation: 100 updates of 123 ciphertexts, from a pool of distinct encrypted updates.
        var pool = new List<IReadOnlyList<Ciphertext>> { update };
        for (var p = 1; p < PoolSize; p++)
        {
            pool.Add(scheme.EncryptToCiphertexts(key, million));
        }

        var perUpdate = update.Count;
        var accumulator = Enumerable.Range(0, perUpdate).Select(_ => new Ciphertext(parameters)).ToArray();
        sw.Restart();
        for (var k = 0; k < perUpdate; k++)
        {
            for (var u = 0; u < Updates; u++)
            {
                Evaluator.AddInPlace(accumulator[k], pool[u % PoolSize][k]);
            }
        }

        results["aggregate_100_updates_of_1m_s"] = Math.Round(sw.Elapsed.TotalSeconds, 4);
        results["aggregate_order"] = "ciphertext-major (each accumulator ciphertext stays in cache while all updates are added)";

        var accumulator2 = Enumerable.Range(0, perUpdate).Select(_ => new Ciphertext(parameters)).ToArray();
        sw.Restart();
        for (var u = 0; u < Updates; u++)
        {
            var source = pool[u % PoolSize];
            for (var k = 0; k < perUpdate; k++)
            {
                Evaluator.AddInPlace(accumulator2[k], source[k]);
            }
        }

        results["aggregate_100_updates_of_1m_update_major_s"] = Math.Round(sw.Elapsed.TotalSeconds, 4);
        if (!accumulator.Zip(accumulator2).All(p => p.First.ContentEquals(p.Second)))
        {
            throw new InvalidOperationException("The two aggregation orders disagree.");
        }

        // Decryption share of one ciphertext (smudging included).
        var protocol = new ThresholdDecryptionProtocol(parameters);
        var secretKeys = secrets.Select(scheme.SecretKeyOf).ToArray();
        var share = protocol.AllocateShare();
        for (var i = 0; i < 10; i++)
        {
            protocol.GenShare(secretKeys[0], ct, share);
        }

        const int shareRuns = 100;
        sw.Restart();
        for (var i = 0; i < shareRuns; i++)
        {
            protocol.GenShare(secretKeys[0], ct, share);
        }

        results["decrypt_share_ms"] = Math.Round(sw.Elapsed.TotalMilliseconds / shareRuns, 3);

        results["combine_ms_100_parties"] = Math.Round(CombineHundred(scheme, out var exactHundred), 3);
        results["threshold_decrypt_exact_100_parties"] = exactHundred;
        results["threshold_decrypt_exact"] = ThreePartyExact(scheme);

        if (compareSeal)
        {
            var sealFigures = SealComparison.Run();
            results["seal"] = sealFigures ?? (object)"unavailable (node-seal could not be installed or run)";
            if (sealFigures?.GetValueOrDefault("encrypt_ms") is double sealEncrypt)
            {
                results["encrypt_speedup_vs_seal"] = Math.Round(sealEncrypt / (double)results["encrypt_ms_per_ciphertext"], 2);
            }
        }

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(results));
        }
        else
        {
            var table = new Table().AddColumn("measure").AddColumn("value");
            foreach (var (k, v) in results)
            {
                table.AddRow(Markup.Escape(k), Markup.Escape(v is Dictionary<string, object> d ? JsonSerializer.Serialize(d) : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty));
            }

            AnsiConsole.Write(table);
        }

        return results["threshold_decrypt_exact"] is true ? 0 : 1;
    }

    /// <summary>Combining 100 parties' shares of one ciphertext and decoding; the shares are real, from 100 key holders.</summary>
    private static double CombineHundred(RlweThresholdScheme scheme, out bool exact)
    {
        const int parties = 100;
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, parties).Select(_ => scheme.GenerateSecret()).ToArray();
        var key = scheme.AggregatePublicKey(seed, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray());
        var values = Enumerable.Range(0, scheme.ValuesPerCiphertext).Select(i => (long)i - 4000).ToArray();
        var encrypted = scheme.Encrypt(key, values);
        var sum = scheme.NewSum(values.Length);
        sum.Add(encrypted);
        var aggregate = sum.ToBytes();
        var shares = secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, aggregate)).ToArray();
        scheme.CombineDecryptionShares(aggregate, shares);
        const int runs = 5;
        long[] result = [];
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < runs; i++)
        {
            result = scheme.CombineDecryptionShares(aggregate, shares);
        }

        var ms = sw.Elapsed.TotalMilliseconds / runs;
        exact = result.AsSpan().SequenceEqual(values);
        return ms;
    }

    private static bool ThreePartyExact(RlweThresholdScheme scheme)
    {
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, 3).Select(_ => scheme.GenerateSecret()).ToArray();
        var key = scheme.AggregatePublicKey(seed, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray());
        var rng = new Random(11);
        var limit = long.MaxValue / scheme.MaxParties;
        var inputs = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 20_000).Select(_ => rng.NextInt64(-limit, limit)).ToArray()).ToArray();
        var sum = scheme.NewSum(20_000);
        foreach (var v in inputs)
        {
            sum.Add(scheme.Encrypt(key, v));
        }

        var aggregate = sum.ToBytes();
        var decrypted = scheme.CombineDecryptionShares(aggregate, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, aggregate)).ToArray());
        for (var j = 0; j < decrypted.Length; j++)
        {
            if (decrypted[j] != inputs[0][j] + inputs[1][j] + inputs[2][j])
            {
                return false;
            }
        }

        return true;
    }
}
