//! Headless Chromium for the browser tests, driven over WebDriver (`fantoccini`) through Debian's
//! `chromedriver`.
//!
//! Why WebDriver rather than raw HTTP: the browser tests check what a person gets from the real
//! pages (forms, cookies as Chromium stores them, redirects Chromium follows, what the page looks
//! like), which `reqwest` cannot show.
//!
//! Each [`Browser`] owns one `chromedriver` on a free loopback port, in its own process group so that
//! it and the Chromium it starts are killed together when the `Browser` is dropped, even when a test
//! panics half-way. Chromium gets a fresh profile directory, never talks to anything but 127.0.0.1,
//! and every wait is bounded.
//!
//! Availability: when `chromium` or `chromedriver` is missing, [`Browser::launch`] returns `None`
//! after a loud message, except in CI (`CI=true`), where a missing browser is a failure.

use std::future::Future;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};

/// Upper bound for one WebDriver command (a navigation, a click that submits a form, ...).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for waiting on a page state (a URL, an element).
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for chromedriver to listen and Chromium to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Desktop viewport for screenshots; [`Browser::set_viewport`] switches to a phone's.
const WINDOW: (u32, u32) = (1280, 900);

/// A headless Chromium session, with the server's base URL and a screenshot directory.
pub struct Browser {
    client: Client,
    base_url: String,
    driver: Child,
    shots_dir: PathBuf,
    shots_taken: u32,
    /// Chromium's profile and chromedriver's log; removed after the processes are gone (see `Drop`).
    _profile: tempfile::TempDir,
}

/// Where the browser binaries are, or why they are not usable.
fn locate() -> Result<(PathBuf, PathBuf), String> {
    let chromium = env_or_path("CHROMIUM_PATH", &["chromium", "chromium-browser"]);
    let driver = env_or_path("CHROMEDRIVER_PATH", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Ok((c, d)),
        (c, d) => {
            let mut missing = Vec::new();
            if c.is_none() {
                missing.push("chromium");
            }
            if d.is_none() {
                missing.push("chromedriver (package chromium-driver)");
            }
            Err(format!(
                "{} not found; install with `apt-get install -y chromium chromium-driver`",
                missing.join(" and ")
            ))
        }
    }
}

/// An explicit path from `var`, else the first of `names` on `PATH`. (Not `LATCHKEY_*`: the server
/// rejects unknown keys under its own prefix, and it inherits the test environment.)
fn env_or_path(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    names.iter().flat_map(|name| std::env::split_paths(&dirs).map(move |dir| dir.join(name))).find(|p| p.is_file())
}

/// The directory this test's screenshots go to, emptied so a rerun shows no stale pictures.
fn screenshot_dir(test: &str) -> anyhow::Result<PathBuf> {
    // Not under target/: the target directory is shared and lives outside the clone; a person looks here.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("output/screenshots").join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Runs one WebDriver step with a deadline, naming the step in the error.
async fn bounded<T, E>(what: &str, step: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(COMMAND_TIMEOUT, step).await {
        Ok(result) => result.with_context(|| what.to_owned()),
        Err(_) => bail!("{what}: no answer from the browser within {COMMAND_TIMEOUT:?}"),
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for the test named `test`, with pages resolved
    /// against `base_url` (the server under test).
    ///
    /// Returns `None` (after a loud message on stderr) when the browser is not installed, unless
    /// `CI=true`, where that panics. A browser that is installed but fails to start always panics.
    pub async fn launch(test: &str, base_url: &str) -> Option<Self> {
        let (chromium, driver) = match locate() {
            Ok(found) => found,
            Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("browser tests need Chromium in CI: {why}")
            }
            Err(why) => {
                // Straight to the process's stderr: the test harness captures `eprintln!`, and a skip
                // nobody sees looks like a pass.
                let banner = "!".repeat(78);
                let _ = writeln!(std::io::stderr(), "\n{banner}\n!!! SKIPPING browser test {test}: {why}\n{banner}\n");
                return None;
            }
        };
        match Self::start(test, base_url, &chromium, &driver).await {
            Ok(browser) => Some(browser),
            Err(err) => panic!("could not start Chromium ({}) via {}: {err:#}", chromium.display(), driver.display()),
        }
    }

    async fn start(test: &str, base_url: &str, chromium: &Path, driver_bin: &Path) -> anyhow::Result<Self> {
        let profile = tempfile::tempdir()?;
        let shots_dir = screenshot_dir(test)?;
        // chromedriver has no "pick a port and tell me" mode, so there is a small window in which
        // another process could take this one; the start then fails loudly.
        let port = crate::free_port();
        let log_path = profile.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path)?;
        let mut driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: Drop kills chromedriver and every Chromium process in one go.
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning {}", driver_bin.display()))?;

        let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = driver.try_wait()? {
                bail!("chromedriver exited with {status}:\n{}", read_log());
            }
            if Instant::now() > deadline {
                kill_group(&mut driver);
                bail!("chromedriver did not listen on {addr} within {START_TIMEOUT:?}:\n{}", read_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let user_data_dir = profile.path().join("chromium");
        let args = [
            "--headless".to_owned(),
            // Running as root in a container: Chromium's sandbox needs user namespaces we may not have.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-breakpad".to_owned(),
            "--disable-crash-reporter".to_owned(),
            // Nothing but loopback: any other host name fails to resolve, so a page can never leak out.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_owned(),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            format!("--user-data-dir={}", user_data_dir.display()),
        ];
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": 30_000, "script": 10_000, "implicit": 0 },
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!("a JSON object literal") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connect =
            async { ClientBuilder::new(connector).capabilities(capabilities).connect(&format!("http://{addr}")).await };
        let client = match tokio::time::timeout(START_TIMEOUT, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                kill_group(&mut driver);
                bail!("no WebDriver session: {err}\n{}", read_log());
            }
            Err(_) => {
                kill_group(&mut driver);
                bail!("no WebDriver session within {START_TIMEOUT:?}\n{}", read_log());
            }
        };
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            driver,
            shots_dir,
            shots_taken: 0,
            _profile: profile,
        })
    }

    /// The underlying WebDriver client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The absolute URL of `path` on the server under test.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Navigates to `path` (relative to the server) and waits for the page to load.
    pub async fn open(&self, path: &str) -> anyhow::Result<()> {
        bounded(&format!("opening {path}"), self.client.goto(&self.url(path))).await
    }

    /// The current location as `path?query`.
    pub async fn path(&self) -> anyhow::Result<String> {
        let url = bounded("reading the URL", self.client.current_url()).await?;
        Ok(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Types `value` into the field with this `id`, replacing what was there.
    pub async fn fill(&self, id: &str, value: &str) -> anyhow::Result<()> {
        let what = format!("filling #{id}");
        let field = bounded(&what, self.client.find(Locator::Id(id))).await?;
        bounded(&what, field.clear()).await?;
        bounded(&what, field.send_keys(value)).await
    }

    /// The current value of the form field with this `id` (what the person would see in it).
    pub async fn value(&self, id: &str) -> anyhow::Result<String> {
        let what = format!("reading #{id}");
        let field = bounded(&what, self.client.find(Locator::Id(id))).await?;
        Ok(bounded(&what, field.prop("value")).await?.unwrap_or_default())
    }

    /// Ticks or unticks the checkbox with this `id` by clicking it, as a person would.
    pub async fn set_checked(&self, id: &str, checked: bool) -> anyhow::Result<()> {
        let what = format!("checking #{id}");
        let field = bounded(&what, self.client.find(Locator::Id(id))).await?;
        if bounded(&what, field.is_selected()).await? != checked {
            bounded(&what, field.click()).await?;
        }
        anyhow::ensure!(bounded(&what, field.is_selected()).await? == checked, "#{id} did not change");
        Ok(())
    }

    /// Clicks the button whose visible text is `text` (a `<button>` or a submit `<input>`).
    pub async fn click_button(&self, text: &str) -> anyhow::Result<()> {
        anyhow::ensure!(!text.contains('\''), "button text with a quote cannot go into the XPath literal");
        let xpath = format!(
            "//button[normalize-space(.)='{text}'] | //input[(@type='submit' or @type='button') and @value='{text}']"
        );
        let what = format!("clicking the {text:?} button");
        let button = bounded(&what, self.client.find(Locator::XPath(&xpath))).await?;
        let page = bounded(&what, self.client.find(Locator::Css("html"))).await?;
        bounded(&what, button.click()).await?;
        // Our buttons submit forms, which replace the document. Wait until the old document is gone,
        // so whatever is read next belongs to the new page (reading too early races the navigation
        // and fails with "stale element reference"). A click that does not navigate just waits out.
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while Instant::now() < deadline {
            if page.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// Follows the link whose `href` attribute is exactly `href`.
    pub async fn click_link(&self, href: &str) -> anyhow::Result<()> {
        let what = format!("following the link to {href}");
        let link = bounded(&what, self.client.find(Locator::Css(&format!("a[href=\"{href}\"]")))).await?;
        bounded(&what, link.click()).await
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let what = format!("reading {css}");
        let element = bounded(&what, self.client.find(Locator::Css(css))).await?;
        bounded(&what, element.text()).await
    }

    /// The rendered text of the whole page.
    pub async fn page_text(&self) -> anyhow::Result<String> {
        self.text("body").await
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        let what = format!("reading {css}[{name}]");
        let element = bounded(&what, self.client.find(Locator::Css(css))).await?;
        bounded(&what, element.attr(name)).await
    }

    /// Whether some element matches `css` right now (no waiting).
    pub async fn exists(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!bounded(&format!("looking for {css}"), self.client.find_all(Locator::Css(css))).await?.is_empty())
    }

    /// Waits until an element matches `css`, up to a bounded time.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<()> {
        let found = self.client.wait().at_most(WAIT_TIMEOUT).every(Duration::from_millis(50));
        match found.for_element(Locator::Css(css)).await {
            Ok(_) => Ok(()),
            Err(err) => bail!("{css} did not appear within {WAIT_TIMEOUT:?} on {}: {err}", self.describe().await),
        }
    }

    /// Waits until the browser is at `path` (the path only, query ignored), up to a bounded time.
    pub async fn wait_for_path(&self, path: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let url = bounded("reading the URL", self.client.current_url()).await?;
            if url.path() == path {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("expected to be at {path} within {WAIT_TIMEOUT:?}; {}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The cookies Chromium holds for the current page, as it stores them (expiry, flags).
    pub async fn cookies(&self) -> anyhow::Result<Vec<Cookie<'static>>> {
        bounded("reading cookies", self.client.get_all_cookies()).await
    }

    /// Resizes the window, e.g. to a phone's viewport (390 x 844) before a screenshot.
    pub async fn set_viewport(&self, width: u32, height: u32) -> anyhow::Result<()> {
        bounded("resizing the window", self.client.set_window_size(width, height)).await
    }

    /// Saves a PNG of the viewport as `tests/output/screenshots/<test>/<nn>-<name>.png` and prints
    /// its path, so a person can look at every page a test went through, in order.
    pub async fn screenshot(&mut self, name: &str) -> anyhow::Result<PathBuf> {
        let png = bounded(&format!("screenshot {name}"), self.client.screenshot()).await?;
        self.shots_taken += 1;
        let path = self.shots_dir.join(format!("{:02}-{name}.png", self.shots_taken));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Where the browser is and what it shows, for error messages.
    async fn describe(&self) -> String {
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<{e}>"));
        let text = self.page_text().await.unwrap_or_else(|e| format!("<{e}>"));
        let text: String = text.chars().take(600).collect();
        format!("now at {url}, showing:\n{text}")
    }

    /// Ends the WebDriver session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        // Drop does the rest.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Fields (the profile directory among them) drop after this, once nothing writes to them.
        kill_group(&mut self.driver);
    }
}

/// Kills chromedriver's process group (chromedriver and every Chromium process it started), by id.
fn kill_group(driver: &mut Child) {
    if let Ok(None) = driver.try_wait() {
        let group = format!("-{}", driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(driver.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = driver.wait();
    } else {
        // chromedriver already exited; Chromium children may linger in the group.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", driver.id())]).stderr(Stdio::null()).status();
    }
}
