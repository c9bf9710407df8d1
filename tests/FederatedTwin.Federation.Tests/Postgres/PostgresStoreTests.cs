using Dapper;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Hosting.Storage;
using Microsoft.AspNetCore.Builder;
using Npgsql;

namespace FederatedTwin.Federation.Tests.Postgres;

/// <summary>
/// What only the PostgreSQL store has: migrations written a second time (the same tables and columns as SQLite's at every version),
/// serialization failures that Write runs again, and the coordinator's refusals to start (or back up) on a PostgreSQL it cannot use.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class PostgresStoreTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public void Both_migration_lists_bring_both_engines_to_the_same_tables_and_columns_at_every_version()
    {
        Assert.Equal(Migrations.Schema.Latest, Migrations.PostgresSchema.Latest);
        using var dialect = new PostgresDialect(postgres.NewDatabase());
        using var pg = dialect.Open();
        using var sqlite = TestStore.Create(Path.Combine(TestFederation.TempDir("parity"), "coordinator.db"));
        for (var version = 1; version <= Migrations.Latest; version++)
        {
            Migrations.Apply(sqlite, upTo: version);
            Migrations.PostgresSchema.Apply(dialect, pg, upTo: version);
            var sqliteColumns = sqlite.Query<string>("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name").ToList()
                .SelectMany(table => sqlite.Query<(long cid, string name, string type, long notnull, string? dflt_value, long pk)>($"SELECT * FROM pragma_table_info('{table}')")
                    .Select(c => $"{table}.{c.name} {Family(c.type)} {(c.notnull == 1 || c.pk > 0 ? "not null" : "null")}"))
                .ToList();
            var pgColumns = pg.Query<(string table_name, string column_name, string data_type, string is_nullable)>(
                    "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema='public' ORDER BY table_name, ordinal_position")
                .Select(c => $"{c.table_name}.{c.column_name} {Family(c.data_type)} {(c.is_nullable == "NO" ? "not null" : "null")}")
                .ToList();
            Assert.Equal(sqliteColumns, pgColumns);
        }
    }

    /// <summary>SQLite's declared type and PostgreSQL's, as what a reader gets back: long, double, string or bytes.</summary>
    private static string Family(string type) => type.ToUpperInvariant() switch
    {
        "INTEGER" or "BIGINT" => "integer",
        "REAL" or "DOUBLE PRECISION" => "real",
        "TEXT" => "text",
        "BLOB" or "BYTEA" => "bytes",
        "TIMESTAMPTZ" or "TIMESTAMP WITH TIME ZONE" => "instant", // coordinator_lease, compared by the database's clock (LeaseQueries)
        var other => "unknown " + other,
    };

    [Fact]
    public async Task Two_writes_that_cannot_both_commit_as_they_ran_are_run_again_and_both_commit()
    {
        using var store = postgres.NewStore();
        using var bothRead = new Barrier(2);
        var seen = new System.Collections.Concurrent.ConcurrentBag<(string Nonce, long Count)>();

        // Write skew (PostgreSQL 13.2.3): each counts the rows, then adds one. Run side by side, neither saw the other's row, which no
        // serial order allows, so PostgreSQL aborts one with SQLSTATE 40001; Write runs its delegate again on a new transaction.
        Task Insert(string nonce) => Task.Run(() => store.Write((c, t) =>
        {
            var count = c.ExecuteScalar<long>("SELECT COUNT(*) FROM nonces", transaction: t);
            seen.Add((nonce, count));
            bothRead.SignalAndWait(TimeSpan.FromSeconds(1)); // the first run of each waits for the other's read; a rerun finds no partner
            c.Execute("INSERT INTO nonces(key_id, nonce, expires_at) VALUES ('k', @nonce, @count)", new { nonce, count }, t);
        }));

        await Task.WhenAll(Insert("a"), Insert("b"));
        Assert.True(store.Retries >= 1, "no write was run again: the two transactions did not conflict");
        var rows = store.Read(c => c.Query<(string nonce, long expires_at)>("SELECT nonce, expires_at FROM nonces ORDER BY expires_at").ToList());
        Assert.Equal(2, rows.Count);
        Assert.Equal([0L, 1L], rows.Select(r => r.expires_at)); // as if one ran after the other: the second counted the first's row
        Assert.Contains(seen, s => s.Count == 1);
    }

    [Fact]
    public void A_write_that_fails_for_another_reason_is_not_run_again()
    {
        using var store = postgres.NewStore();
        var runs = 0;
        Assert.Throws<PostgresException>(() => store.Write((c, t) =>
        {
            runs++;
            c.Execute("INSERT INTO rosters(version, federation, sha256, document, published_at) VALUES (1, 'f', 's', NULL, 'now')", transaction: t);
        }));
        Assert.Equal(1, runs);
        Assert.Equal(0, store.Retries);
    }

    [Fact]
    public async Task The_service_refuses_to_start_on_postgres_without_a_connection_string()
    {
        var dir = Path.Combine(TestFederation.TempDir("pg-refusal"), "coordinator");
        // Refused as it is built (the listeners read the validated options), before anything is opened.
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
        {
            await using var app = CoordinatorHost.Build(["--urls", $"http://127.0.0.1:{FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort()}"], o =>
            {
                o.DataDir = dir;
                o.AdminUrl = $"http://127.0.0.1:{FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort()}";
                o.Store = CoordinatorOptions.StoreNames.Postgres;
            });
            await app.StartAsync();
        });
        Assert.Contains("Coordinator:PostgresConnectionString is not set", Assert.Single(e.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void Coordinator_run_refuses_postgres_without_a_connection_string_an_unreachable_server_and_a_password_in_the_string()
    {
        var dir = Path.Combine(TestFederation.TempDir("pg-run-refusal"), "coordinator");
        var missing = TestFederation.Ftwin("coordinator", "run", "--data-dir", dir, "--store", "postgres");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("Coordinator:PostgresConnectionString is not set", missing.Stderr, StringComparison.Ordinal);

        var port = FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort(); // nothing listens there
        var unreachable = TestFederation.Ftwin("coordinator", "run", "--data-dir", dir, "--store", "postgres", "--postgres", $"Host=127.0.0.1;Port={port};Database=ftwin;Username=ftwin");
        Assert.Equal(2, unreachable.ExitCode);
        Assert.Contains($"cannot reach PostgreSQL at 127.0.0.1:{port}/ftwin", unreachable.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", unreachable.Stderr, StringComparison.Ordinal); // one line, no stack trace

        var withPassword = TestFederation.Ftwin("coordinator", "run", "--data-dir", dir, "--store", "postgres", "--postgres", $"Host=127.0.0.1;Port={postgres.Port};Database=ftwin;Username=ftwin;Password=hunter2-secret");
        Assert.Equal(2, withPassword.ExitCode);
        Assert.Contains("holds a password", withPassword.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", withPassword.Stderr + withPassword.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Commands_on_the_store_take_the_same_options_and_a_backup_names_pg_dump()
    {
        var database = postgres.NewDatabase();
        var dir = Path.Combine(TestFederation.TempDir("pg-commands"), "coordinator");
        string[] store = ["--store", "postgres", "--postgres", database];
        var token = TestFederation.Ftwin(["coordinator", "token", "create", "--data-dir", dir, .. store]);
        Assert.True(token.ExitCode == 0, token.Stderr);
        var list = TestFederation.Ftwin(["coordinator", "node", "list", "--json", "--data-dir", dir, .. store]);
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Equal("[]", list.Stdout.Trim());
        Assert.False(File.Exists(Path.Combine(dir, "coordinator.db")));
        using (var opened = CoordinatorStore.Postgres(database))
        {
            Assert.Equal(1L, opened.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM enrollment_tokens")));
        }

        var verify = TestFederation.Ftwin(["audit", "verify", "--json", "--data-dir", dir, .. store]);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr); // the trail the commands wrote (key created, token issued), read from PostgreSQL

        var backup = TestFederation.Ftwin(["coordinator", "backup", "--data-dir", dir, "--out", Path.Combine(dir, "..", "bundle.tar"), .. store]);
        Assert.Equal(2, backup.ExitCode);
        Assert.Contains("pg_dump", backup.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "..", "bundle.tar")));
    }
}
