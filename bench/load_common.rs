//! Shared by the load generators `login_load.rs` and `flow_load.rs` (each includes this file as a
//! module): argument reading, the loopback-only rule, a per-flow cookie jar, reading the hidden
//! fields and action of a server-rendered form, one sign-in through `/login`, and percentiles.
//!
//! Pure parts are unit-tested here; whatever talks to a server is bounded by the caller's count,
//! deadline and the HTTP client's timeout.

#![allow(dead_code, reason = "included by two generators, each using a part of it")]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Command-line arguments, read one flag at a time.
pub struct Args(std::vec::IntoIter<String>);

impl Args {
    pub fn from_env() -> Self {
        Self(std::env::args().skip(1).collect::<Vec<_>>().into_iter())
    }

    #[cfg(test)]
    pub fn from(args: &[&str]) -> Self {
        Self(args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>().into_iter())
    }

    pub fn next_flag(&mut self) -> Option<String> {
        self.0.next()
    }

    /// The value after `flag`.
    pub fn value(&mut self, flag: &str) -> anyhow::Result<String> {
        self.0.next().with_context(|| format!("{flag} needs a value"))
    }

    pub fn parse<T: FromStr>(&mut self, flag: &str) -> anyhow::Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let raw = self.value(flag)?;
        raw.parse().with_context(|| format!("{flag}: cannot read {raw:?}"))
    }
}

/// The base URL without its trailing slash, if it names this machine's loopback interface: the
/// generators must never load anything else.
pub fn loopback_base_url(raw: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(raw).with_context(|| format!("not a URL: {raw}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() != "http" || !loopback || url.path() != "/" || url.query().is_some() {
        bail!("refusing to load anything but http://127.0.0.1:PORT or http://localhost:PORT: {raw}");
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The accounts the benchmark signs in as: `<prefix>00000`, `<prefix>00001`, ... all with one password.
pub struct Accounts {
    pub prefix: String,
    pub count: usize,
    pub password: String,
}

impl Accounts {
    /// The `n`th sign-in's account; wraps around after `count`.
    pub fn name(&self, n: usize) -> String {
        format!("{}{:05}", self.prefix, n % self.count.max(1))
    }

    pub fn read_password(file: &str) -> anyhow::Result<String> {
        let raw = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        Ok(raw.trim_end_matches(['\n', '\r']).to_owned())
    }
}

/// A browser's cookie jar for one host, enough for one sign-in or one authorization flow: cookies
/// replace each other by name, and an empty value or `Max-Age=0` deletes one.
#[derive(Default, Debug)]
pub struct Cookies(BTreeMap<String, String>);

impl Cookies {
    pub fn absorb(&mut self, res: &reqwest::Response) {
        for value in res.headers().get_all(reqwest::header::SET_COOKIE) {
            if let Ok(value) = value.to_str() {
                self.set_cookie(value);
            }
        }
    }

    /// Applies one `Set-Cookie` header value.
    pub fn set_cookie(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        if value.is_empty() || expired {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_owned(), value.to_owned());
        }
    }

    /// The `Cookie` request header.
    pub fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// A `<form>` of a server-rendered page: where it posts, its hidden fields, the names of its other
/// inputs, and its named submit buttons (`name`, `value`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub hidden: Vec<(String, String)>,
    pub inputs: Vec<String>,
    pub buttons: Vec<(String, String)>,
}

impl Form {
    /// Every form of the page, in order. Tolerant of attribute order and quoting; entities in
    /// attribute values are decoded (tera escapes `/`, `&`, `=` and quotes).
    pub fn parse_all(html: &str) -> Vec<Form> {
        let mut forms = Vec::new();
        let mut open: Option<Form> = None;
        for piece in html.split('<').skip(1) {
            let tag = piece.split('>').next().unwrap_or_default();
            // `</form>` keeps its slash; `<input .../>` ends its name at the space.
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let name = tag[..name_end].to_ascii_lowercase();
            let attrs = &tag[name_end..];
            match name.as_str() {
                "form" => {
                    forms.extend(open.take());
                    open = Some(Form {
                        action: attr(attrs, "action").unwrap_or_default(),
                        method: attr(attrs, "method").unwrap_or_else(|| "get".to_owned()).to_ascii_lowercase(),
                        ..Form::default()
                    });
                }
                "/form" => forms.extend(open.take()),
                "input" => {
                    let (Some(form), Some(field)) = (open.as_mut(), attr(attrs, "name")) else { continue };
                    if attr(attrs, "type").is_some_and(|t| t.eq_ignore_ascii_case("hidden")) {
                        form.hidden.push((field, attr(attrs, "value").unwrap_or_default()));
                    } else {
                        form.inputs.push(field);
                    }
                }
                "button" => {
                    let (Some(form), Some(field)) = (open.as_mut(), attr(attrs, "name")) else { continue };
                    form.buttons.push((field, attr(attrs, "value").unwrap_or_default()));
                }
                _ => {}
            }
        }
        forms.extend(open);
        forms
    }

    /// The value of a hidden field.
    pub fn hidden_value(&self, name: &str) -> Option<&str> {
        self.hidden.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has_field(&self, name: &str) -> bool {
        self.inputs.iter().chain(self.hidden.iter().map(|(k, _)| k)).any(|k| k == name)
    }
}

/// One attribute's decoded value from the inside of a tag (`name="x" value='y' required`); a bare
/// attribute has the empty value.
fn attr(attrs: &str, wanted: &str) -> Option<String> {
    let mut rest = attrs;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return None;
        }
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace() || c == '/').unwrap_or(rest.len()).max(1);
        let key = &rest[..key_end];
        let after_key = rest[key_end..].trim_start();
        let Some(after_eq) = after_key.strip_prefix('=') else {
            if key.eq_ignore_ascii_case(wanted) {
                return Some(String::new());
            }
            rest = after_key;
            continue;
        };
        let after_eq = after_eq.trim_start();
        let (value, tail) = match after_eq.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &after_eq[1..];
                let end = inner.find(q).unwrap_or(inner.len());
                (&inner[..end], inner.get(end + 1..).unwrap_or_default())
            }
            _ => {
                let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                (&after_eq[..end], &after_eq[end..])
            }
        };
        if key.eq_ignore_ascii_case(wanted) {
            return Some(decode_entities(value));
        }
        rest = tail;
    }
}

/// Decodes the HTML character references an attribute value may hold (named ones for the
/// characters escapers produce, and every numeric one); anything else is left as it is.
pub fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// How one sign-in ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    /// 503 from the bounded hashing queue; `true` when it carried `Retry-After`.
    Busy(bool),
    Throttled,
    Other(String),
}

/// One sign-in as a browser makes it: `GET /login` (the CSRF token and the cookie it is bound to),
/// then `POST` of the form to its action with the `n`th account. `forwarded_for`: claim a private
/// address of its own in `X-Forwarded-For` (believed only when the server trusts 127.0.0.1 as a proxy).
pub async fn sign_in(
    http: &reqwest::Client,
    base_url: &str,
    accounts: &Accounts,
    n: usize,
    forwarded_for: bool,
) -> anyhow::Result<Outcome> {
    let user = accounts.name(n);
    let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let with_ip = |req: reqwest::RequestBuilder| if forwarded_for { req.header("x-forwarded-for", &ip) } else { req };

    let res = with_ip(http.get(format!("{base_url}/login"))).send().await?;
    if res.status() != 200 {
        return Ok(Outcome::Other(format!("GET /login {}", res.status().as_u16())));
    }
    let mut cookies = Cookies::default();
    cookies.absorb(&res);
    let html = res.text().await?;
    let form = Form::parse_all(&html).into_iter().find(|f| f.has_field("password") && f.has_field("csrf_token"));
    let Some(form) = form else { bail!("no sign-in form with a csrf_token on /login") };
    let mut fields = form.hidden.clone();
    fields.retain(|(k, _)| k != "return_to");
    fields.extend([("login".to_owned(), user), ("password".to_owned(), accounts.password.clone())]);
    fields.push(("return_to".to_owned(), "/account".to_owned()));
    let res = with_ip(http.post(resolve(base_url, &form.action)))
        .header(reqwest::header::COOKIE, cookies.header())
        .header(reqwest::header::ORIGIN, base_url)
        .form(&fields)
        .send()
        .await?;
    let status = res.status().as_u16();
    let location = res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(match status {
        302 | 303 if location.ends_with("/account") => Outcome::Success,
        503 => Outcome::Busy(res.headers().contains_key(reqwest::header::RETRY_AFTER)),
        429 => Outcome::Throttled,
        _ => Outcome::Other(format!("POST /login {status} {location}")),
    })
}

/// A link or form action as an absolute URL on the server (`/login?...` -> `http://127.0.0.1:P/login?...`).
pub fn resolve(base_url: &str, target: &str) -> String {
    if target.starts_with('/') { format!("{base_url}{target}") } else { target.to_owned() }
}

/// The `q` quantile (nearest rank) of sorted latencies; zero when there are none.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sign-in page as templates/idp/login.html renders it (tera escapes `/`, `&` and `=`).
    const LOGIN_PAGE: &str = r#"<main><h1>Sign in</h1>
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="q0Zp-8x_Yw">
<input type="hidden" name="return_to" value="&#x2F;authorize?client_id&#x3D;bench-web&amp;state&#x3D;s1">
<div class="field">
  <label for="login">Username or email</label>
  <input id="login" name="login" type="text" autocomplete="username" maxlength="254" required autocapitalize="none" spellcheck="false" autofocus>
</div>
<div class="field"><label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required></div>
  <label class="checkbox" for="remember_me"><input type="checkbox" id="remember_me" name="remember_me" value="on"> Remember me</label>
  <button type="submit">Sign in</button>
</form></main>"#;

    const CONSENT_PAGE: &str = r#"<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="other"><button>Sign out</button></form>
<h1>Allow Bench web to access your account?</h1>
<form action='/consent' method="POST">
  <input value="tok&#x2F;1" name="csrf_token" type="hidden">
  <input type="hidden" name="request" value="client_id&#x3D;bench-web&amp;scope&#x3D;openid%20offline_access">
  <input type="hidden" name="issued_at" value="1764777600">
  <input type="hidden" name="ticket" value="abc&#61;&#x3d;"/>
  <div class="actions">
    <button type="submit" name="decision" value="allow">Allow</button>
    <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
  </div>
</form>"#;

    #[test]
    fn reads_the_sign_in_form() {
        let forms = Form::parse_all(LOGIN_PAGE);
        assert_eq!(forms.len(), 1);
        let form = &forms[0];
        assert_eq!((form.action.as_str(), form.method.as_str()), ("/login", "post"));
        assert_eq!(form.hidden_value("csrf_token"), Some("q0Zp-8x_Yw"));
        assert_eq!(form.hidden_value("return_to"), Some("/authorize?client_id=bench-web&state=s1"));
        assert_eq!(form.inputs, ["login", "password", "remember_me"]);
        assert!(form.has_field("password") && form.has_field("csrf_token") && !form.has_field("ticket"));
        assert!(form.buttons.is_empty(), "an unnamed button submits nothing");
    }

    #[test]
    fn reads_the_consent_form_among_others() {
        let forms = Form::parse_all(CONSENT_PAGE);
        assert_eq!(forms.len(), 2);
        let consent = forms.iter().find(|f| f.has_field("ticket")).unwrap();
        assert_eq!((consent.action.as_str(), consent.method.as_str()), ("/consent", "post"));
        assert_eq!(consent.hidden_value("csrf_token"), Some("tok/1"), "attribute order does not matter");
        assert_eq!(consent.hidden_value("request"), Some("client_id=bench-web&scope=openid%20offline_access"));
        assert_eq!(consent.hidden_value("ticket"), Some("abc=="), "decimal and hex references, self-closing tag");
        assert_eq!(consent.buttons, [("decision".into(), "allow".into()), ("decision".into(), "deny".into())]);
        assert_eq!(forms[0].hidden_value("csrf_token"), Some("other"));
    }

    #[test]
    fn pages_without_forms_or_with_broken_markup_give_what_they_have() {
        assert!(Form::parse_all("<p>Too many attempts</p>").is_empty());
        assert!(Form::parse_all("").is_empty());
        let cut = Form::parse_all(r#"<form action="/login" method=post><input type=hidden name=csrf_token value="x"#);
        assert_eq!(cut.len(), 1, "an unclosed form still counts");
        assert_eq!(cut[0].method, "post");
        assert_eq!(cut[0].hidden_value("csrf_token"), Some("x"));
    }

    #[test]
    fn decodes_entities_and_leaves_stray_ampersands() {
        assert_eq!(decode_entities("a&amp;b&lt;&gt;&quot;&#x27;&#39;&#x2F;&#x3D;"), "a&b<>\"''/=");
        assert_eq!(decode_entities("AT&T & co &unknown; &#xZZ; &"), "AT&T & co &unknown; &#xZZ; &");
        assert_eq!(decode_entities("&#1114112;"), "&#1114112;", "not a character");
    }

    #[test]
    fn cookie_jar_replaces_and_deletes_by_name() {
        let mut jar = Cookies::default();
        jar.set_cookie("__Host-csrf=abc; Path=/; HttpOnly; SameSite=Lax");
        jar.set_cookie("session=s1; Path=/; HttpOnly");
        assert_eq!(jar.header(), "__Host-csrf=abc; session=s1");
        jar.set_cookie("session=s2; Path=/");
        jar.set_cookie("__Host-csrf=; Path=/; Max-Age=0");
        assert_eq!(jar.header(), "session=s2");
        jar.set_cookie("session=s2; Max-Age=0");
        jar.set_cookie("garbage without equals");
        assert_eq!(jar.header(), "");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&d, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&d[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
        assert_eq!(ms(Duration::from_micros(1250)), "1.2 ms");
    }

    #[test]
    fn only_loopback_base_urls() {
        assert_eq!(loopback_base_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(loopback_base_url("http://localhost:9").unwrap(), "http://localhost:9");
        assert_eq!(loopback_base_url("http://[::1]:9").unwrap(), "http://[::1]:9");
        for bad in ["http://10.0.0.1:80", "https://example.com", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "x"]
        {
            assert!(loopback_base_url(bad).is_err(), "{bad}");
        }
        assert!(loopback_base_url("http://127.0.0.1:8080/prefix").is_err(), "endpoints are at the root");
    }

    #[test]
    fn accounts_wrap_around() {
        let a = Accounts { prefix: "bench".into(), count: 3, password: String::new() };
        assert_eq!([a.name(0), a.name(2), a.name(3)], ["bench00000", "bench00002", "bench00000"]);
        let mut args = Args::from(&["--seconds", "x"]);
        assert_eq!(args.next_flag().as_deref(), Some("--seconds"));
        assert!(args.parse::<u64>("--seconds").is_err());
        assert!(args.value("--seconds").is_err(), "a missing value is an error");
    }
}
