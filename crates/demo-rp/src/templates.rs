//! Tera templates and the stylesheet, compiled into the binary (one file to run). Autoescaping
//! is on for every `.html` template: claims and provider messages are untrusted text.

use std::sync::Arc;

use tera::{Context, Tera};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] =
    templates!["demo-rp/base.html", "demo-rp/index.html", "demo-rp/protected.html", "demo-rp/error.html",];

/// Served at `/style.css`; a file rather than inline styles so the CSP needs no `unsafe-inline`.
pub const STYLESHEET: &str = include_str!("../../../templates/demo-rp/style.css");

#[derive(Clone)]
pub struct Templates(Arc<Tera>);

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_escape() {
        let t = Templates::load().unwrap();
        let mut ctx = Context::new();
        ctx.insert("status", &400);
        ctx.insert("title", "Bad");
        ctx.insert("message", "<script>alert(1)</script>");
        ctx.insert("csrf_token", "t");
        ctx.insert("return_to", "/protected");
        ctx.insert("try_again", &true);
        let html = t.render("demo-rp/error.html", &ctx).unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
