//! The account pages end to end, against the real binary on SQLite and on PostgreSQL: sign-up,
//! sign-in, sign-out, `/account`, and every attack of issue 3 (CSRF, cross-site posts, user
//! enumeration, brute force under 100 parallel attempts, spoofed `X-Forwarded-For`, open redirects,
//! XSS, malformed bodies, session fixation, replayed cookies). reqwest with a cookie store and no
//! redirects plays the browser.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;

use latchkey_tests::http::{Browser, Page};
use latchkey_tests::{PASSWORD, Server, run_cli};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

const INVALID: &str = "Incorrect username or password.";
const CSRF_MESSAGE: &str = "This form has expired or was sent from another site";

fn assert_no_store(page: &Page, what: &str) {
    assert_eq!(page.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{what}");
}

/// An HTML page (never a plain-text rejection or a 500).
fn assert_html(page: &Page, what: &str) {
    let ct = page.headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(ct.starts_with("text/html"), "{what}: content-type {ct}");
    assert!(page.body.contains("<html"), "{what}: {}", page.body);
}

/// Signs in with "Remember me" ticked.
async fn login_remembered(browser: &Browser, login: &str, password: &str) -> Page {
    browser.submit("/login", "/login", &[("login", login), ("password", password), ("remember_me", "on")]).await
}

/// A raw request with exactly these headers and body, no cookie jar.
async fn raw_post(server: &Server, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Page {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.post(server.url(path)).body(body);
    for (k, v) in headers {
        request = request.header(*k, HeaderValue::from_str(v).unwrap());
    }
    Browser::read(request.send().await.unwrap()).await
}

// ---------------------------------------------------------------------------------------------
// Scenarios, each on a fresh server
// ---------------------------------------------------------------------------------------------

async fn sign_up_sign_out_sign_in_and_account(server: &Server) {
    let browser = Browser::new(server);
    let page = browser.get("/signup").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_no_store(&page, "GET /signup");
    for needle in [
        r#"id="username" name="username""#,
        r#"id="email" name="email" type="email""#,
        r#"id="password" name="password" type="password""#,
        r#"id="password_confirm" name="password_confirm" type="password""#,
        r#"autocomplete="new-password""#,
        r#"autocomplete="email""#,
        r#"<label for="username">"#,
        r#"name="return_to" value="&#x2F;account""#,
        ">Create account</button>",
        r#"href="/login""#,
    ] {
        assert!(page.body.contains(needle), "signup page lacks {needle}");
    }
    let csrf = page.set_cookie("latchkey_csrf").expect("a CSRF cookie");
    assert!(csrf.contains("HttpOnly") && csrf.contains("SameSite=Lax") && csrf.contains("Path=/"), "{csrf}");

    let done = browser.signup("Alice", "alice@example.com", PASSWORD).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/account"));
    assert_no_store(&done, "sign-up redirect");
    let session = done.set_cookie("latchkey_session").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Max-Age") && !session.contains("Domain") && !session.contains("Secure"), "{session}");

    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert_no_store(&account, "/account");
    assert!(account.body.contains(r#"<dl class="facts">"#));
    assert!(account.body.contains("alice@example.com") && account.body.contains("<dd>alice</dd>"), "{}", account.body);
    assert!(account.body.contains("Signed in"));
    assert!(
        account.body.contains(r#"<div class="flash success" role="status">Your account has been created"#),
        "{}",
        account.body
    );
    assert!(account.body.contains(r#"href="/logout""#));
    // The flash message survives exactly one redirect.
    assert!(!browser.get("/account").await.body.contains("flash success"));

    let root = browser.get("/").await;
    assert!(root.status.is_redirection());
    assert_eq!(root.location(), Some("/account"));

    // GET /logout only asks.
    let confirm = browser.get("/logout").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert_no_store(&confirm, "GET /logout");
    assert!(confirm.body.contains(r#"action="/logout""#) && confirm.body.contains(">Sign out</button>"));
    assert_eq!(browser.get("/account").await.status, StatusCode::OK, "GET /logout changes nothing");

    let out = browser.post("/logout", &[("csrf_token", &confirm.csrf_token())]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.body.contains("You have been signed out"));
    assert!(out.set_cookie("latchkey_session").is_some_and(|c| c.contains("Max-Age=0")), "{:?}", out.set_cookies());
    let gone = browser.get("/account").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(gone.location(), Some("/login?return_to=%2Faccount"));

    // Sign in with the email and "Remember me": a persistent cookie for 30 days.
    let page = browser.get("/login?return_to=%2Faccount").await;
    for needle in [
        r#"id="login" name="login""#,
        r#"autocomplete="username""#,
        r#"autocomplete="current-password""#,
        r#"type="checkbox" id="remember_me" name="remember_me" value="on""#,
        ">Sign in</button>",
        r#"href="/signup""#,
    ] {
        assert!(page.body.contains(needle), "login page lacks {needle}");
    }
    assert_no_store(&page, "GET /login");
    let signed_in = login_remembered(&browser, "ALICE@example.com", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let session = signed_in.set_cookie("latchkey_session").unwrap();
    assert!(session.contains("Max-Age=2592000"), "{session}");
    let account = browser.get("/account").await;
    assert!(account.body.contains("You are signed in."), "{}", account.body);
    assert!(account.body.contains("Remembered on this device"));

    // login_hint pre-fills the identifier.
    let hinted = browser.get("/login?login_hint=alice").await;
    assert!(hinted.body.contains(r#"name="login" type="text" value="alice""#), "{}", hinted.body);
}

async fn sign_up_reports_each_problem_next_to_its_field(server: &Server) {
    let browser = Browser::new(server);
    let fields = [("username", "a!"), ("email", "not-an-email"), ("password", "short"), ("password_confirm", "other")];
    let page = browser.submit("/signup", "/signup", &fields).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_no_store(&page, "sign-up errors");
    for field in ["username", "email", "password", "password_confirm"] {
        assert!(
            page.body.contains(&format!(r#"<p class="field-error" id="{field}-error">"#)),
            "{field}: {}",
            page.body
        );
        assert!(page.body.contains(&format!(r#"aria-invalid="true" aria-describedby="{field}-error"#)), "{field}");
    }
    assert!(page.body.contains(r#"value="a!""#) && page.body.contains(r#"value="not-an-email""#), "values are kept");
    assert!(
        !page.body.contains(r#"value="short""#) && !page.body.contains(r#"value="other""#),
        "passwords are never echoed"
    );
    assert!(page.body.contains("at least 15 characters") || page.body.contains("Use at least 15"), "{}", page.body);
    assert!(page.body.contains("do not match"));

    let reserved = browser.signup("admin", "root@example.com", PASSWORD).await;
    assert_eq!(reserved.status, StatusCode::BAD_REQUEST);
    assert!(reserved.body.contains("That username cannot be used."), "{}", reserved.body);

    let common = browser.signup("carol", "carol@example.com", "passwordpassword").await;
    assert!(common.body.contains("commonly used or breached"), "{}", common.body);

    // Overlong input: a clear message, never a 500.
    let long_name = "a".repeat(10_000);
    let long_email = format!("{}@example.com", "b".repeat(300));
    let long = browser.signup(&long_name, &long_email, PASSWORD).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(
        long.body.contains("at most 32 characters") && long.body.contains("at most 254 characters"),
        "{}",
        long.body
    );

    // Taken username or taken email: one message that does not say which.
    assert_eq!(browser.signup("dave", "dave@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let other = Browser::new(server);
    for (username, email) in [("Dave", "someone@example.com"), ("someone", "DAVE@example.com")] {
        let taken = other.signup(username, email, PASSWORD).await;
        assert_eq!(taken.status, StatusCode::BAD_REQUEST);
        assert!(taken.body.contains("That username or email cannot be used."), "{}", taken.body);
        assert!(taken.set_cookie("latchkey_session").is_none());
    }
}

async fn failed_sign_in_keeps_the_username_and_clears_the_password(server: &Server) {
    let browser = Browser::new(server);
    assert_eq!(browser.signup("erin", "erin@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let anon = Browser::new(server);
    let page = anon.login("erin", "wrong-password-entirely").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!(r#"<div class="flash error" role="alert">{INVALID}</div>"#)), "{}", page.body);
    assert!(page.body.contains(r#"name="login" type="text" value="erin""#));
    assert!(!page.body.contains("wrong-password-entirely"));
    assert!(page.set_cookie("latchkey_session").is_none());
    // Empty and overlong fields get field messages.
    let empty = anon.submit("/login", "/login", &[("login", ""), ("password", "")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains(r#"id="login-error""#) && empty.body.contains(r#"id="password-error""#));
    let long = "x".repeat(5_000);
    let overlong = anon.submit("/login", "/login", &[("login", &long), ("password", &long)]).await;
    assert_eq!(overlong.status, StatusCode::BAD_REQUEST);
    assert!(overlong.body.contains("at most 254 characters") && overlong.body.contains("at most 256 characters"));
}

async fn forms_without_a_valid_csrf_token_or_from_other_sites_are_refused(server: &Server) {
    let victim = Browser::new(server);
    assert_eq!(victim.signup("frank", "frank@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let login = [("login", "frank"), ("password", PASSWORD)];

    let refused = |page: &Page, what: &str| {
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{what}");
        assert_html(page, what);
        assert!(page.body.contains(CSRF_MESSAGE), "{what}: {}", page.body);
        assert!(page.set_cookie("latchkey_session").is_none(), "{what}");
    };
    let fresh = Browser::new(server);
    fresh.get("/login").await;
    refused(&fresh.post("/login", &login).await, "no token");
    let mut wrong = login.to_vec();
    wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    refused(&fresh.post("/login", &wrong).await, "wrong token");
    // A token made for another browser's cookie (an attacker's own) does not fit this browser's cookie.
    let attacker = Browser::new(server);
    let foreign = attacker.get("/login").await.csrf_token();
    let mut stolen = login.to_vec();
    stolen.push(("csrf_token", &foreign));
    refused(&fresh.post("/login", &stolen).await, "another browser's token");
    // No CSRF cookie at all.
    refused(
        &raw_post(
            server,
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"login=a&password=b&csrf_token=x".to_vec(),
        )
        .await,
        "no cookie",
    );

    // A valid token, but posted from another site.
    let token = fresh.get("/login").await.csrf_token();
    let mut valid = login.to_vec();
    valid.push(("csrf_token", &token));
    let cross_origin = fresh.client().post(fresh.url("/login")).header("origin", "https://evil.example").form(&valid);
    refused(&Browser::read(cross_origin.send().await.unwrap()).await, "Origin: evil");
    let cross_site = fresh.client().post(fresh.url("/login")).header("sec-fetch-site", "cross-site").form(&valid);
    refused(&Browser::read(cross_site.send().await.unwrap()).await, "Sec-Fetch-Site: cross-site");
    let null_origin = fresh.client().post(fresh.url("/login")).header("origin", "null").form(&valid);
    refused(&Browser::read(null_origin.send().await.unwrap()).await, "Origin: null");
    // The same form from our own origin works.
    assert_eq!(fresh.post("/login", &valid).await.status, StatusCode::SEE_OTHER);

    // Sign-out is a state change too: without a token the session survives.
    let out = victim.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    assert_eq!(victim.get("/account").await.status, StatusCode::OK, "a forged sign-out did nothing");
    let signup = Browser::new(server);
    signup.get("/signup").await;
    let forged = signup
        .post(
            "/signup",
            &[
                ("username", "mallory"),
                ("email", "m@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

async fn unknown_user_wrong_password_and_disabled_account_look_the_same(server: &Server) {
    let setup = Browser::new(server);
    assert_eq!(setup.signup("grace", "grace@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(setup.signup("heidi", "heidi@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let out = run_cli(server.data_dir(), &server.db, &["users", "disable", "heidi"], "").unwrap();
    assert!(out.status.success(), "{}", out.stderr);

    let browser = Browser::new(server);
    let mut seen = Vec::new();
    for (login, password) in [("nobody", "wrong-password-here"), ("grace", "wrong-password-here"), ("heidi", PASSWORD)]
    {
        let page = browser.login(login, password).await;
        let body = page.body.replace(&format!(r#"value="{login}""#), r#"value="…""#);
        let cookies = page.set_cookies();
        seen.push((login, page.status, body, cookies));
    }
    let (_, status, body, cookies) = &seen[0];
    assert_eq!(*status, StatusCode::OK);
    assert!(body.contains(INVALID));
    for (login, s, b, c) in &seen[1..] {
        assert_eq!(s, status, "{login}: status");
        assert_eq!(b, body, "{login}: body");
        assert_eq!(c, cookies, "{login}: cookies");
    }
}

/// 100 sign-in forms posted at once from one browser (one address), the `i`th with `attempt(i)`
/// as (login, password); the pages in the order sent.
async fn parallel_sign_ins(server: &Server, attempt: impl Fn(usize) -> (String, String)) -> Vec<Page> {
    let attacker = Browser::new(server);
    let token = attacker.get("/login").await.csrf_token();
    let attacker = Arc::new(attacker);
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let attacker = Arc::clone(&attacker);
            let token = token.clone();
            let (login, password) = attempt(i);
            tokio::spawn(async move {
                attacker.post("/login", &[("login", &login), ("password", &password), ("csrf_token", &token)]).await
            })
        })
        .collect();
    let mut pages = Vec::with_capacity(tasks.len());
    for task in tasks {
        pages.push(task.await.unwrap());
    }
    pages
}

async fn one_hundred_parallel_guesses_get_only_the_free_attempts(server: &Server) {
    let owner = Browser::new(server);
    assert_eq!(owner.signup("ivan", "ivan@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let pages = parallel_sign_ins(server, |i| ("ivan".to_owned(), format!("guess-number-{i}-wrong"))).await;
    let (mut verified, mut throttled) = (0, 0);
    for page in pages {
        match page.status {
            StatusCode::OK => {
                assert!(page.body.contains(INVALID));
                verified += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry: u64 = page.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=900).contains(&retry), "Retry-After {retry}");
                assert!(page.body.contains("Too many sign-in attempts. Please wait"), "{}", page.body);
                throttled += 1;
            }
            other => panic!("unexpected {other}: {}", page.body),
        }
    }
    assert_eq!((verified, throttled), (5, 95), "only the 5 free attempts were checked");

    // Even the right password waits for the delay (the counter is per identifier, not per account
    // found, so unknown names behave the same)...
    let owner_try = Browser::new(server);
    let page = owner_try.login("ivan", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = page.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry <= 2, "the first delay is short: {retry}");
    // ...which is never permanent: after it, the right password works and clears the counter.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let page = owner_try.login("ivan", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // Other accounts were never affected (the per-address counter counts failures: 5 < 20).
    let other = Browser::new(server);
    assert_eq!(other.signup("judy", "judy@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
}

async fn guesses_across_many_names_are_throttled_per_address(server: &Server) {
    let browser = Browser::new(server);
    let token = browser.get("/login").await.csrf_token();
    for i in 0..20 {
        let name = format!("nobody{i}");
        let page = browser
            .post("/login", &[("login", &name), ("password", "some-wrong-password"), ("csrf_token", &token)])
            .await;
        assert_eq!(page.status, StatusCode::OK, "attempt {i}");
    }
    let page =
        browser.post("/login", &[("login", "nobody-else"), ("password", "x-wrong"), ("csrf_token", &token)]).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers.contains_key("retry-after"));
    // X-Forwarded-For from an untrusted peer is ignored: a spoofed address does not escape.
    let spoofed = browser
        .client()
        .post(browser.url("/login"))
        .header("origin", browser.base())
        .header("x-forwarded-for", "203.0.113.77")
        .form(&[("login", "nobody-new"), ("password", "x-wrong"), ("csrf_token", &token)]);
    assert_eq!(Browser::read(spoofed.send().await.unwrap()).await.status, StatusCode::TOO_MANY_REQUESTS);
}

/// The per-address counter is counted before the password is checked, like the per-name one: 100
/// parallel guesses from one address, each at another name (password spraying), get exactly the
/// address's 20 free verifications, however they interleave.
async fn one_hundred_parallel_guesses_at_different_names_get_the_address_allowance(server: &Server) {
    let pages = parallel_sign_ins(server, |i| (format!("sprayed-{i}"), "Summer2026!wrong".to_owned())).await;
    let (mut verified, mut throttled) = (0, 0);
    for page in pages {
        match page.status {
            StatusCode::OK => verified += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}: {}", page.body),
        }
    }
    assert_eq!((verified, throttled), (20, 80), "only the address's 20 free attempts were checked");
}

/// An attacker who fails on purpose at someone's name delays every browser that has never signed
/// in to that account, but not the owner's own browser (its signed device cookie gives it a
/// counter of its own); a planted, unsigned device cookie is worth nothing.
async fn the_owners_known_browser_is_not_locked_out_by_someone_elses_failures(server: &Server) {
    let owner = Browser::new(server);
    assert_eq!(owner.signup("lena", "lena@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert!(owner.cookie("latchkey_device").is_some(), "{}", owner.cookie_header());
    let page = owner.submit("/logout", "/logout", &[]).await;
    assert!(page.body.contains("You have been signed out"), "{}", page.body);
    assert!(!owner.signed_in().await);
    assert!(owner.cookie("latchkey_device").is_some(), "signing out keeps the device cookie");

    let attacker = Browser::new(server);
    for i in 0..8 {
        let page = attacker.login("lena", &format!("not-her-password-{i}")).await;
        let expected = if i < 5 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(page.status, expected, "attempt {i}");
    }
    // A browser that never signed in to lena waits, even with the right password...
    let stranger = Browser::new(server);
    assert_eq!(stranger.login("lena", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    let forger = Browser::new(server);
    forger.plant_cookie(
        "latchkey_device",
        "00000000-0000-0000-0000-000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert_eq!(forger.login("lena", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    // ...but lena's own browser signs in at once.
    let page = owner.login("lena", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(owner.signed_in().await);
    // Its own failures slow only itself: 5 free, then a delay, and the name's counter is untouched.
    let page = owner.submit("/logout", "/logout", &[]).await;
    assert!(page.body.contains("You have been signed out"), "{}", page.body);
    for i in 0..6 {
        let page = owner.login("lena", &format!("owner-typo-{i}")).await;
        let expected = if i < 5 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(page.status, expected, "owner attempt {i}");
    }
}

async fn forwarded_for_is_believed_from_trusted_proxies(server: &Server) {
    let browser = Browser::new(server);
    let token = browser.get("/login").await.csrf_token();
    // 30 failures, each "from" another client behind the trusted proxy: none is throttled per address.
    for i in 0..30 {
        let name = format!("nobody{i}");
        let request = browser
            .client()
            .post(browser.url("/login"))
            .header("origin", browser.base())
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[("login", name.as_str()), ("password", "some-wrong-password"), ("csrf_token", &token)]);
        assert_eq!(Browser::read(request.send().await.unwrap()).await.status, StatusCode::OK, "client {i}");
    }
}

async fn return_to_is_followed_only_to_local_paths(server: &Server) {
    let browser = Browser::new(server);
    assert_eq!(browser.signup("kim", "kim@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let cases = [
        ("/account?tab=1", "/account?tab=1"),
        ("/logout", "/logout"),
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example/", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/\t/evil.example", "/account"),
        ("evil.example", "/account"),
    ];
    for (requested, expected) in cases {
        let fields = [("login", "kim"), ("password", PASSWORD), ("return_to", requested)];
        let page = browser.submit("/login", "/login", &fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{requested:?}");
        assert_eq!(page.location(), Some(expected), "{requested:?}");
    }
    // The form never even carries an unsafe value.
    let page = browser.get("/login?return_to=%2F%2Fevil.example").await;
    assert!(page.body.contains(r#"name="return_to" value="&#x2F;account""#), "{}", page.body);
    let page = Browser::new(server).get("/signup?return_to=https%3A%2F%2Fevil.example").await;
    assert!(page.body.contains(r#"name="return_to" value="&#x2F;account""#));
    // Sign-up honours a safe return_to too.
    let fields = [
        ("username", "leo"),
        ("email", "leo@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("return_to", "//evil.example"),
    ];
    let page = Browser::new(server).submit("/signup", "/signup", &fields).await;
    assert_eq!(page.location(), Some("/account"));
}

async fn reflected_and_stored_values_are_escaped(server: &Server) {
    let out = run_cli(
        server.data_dir(),
        &server.db,
        &["users", "add", "mallory", "--email", "mallory@example.com", "--display-name", "<script>alert(1)</script>"],
        &format!("{PASSWORD}\n"),
    )
    .unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    let browser = Browser::new(server);
    assert_eq!(browser.login("mallory", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let account = browser.get("/account").await;
    assert!(account.body.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "{}", account.body);
    assert!(!account.body.contains("<script>alert"));
    // Reflected: a username and a login hint that try to break out of the attribute.
    let evil = r#""><script>alert(2)</script>"#;
    let fields =
        [("username", evil), ("email", "x@example.com"), ("password", PASSWORD), ("password_confirm", PASSWORD)];
    let page = Browser::new(server).submit("/signup", "/signup", &fields).await;
    assert!(!page.body.contains("<script>alert(2)"), "{}", page.body);
    assert!(page.body.contains("&quot;&gt;&lt;script&gt;"));
    let page = Browser::new(server).get("/login?login_hint=%22%3E%3Cscript%3Ealert(3)%3C%2Fscript%3E").await;
    assert!(!page.body.contains("<script>alert(3)"));
    let csp = account.headers["content-security-policy"].to_str().unwrap();
    for directive in
        ["default-src 'self'", "script-src 'none'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(directive), "{csp}");
    }
}

/// What is sent, with which headers and body, and the status and message expected.
type BodyCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, StatusCode, &'a str);

async fn malformed_bodies_get_a_400_page(server: &Server) {
    let browser = Browser::new(server);
    let page = browser.get("/login").await;
    let token = page.csrf_token();
    let cookie = browser.cookie_header();
    let form = [("content-type", "application/x-www-form-urlencoded"), ("cookie", cookie.as_str())];
    let cases: Vec<BodyCase<'_>> = vec![
        (
            "invalid UTF-8 (encoded)",
            form.to_vec(),
            format!("login=%FF%FE&password=x&csrf_token={token}").into_bytes(),
            StatusCode::BAD_REQUEST,
            "not valid UTF-8",
        ),
        (
            "invalid UTF-8 (raw)",
            form.to_vec(),
            [b"login=\xff\xfe&password=x&csrf_token=".as_slice(), token.as_bytes()].concat(),
            StatusCode::BAD_REQUEST,
            "not valid UTF-8",
        ),
        (
            "missing field",
            form.to_vec(),
            format!("login=alice&csrf_token={token}").into_bytes(),
            StatusCode::BAD_REQUEST,
            "incomplete or malformed",
        ),
        (
            "JSON",
            vec![("content-type", "application/json"), ("cookie", cookie.as_str())],
            br#"{"login":"a"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "accepts only a form",
        ),
        (
            "no content type",
            vec![("cookie", cookie.as_str())],
            b"login=a".to_vec(),
            StatusCode::BAD_REQUEST,
            "accepts only a form",
        ),
        (
            "oversized",
            form.to_vec(),
            vec![b'a'; 200 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than this server accepts",
        ),
    ];
    for (what, headers, body, status, message) in cases {
        let page = raw_post(server, "/login", &headers, body).await;
        assert_eq!(page.status, status, "{what}: {}", page.body);
        assert_html(&page, what);
        assert!(page.body.contains(message), "{what}: {}", page.body);
    }
    let bad_query = browser.get("/login?return_to=%FF").await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_html(&bad_query, "bad query");
}

async fn a_cookie_set_before_sign_in_is_never_promoted(server: &Server) {
    let setup = Browser::new(server);
    assert_eq!(setup.signup("nina", "nina@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let browser = Browser::new(server);
    let planted = "attacker-chosen-session-value-0123456789abc";
    browser.plant_cookie("latchkey_session", planted);
    let page = browser.get("/account").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = browser.login("nina", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let issued = browser.cookie("latchkey_session").unwrap();
    assert_ne!(issued, planted);
    assert_eq!(issued.len(), 43, "256 random bits, base64url");
    let attacker = Browser::new(server);
    attacker.plant_cookie("latchkey_session", planted);
    assert_eq!(attacker.get("/account").await.status, StatusCode::SEE_OTHER, "the planted value is worth nothing");
    // Signing in again (same browser) issues yet another id.
    browser.login("nina", PASSWORD).await;
    assert_ne!(browser.cookie("latchkey_session").unwrap(), issued);
    let replay = Browser::new(server);
    replay.plant_cookie("latchkey_session", &issued);
    assert_eq!(replay.get("/account").await.status, StatusCode::SEE_OTHER, "the previous session ended");
}

async fn a_replayed_cookie_after_sign_out_is_anonymous(server: &Server) {
    let browser = Browser::new(server);
    assert_eq!(browser.signup("oscar", "oscar@example.com", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let stolen = browser.cookie("latchkey_session").unwrap();
    let thief = Browser::new(server);
    thief.plant_cookie("latchkey_session", &stolen);
    assert_eq!(thief.get("/account").await.status, StatusCode::OK, "the copy works while the session lives");
    let token = browser.get("/logout").await.csrf_token();
    assert!(browser.post("/logout", &[("csrf_token", &token)]).await.body.contains("You have been signed out"));
    let page = thief.get("/account").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), Some("/login?return_to=%2Faccount"));
}

// ---------------------------------------------------------------------------------------------
// Both databases
// ---------------------------------------------------------------------------------------------

latchkey_tests::on_both_databases!(
    sign_up_sign_out_sign_in_and_account,
    sign_up_reports_each_problem_next_to_its_field,
    failed_sign_in_keeps_the_username_and_clears_the_password,
    forms_without_a_valid_csrf_token_or_from_other_sites_are_refused,
    unknown_user_wrong_password_and_disabled_account_look_the_same,
    one_hundred_parallel_guesses_get_only_the_free_attempts,
    guesses_across_many_names_are_throttled_per_address,
    one_hundred_parallel_guesses_at_different_names_get_the_address_allowance,
    the_owners_known_browser_is_not_locked_out_by_someone_elses_failures,
    forwarded_for_is_believed_from_trusted_proxies with ("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1/32"),
    return_to_is_followed_only_to_local_paths,
    reflected_and_stored_values_are_escaped,
    malformed_bodies_get_a_400_page,
    a_cookie_set_before_sign_in_is_never_promoted,
    a_replayed_cookie_after_sign_out_is_anonymous,
);
