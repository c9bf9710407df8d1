using System.Diagnostics;
using System.IO.Compression;
using Npgsql;

namespace FederatedTwin.Node.Data.Tests.Omop;

/// <summary>
/// The OHDSI Synthea27Nj CDM v5.4 sample (../shared/data/omop-synthea27nj: 28 synthetic people; CONCEPT_ANCESTOR, COST,
/// PAYER_PLAN_PERIOD and LOCATION header-only) loaded into schema <c>cdm</c> of a real PostgreSQL (<see cref="PostgresCluster"/>),
/// once for every test of the "Omop" collection. The CSVs are comma-separated with a header, double-quoted where needed
/// (CONCEPT's empty standard_concept is <c>""</c>), dates as yyyy-mm-dd and timestamps as yyyy-mm-dd hh:mm:ss: PostgreSQL's
/// COPY ... (FORMAT csv, HEADER) reads them as they are.
/// </summary>
public sealed class OmopCdmFixture : IDisposable
{
    /// <summary>The tables created (cdm54-postgresql.sql) and loaded from the zip's CSV of the same name.</summary>
    public static readonly string[] Tables =
    [
        "person", "observation_period", "visit_occurrence", "condition_occurrence", "measurement", "observation", "death", "procedure_occurrence",
        "drug_exposure", "cost", "payer_plan_period", "location", "concept", "concept_ancestor", "concept_relationship",
    ];

    private readonly PostgresCluster _cluster;

    public OmopCdmFixture()
    {
        var clock = Stopwatch.StartNew();
        _cluster = PostgresCluster.Start();
        try
        {
            ConnectionString = _cluster.CreateDatabase("omop");
            CsvDirectory = Path.Combine(_cluster.Directory, "csv");
            ZipFile.ExtractToDirectory(Path.Combine(DataTestSupport.SharedData, "omop-synthea27nj", "Synthea27Nj_5.4.zip"), CsvDirectory);
            CreateSchema("cdm");
            using var connection = Open();
            foreach (var table in Tables)
            {
                using var writer = connection.BeginTextImport($"COPY cdm.{table} FROM STDIN (FORMAT csv, HEADER true)");
                writer.Write(File.ReadAllText(Path.Combine(CsvDirectory, table.ToUpperInvariant() + ".csv")));
            }

            Execute("ANALYZE");
            LoadSeconds = clock.Elapsed.TotalSeconds;
        }
        catch
        {
            _cluster.Dispose();
            throw;
        }
    }

    /// <summary>The database's connection string (trust authentication over loopback: no password).</summary>
    public string ConnectionString { get; }

    /// <summary>The sample's CSVs, extracted.</summary>
    public string CsvDirectory { get; }

    /// <summary>Seconds to start the cluster and load the sample.</summary>
    public double LoadSeconds { get; }

    public NpgsqlConnection Open()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Creates an empty CDM schema of the tables above.</summary>
    public void CreateSchema(string schema) =>
        Execute($"CREATE SCHEMA {schema};\n" + File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Omop", "cdm54-postgresql.sql")).Replace("{schema}", schema, StringComparison.Ordinal));

    /// <summary>A new schema with the tables of <c>cdm</c>, holding copies of the rows of <paramref name="copyRowsOf"/> only.</summary>
    public void CreateSchemaCopy(string schema, params string[] copyRowsOf)
    {
        CreateSchema(schema);
        foreach (var table in copyRowsOf)
        {
            Execute($"INSERT INTO {schema}.{table} SELECT * FROM cdm.{table}");
        }
    }

    public int Execute(string sql)
    {
        using var connection = Open();
        using var command = new NpgsqlCommand(sql, connection);
        return command.ExecuteNonQuery();
    }

    public T Scalar<T>(string sql)
    {
        using var connection = Open();
        using var command = new NpgsqlCommand(sql, connection);
        return (T)Convert.ChangeType(command.ExecuteScalar()!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public List<object[]> Rows(string sql)
    {
        using var connection = Open();
        using var command = new NpgsqlCommand(sql, connection);
        using var reader = command.ExecuteReader();
        var rows = new List<object[]>();
        while (reader.Read())
        {
            var row = new object[reader.FieldCount];
            reader.GetValues(row);
            rows.Add(row);
        }

        return rows;
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        _cluster.Dispose();
    }
}

[CollectionDefinition("Omop")]
public sealed class OmopCollection : ICollectionFixture<OmopCdmFixture>;
