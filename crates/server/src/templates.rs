//! Tera templates and the stylesheet, compiled into the binary so a deployed `latchkey` is one
//! file. Autoescaping is on for every `.html` template: reflected values are always escaped.

use std::sync::Arc;

use axum::http::StatusCode;
use tera::{Context, Tera};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = templates![
    "idp/base.html",
    "idp/error.html",
    "idp/macros.html",
    "idp/_flash.html",
    "idp/login.html",
    "idp/signup.html",
    "idp/logout.html",
    "idp/signed_out.html",
    "idp/account.html",
    "idp/account/fields.html",
    "idp/account/layout.html",
    "idp/account/profile.html",
    "idp/account/password.html",
    "idp/account/sessions.html",
    "idp/account/apps.html",
    "idp/account/activity.html",
    "idp/consent.html",
    "idp/end_session.html",
    "idp/admin/layout.html",
    "idp/admin/overview.html",
    "idp/admin/accounts.html",
    "idp/admin/account_new.html",
    "idp/admin/account.html",
    "idp/admin/clients.html",
    "idp/admin/client_form.html",
    "idp/admin/client_secret.html",
    "idp/admin/roles.html",
    "idp/admin/keys.html",
    "idp/admin/audit.html",
    "idp/admin/confirm.html",
    "idp/admin/account_password.html",
    "idp/admin/setup.html",
    "idp/admin/_pager.html",
];

/// The stylesheet served at `/static/latchkey.css`.
pub const STYLESHEET: &str = include_str!("../../../static/latchkey.css");

#[derive(Clone)]
pub struct Templates(Arc<Tera>);

impl Templates {
    /// Parses every template; a broken template fails start-up, not a request.
    pub fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html"]);
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
        Ok(Self(Arc::new(tera)))
    }

    pub fn render(&self, name: &str, context: &Context) -> Result<String, tera::Error> {
        self.0.render(name, context)
    }

    /// The error page. It cannot fail to render in practice (its template is parsed at start-up);
    /// if it ever does, a plain-text fallback still carries the request id.
    pub fn render_error(&self, status: StatusCode, title: &str, message: &str, request_id: &str) -> String {
        let mut ctx = Context::new();
        ctx.insert("status", &status.as_u16());
        ctx.insert("title", title);
        ctx.insert("message", message);
        ctx.insert("request_id", request_id);
        self.render("idp/error.html", &ctx).unwrap_or_else(|err| {
            tracing::error!(error = %err, "error page failed to render");
            format!("Error {} (request id {})", status.as_u16(), request_id.replace(['<', '>', '&', '"', '\''], ""))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_escape() {
        let t = Templates::load().unwrap();
        let html = t.render_error(StatusCode::BAD_REQUEST, "Bad", "<script>alert(1)</script>", "abc");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("abc"));
    }
}
