using System.Data.Common;
using Dapper;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Node.Identity;

/// <summary>
/// The node's Ed25519 identity keys on disk, sealed with Data Protection: identity.key.sealed (the identity), and
/// during a rotation identity.key.pending.sealed (the next one, written before the coordinator is asked to accept it,
/// so a crash at any point leaves a key the node can finish the rotation with).
///
/// Which of them is the identity is decided by the node's own audit trail, not by the files: the key named by the
/// last identity_key_rotated entry (or the sealed key when the trail records no rotation). A rotation commits that
/// entry before it renames the pending key over the sealed one, and both a running node and `ftwin node key rotate`
/// resolve the key in the same transaction as the checkpoint they sign with it, so every checkpoint is signed by
/// the key of its span (<see cref="IdentityKeyChain"/>) whichever process writes it and wherever a crash falls.
/// </summary>
public sealed class NodeIdentityKeys : IDisposable
{
    public const string IdentityFile = SealedIdentity.FileName;
    public const string PendingFile = "identity.key.pending.sealed";
    public const string LockFile = "identity.rotation.lock";

    private readonly string _directory;
    private readonly IDataProtector _protector;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Ed25519Identity> _byPublicKey = new(StringComparer.Ordinal);
    private Ed25519Identity _sealed;

    internal NodeIdentityKeys(string directory, IDataProtector protector, Ed25519Identity sealedIdentity)
    {
        _directory = directory;
        _protector = protector;
        _sealed = sealedIdentity;
        _byPublicKey[sealedIdentity.PublicKey] = sealedIdentity;
    }

    public string IdentityPath => Path.Combine(_directory, IdentityFile);

    public string PendingPath => Path.Combine(_directory, PendingFile);

    /// <summary>The identity the trail names as current, read in the caller's connection and transaction.</summary>
    public Ed25519Identity Current(DbConnection connection, DbTransaction? transaction)
    {
        var key = TrailKey(connection, transaction);
        lock (_gate)
        {
            if (key is null)
            {
                return _sealed;
            }

            if (_byPublicKey.TryGetValue(key, out var known))
            {
                return known;
            }

            // Another process rotated the key: load what the files hold now.
            Load(IdentityPath);
            Load(PendingPath);
            return _byPublicKey.TryGetValue(key, out var loaded)
                ? loaded
                : throw new InvalidOperationException($"The audit trail names {key} as this node's identity key, but neither {IdentityFile} nor {PendingFile} in {_directory} holds it: the key files were replaced or removed. Restore them from the backup taken with node.db (docs/operations.md).");
        }
    }

    /// <summary>The new key of the last identity_key_rotated entry, or null when the trail records none.</summary>
    public static string? TrailKey(DbConnection connection, DbTransaction? transaction)
    {
        var detail = Storage.AuditTrailQueries.LatestDetail(connection, AuditActions.IdentityKeyRotated, transaction);
        return detail is null ? null : IdentityKeyChain.NewKey(detail) ?? throw new InvalidOperationException("The audit trail's last identity_key_rotated entry names no new key.");
    }

    /// <summary>The key of a rotation in progress, or null.</summary>
    public Ed25519Identity? Pending()
    {
        lock (_gate)
        {
            return Load(PendingPath);
        }
    }

    /// <summary>Seals a new key as the pending one (flushed to the disk before anything is sent to the coordinator).</summary>
    public void WritePending(Ed25519Identity next)
    {
        lock (_gate)
        {
            DurableFile.CreateOwnerOnly(PendingPath, _protector.Protect(next.ExportPrivateKey()));
            _byPublicKey.TryAdd(next.PublicKey, next);
        }
    }

    /// <summary>Forgets a pending key the coordinator refused (its private half is destroyed with the file).</summary>
    public void DeletePending()
    {
        lock (_gate)
        {
            File.Delete(PendingPath);
            DurableFile.SyncDirectory(_directory);
        }
    }

    /// <summary>
    /// Renames the pending key over identity.key.sealed (atomic, flushed): the old private key is gone from the disk
    /// from here on. Called only once the trail names the pending key as the identity.
    /// </summary>
    public void PromotePending()
    {
        lock (_gate)
        {
            var pending = Load(PendingPath) ?? throw new InvalidOperationException("There is no pending identity key to promote.");
            DurableFile.Move(PendingPath, IdentityPath);
            _sealed = pending;
        }
    }

    /// <summary>
    /// Holds the node's rotation lock (an exclusive lock on identity.rotation.lock: flock(2) on Unix, a sharing lock on
    /// Windows), so that `ftwin node key rotate` and a running node never run two rotations at once. Null when another
    /// process holds it.
    /// </summary>
    public FileStream? TryLock()
    {
        try
        {
            return new FileStream(Path.Combine(_directory, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The public key sealed in a node directory's identity file, read without initializing anything.</summary>
    public static string ReadSealedPublicKey(string directory, IDataProtector protector) => SealedIdentity.ReadPublicKey(directory, protector, "node");

    private Ed25519Identity? Load(string path)
    {
        byte[] sealedBytes;
        try
        {
            sealedBytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        var identity = Ed25519Identity.Import(_protector.Unprotect(sealedBytes));
        if (_byPublicKey.TryGetValue(identity.PublicKey, out var known))
        {
            identity.Dispose();
            return known;
        }

        _byPublicKey[identity.PublicKey] = identity;
        return identity;
    }

    /// <summary>
    /// Disposes every key loaded. Keys replaced by a rotation are kept until here rather than disposed at once: another
    /// thread may be signing with the identity it resolved a moment before.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var identity in _byPublicKey.Values)
            {
                identity.Dispose();
            }

            _byPublicKey.Clear();
        }
    }
}
