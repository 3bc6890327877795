//! A real relying party for the end-to-end tests: the `openidconnect` crate, with discovery, PKCE,
//! nonce and ID token verification done by the library rather than by our own code.
//!
//! Test servers keep the default issuer while listening on a random port, so the relying party's
//! HTTP client sends every request meant for the issuer to the server's real address
//! ([`crate::http::to_server`]): the issuer, the discovery document and the ID tokens stay exactly as
//! a deployed relying party would see them.

use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IntrospectionUrl, IssuerUrl, PkceCodeVerifier, RedirectUrl,
};

use crate::http::to_server;

/// What the relying party's HTTP client returns for one request.
pub type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, std::io::Error>>>>;

/// The relying party's HTTP client: no redirects (openidconnect requires that, against SSRF), and
/// requests meant for the default issuer sent to `base`, the server's real address.
pub fn rp_http(base: String) -> impl Fn(HttpRequest) -> HttpFuture {
    let client = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("building the relying party's HTTP client: {e}"));
    move |req: HttpRequest| {
        let client = client.clone();
        let url = to_server(&req.uri().to_string(), &base);
        Box::pin(async move {
            let io = |e: openidconnect::reqwest::Error| std::io::Error::other(e.to_string());
            let mut builder = client.request(req.method().clone(), url).body(req.body().clone());
            for (name, value) in req.headers() {
                builder = builder.header(name, value);
            }
            let res = builder.send().await.map_err(io)?;
            let mut out = openidconnect::http::Response::builder().status(res.status());
            for (name, value) in res.headers() {
                out = out.header(name, value);
            }
            let body = res.bytes().await.map_err(io)?.to_vec();
            out.body(body).map_err(std::io::Error::other)
        })
    }
}

/// A client from discovery, with its redirect URI and the introspection endpoint set.
pub type RpClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// A confidential relying party: the discovered client and the HTTP client it uses.
pub struct Rp {
    pub client: RpClient,
    pub http: Box<dyn Fn(HttpRequest) -> HttpFuture>,
}

impl Rp {
    /// Discovers `issuer` (through the server at `base`) and sets the client up with its secret and
    /// redirect URI; the introspection endpoint is `{issuer}/introspect`.
    pub async fn discover(base: &str, issuer: &str, client_id: &str, secret: &str, redirect: &str) -> Self {
        let http: Box<dyn Fn(HttpRequest) -> HttpFuture> = Box::new(rp_http(base.to_owned()));
        let issuer_url = IssuerUrl::new(issuer.to_owned()).unwrap_or_else(|e| panic!("{issuer}: {e}"));
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &http)
            .await
            .unwrap_or_else(|e| panic!("discovery of {issuer}: {e:?}"));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            Some(ClientSecret::new(secret.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).unwrap_or_else(|e| panic!("{redirect}: {e}")))
        .set_introspection_url(
            IntrospectionUrl::new(format!("{issuer}/introspect")).unwrap_or_else(|e| panic!("{issuer}: {e}")),
        );
        Self { client, http }
    }

    /// Exchanges `code` with the PKCE `verifier`; fails the test on an error.
    pub async fn exchange(&self, code: String, verifier: PkceCodeVerifier) -> CoreTokenResponse {
        self.client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap_or_else(|e| panic!("no token endpoint: {e:?}"))
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .unwrap_or_else(|e| panic!("code exchange: {e:?}"))
    }
}
