using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>
/// Debian's Chromium and ChromeDriver (.ci/setup installs them), driven headless through Selenium WebDriver.
/// Outside CI a machine without them skips the browser tests with that reason; in CI (CI=true) they run and fail.
/// </summary>
internal static class Chromium
{
    public const string Browser = "/usr/bin/chromium";
    public const string Driver = "/usr/bin/chromedriver";

    public static bool Present => File.Exists(Browser) && File.Exists(Driver);

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? SkipReason => Present || InCi
        ? null
        : $"Debian chromium and chromium-driver are not installed ({Browser}, {Driver}); run .ci/setup. (In CI, with CI=true, these tests fail instead.)";

    public static ChromeDriver Start()
    {
        if (!Present)
        {
            throw new InvalidOperationException($"The browser tests need Debian's chromium and chromium-driver at {Browser} and {Driver}; .ci/setup installs them.");
        }

        // Never let Selenium Manager look for a browser or driver to download: this machine has no such network.
        Environment.SetEnvironmentVariable("SE_OFFLINE", "true");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = Browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,900",
            "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-sync", "--force-device-scale-factor=1");
        var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
        return driver;
    }
}

/// <summary>A test that needs the browser: skipped, with the reason, only where Chromium is missing outside CI.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (Chromium.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
