using System.CommandLine;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// URL options on the command line (`--coordinator`): System.CommandLine has no parser for Uri, so every such option
/// needs its own; without one `ftwin study list --coordinator http://...` died with an unhandled "Cannot parse argument".
/// </summary>
public sealed class CommandLineUrlTests
{
    private const string Url = "http://127.0.0.1:7400";

    /// <summary>Every command in the `ftwin` tree with an option of type Uri, as the words that reach it.</summary>
    private static List<(string[] Path, Option<Uri> Option)> UrlOptions()
    {
        var found = new List<(string[], Option<Uri>)>();
        void Walk(Command command, string[] path)
        {
            foreach (var option in command.Options.OfType<Option<Uri>>())
            {
                found.Add((path, option));
            }

            foreach (var sub in command.Subcommands)
            {
                Walk(sub, [.. path, sub.Name]);
            }
        }

        Walk(FtwinCommand.Create(), []);
        return found;
    }

    [Fact]
    public void Every_url_option_of_every_command_reads_an_absolute_http_url()
    {
        var options = UrlOptions();
        var commands = options.Select(o => string.Join(' ', o.Path)).ToHashSet();
        foreach (var expected in new[] { "node enroll", "study create", "study list", "study show", "study cancel", "model list", "model show" })
        {
            Assert.Contains(expected, commands);
        }

        foreach (var (path, option) in options)
        {
            var parse = FtwinCommand.Create().Parse([.. path, option.Name, Url]);
            Assert.DoesNotContain(parse.Errors, e => e.Message.Contains(option.Name, StringComparison.Ordinal));
            Assert.Equal(new Uri(Url), parse.GetValue<Uri>(option.Name)); // threw "Cannot parse argument" before the fix
        }
    }

    [Fact]
    public void A_url_option_left_out_takes_the_local_coordinators_admin_listener_where_it_has_a_default()
    {
        var parse = FtwinCommand.Create().Parse(["study", "list", "--admin-token", "x"]);
        Assert.Empty(parse.Errors);
        Assert.Equal(new Uri("http://127.0.0.1:7401"), parse.GetValue<Uri>("--coordinator"));
        Assert.Equal(new Uri("http://127.0.0.1:7402"), FtwinCommand.Create().Parse(["study", "list", "--admin-url", "http://127.0.0.1:7402", "--admin-token", "x"]).GetValue<Uri>("--coordinator"));
    }

    [Fact]
    public void Enrollment_requires_its_coordinator_url()
    {
        var parse = FtwinCommand.Create().Parse(["node", "enroll", "--node-dir", "/tmp/x", "--token", "t"]);
        Assert.Contains(parse.Errors, e => e.Message.Contains("--coordinator", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("127.0.0.1:7400", "not an absolute http:// or https:// URL")]
    [InlineData("localhost:7400", "not an absolute http:// or https:// URL")]
    [InlineData("ftp://aco.example", "not an absolute http:// or https:// URL")]
    [InlineData("/v1/admin", "not an absolute http:// or https:// URL")]
    [InlineData("https://user:secret@aco.example", "user information")]
    [InlineData("https://aco.example/?token=x", "query or fragment")]
    public void A_malformed_url_is_a_parse_error_that_names_the_option_and_what_is_wrong(string value, string why)
    {
        var parse = FtwinCommand.Create().Parse(["study", "list", "--coordinator", value, "--admin-token", "x"]);
        var error = Assert.Single(parse.Errors);
        Assert.StartsWith($"--coordinator: '{value}' ", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://aco.example")]
    [InlineData("https://aco.example:8443/")]
    [InlineData("http://[::1]:7400")]
    public void Absolute_http_and_https_urls_are_accepted(string value) => Assert.True(HttpUrlOption.TryParse(value, out _, out _));

    [Theory]
    [InlineData("http://aco.example:7400")]
    [InlineData("http://10.0.0.5:7400")]
    [InlineData("http://[2001:db8::1]:7400")]
    [InlineData("http://127.0.0.1.nip.io:7400")] // a name: only a lookup could say where it points, and none is made
    [InlineData("http://localhost.aco.example")]
    public void Plain_http_beyond_loopback_is_a_parse_error_saying_https_required(string value)
    {
        foreach (var (path, option) in UrlOptions())
        {
            var parse = FtwinCommand.Create().Parse([.. path, option.Name, value]);
            Assert.Contains(parse.Errors, e => e.Message.Contains(UrlPolicy.HttpsRequired, StringComparison.Ordinal) && e.Message.Contains(option.Name, StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:7400")]
    [InlineData("http://127.8.9.10:7400")]
    [InlineData("http://[::1]:7400")]
    [InlineData("http://localhost:7400")]
    [InlineData("http://LOCALHOST:7400")]
    [InlineData("https://aco.example")]
    [InlineData("https://10.0.0.5:8443")]
    public void Loopback_may_stay_on_http_and_https_goes_anywhere(string value) => Assert.Null(UrlPolicy.Refusal(new Uri(value), "--coordinator"));

    [Fact]
    public void Node_enroll_with_http_beyond_loopback_fails_before_it_reads_or_creates_the_node_directory_or_connects()
    {
        // A node directory that does not exist (enroll would create it) and a name that cannot resolve (RFC 6761 section 6.4, .invalid):
        // the only error that can come out is the policy's, and the directory is still not there.
        var dir = Path.Combine(TestFederation.TempDir("enroll-http"), "node");
        var (exit, _, stderr) = TestFederation.Ftwin("node", "enroll", "--node-dir", dir, "--coordinator", "http://aco.invalid:7400", "--token", "t");
        Assert.Equal(1, exit);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith(UrlPolicy.HttpsRequired + ": --coordinator http://aco.invalid:7400 ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("resolve", line, StringComparison.OrdinalIgnoreCase);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void An_analyst_command_with_http_beyond_loopback_fails_before_it_reads_its_token_file_or_connects()
    {
        var missing = Path.Combine(TestFederation.TempDir("study-http"), "no-such-token-file");
        var (exit, _, stderr) = TestFederation.Ftwin("study", "list", "--coordinator", "http://aco.invalid:7401", "--admin-token-file", missing);
        Assert.Equal(1, exit);
        Assert.Contains(UrlPolicy.HttpsRequired, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("token file", stderr, StringComparison.Ordinal); // the token file was never opened
    }

    [Fact]
    public async Task Enrollment_as_a_library_call_checks_the_url_before_it_touches_the_node_directory()
    {
        // A disposed node directory throws on any use: the policy's exception proves nothing of it was read first.
        var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(TestFederation.TempDir("enroll-disposed"));
        node.Dispose();
        var e = await Assert.ThrowsAsync<InsecureUrlException>(() => FederatedTwin.Node.Federation.Enrollment.Enroll(node, new Uri("http://aco.invalid:7400"), "t", "n", CancellationToken.None));
        Assert.StartsWith(UrlPolicy.HttpsRequired, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_admin_client_refuses_http_beyond_loopback_before_it_sends_its_token() =>
        Assert.StartsWith(UrlPolicy.HttpsRequired, Assert.Throws<InsecureUrlException>(() => new AdminClient(new Uri("http://aco.invalid:7401"), "secret")).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("study list")]
    [InlineData("model list")]
    [InlineData("study show some-study")]
    public void A_command_pointed_at_a_closed_port_gets_past_parsing_and_fails_with_a_connection_error(string commandLine)
    {
        var command = commandLine.Split(' ');
        var closed = FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort(); // free now: nothing listens there
        var (exit, _, stderr) = TestFederation.Ftwin([.. command, "--coordinator", $"http://127.0.0.1:{closed}", "--admin-token", "x"]);
        Assert.Equal(2, exit);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
        Assert.Contains("refused", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Cannot parse", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Node_enroll_pointed_at_a_closed_port_gets_past_parsing_and_fails_with_a_connection_error()
    {
        var closed = FederatedTwin.Cli.Demo.ChildProcess.FreeLoopbackPort();
        var (exit, _, stderr) = TestFederation.Ftwin("node", "enroll", "--node-dir", TestFederation.TempDir("enroll-closed"), "--coordinator", $"http://127.0.0.1:{closed}", "--token", "t");
        Assert.Equal(2, exit);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Cannot parse", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_url_on_the_command_line_gives_one_line_of_error_and_runs_nothing()
    {
        var dir = Path.Combine(TestFederation.TempDir("enroll-malformed"), "node");
        var (exit, _, stderr) = TestFederation.Ftwin("node", "enroll", "--node-dir", dir, "--coordinator", "aco.example:7400", "--token", "t");
        Assert.Equal(1, exit);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Equal("--coordinator: 'aco.example:7400' is not an absolute http:// or https:// URL (for example http://127.0.0.1:7400).", line);
        Assert.False(Directory.Exists(dir)); // the command did not run: no node directory was created
    }
}
