using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>
/// One person at the dashboard: the collection's headless Chromium with its cookies cleared (a new visitor; one
/// browser for all tests keeps the suite quick), signing in, moving between pages, taking screenshots.
/// </summary>
internal sealed class DashboardSession : IDisposable
{
    private readonly ChromeDriver _driver;
    private readonly Uri _base;

    public DashboardSession(ChromeDriver driver, Uri site)
    {
        _driver = driver;
        _base = site;
        // Every server here is on 127.0.0.1, and cookies belong to the host, not the port: one clear forgets every session.
        _driver.Navigate().GoToUrl(new Uri(_base, "/health/live"));
        _driver.Manage().Cookies.DeleteAllCookies();
        _driver.Manage().Window.Size = new System.Drawing.Size(1366, 900);
    }

    public IWebDriver Driver => _driver;

    public string Path => new Uri(_driver.Url).AbsolutePath;

    public void Go(string path) => _driver.Navigate().GoToUrl(new Uri(_base, path));

    public IWebElement Find(string css) => _driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => _driver.FindElements(By.CssSelector(css));

    public void SignIn(string name, string password = DashboardFederation.Password)
    {
        Go("/signin");
        Find("#name").SendKeys(name);
        Find("#password").SendKeys(password);
        Find("#sign-in").Click();
        Until(() => Path != "/signin" || FindAll("#signin-error").Count > 0, TimeSpan.FromSeconds(15), "the sign-in to finish");
    }

    /// <summary>Waits for a condition the page reaches by itself (a redirect, the live region's refresh).</summary>
    public void Until(Func<bool> condition, TimeSpan timeout, string what)
    {
        var wait = new WebDriverWait(_driver, timeout) { PollingInterval = TimeSpan.FromMilliseconds(250), Message = "timed out waiting for " + what };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        wait.Until(_ => condition());
    }

    /// <summary>Saves the whole page as docs/screenshots/NAME.png (the window is stretched to the page's height first).</summary>
    public string Screenshot(string name)
    {
        var height = Convert.ToInt32(_driver.ExecuteScript("return Math.ceil(document.documentElement.scrollHeight);"), System.Globalization.CultureInfo.InvariantCulture);
        _driver.Manage().Window.Size = new System.Drawing.Size(1366, Math.Clamp(height, 700, 4000));
        _driver.ExecuteScript("window.scrollTo(0, 0);"); // the page from its top, whatever field had the focus
        var file = System.IO.Path.Combine(ScreenshotDirectory, name + ".png");
        _driver.GetScreenshot().SaveAsFile(file);
        _driver.Manage().Window.Size = new System.Drawing.Size(1366, 900);
        return file;
    }

    private static string ScreenshotDirectory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "FederatedTwin.sln")))
            {
                dir = dir.Parent;
            }

            var target = System.IO.Path.Combine(dir?.FullName ?? System.IO.Path.GetTempPath(), "docs", "screenshots");
            Directory.CreateDirectory(target);
            return target;
        }
    }

    public void Dispose() => _driver.Manage().Cookies.DeleteAllCookies();
}
