//! The client's address, believing `X-Forwarded-For` only from configured trusted proxies.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The address of whoever sent the request, as far as we can trust it. `None` only when the
/// server runs without connection info (in-process tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn to_string_opt(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

/// Walks `X-Forwarded-For` from the right: each hop appended by a trusted proxy is skipped, and the
/// first address not in `trusted` is the client. A header from an untrusted peer is ignored
/// entirely, because anyone can send one (and would, to dodge per-IP throttling).
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|s| s.parse::<IpAddr>().or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip())))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let mut client = peer;
    for hop in hops.iter().rev() {
        client = *hop;
        if !is_trusted(hop) {
            break;
        }
    }
    Some(client)
}

/// Was the original request https, per a trusted proxy's `X-Forwarded-Proto` or our own TLS?
pub fn forwarded_https(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> bool {
    peer.is_some_and(|p| trusted.iter().any(|net| net.contains(&p)))
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(resolve(peer, &parts.headers, &app.config.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let got = resolve(Some(ip("203.0.113.9")), &headers("1.2.3.4"), &[]);
        assert_eq!(got, Some(ip("203.0.113.9")));
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let got = resolve(Some(ip("203.0.113.9")), &headers("1.2.3.4"), &trusted);
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right_past_trusted_hops() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // spoofed, real client, inner proxy
        let got = resolve(Some(ip("10.0.0.2")), &headers("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted);
        assert_eq!(got, Some(ip("198.51.100.7")));
        // garbage header from a trusted proxy: fall back to the proxy itself
        let got = resolve(Some(ip("10.0.0.2")), &headers("not-an-ip"), &trusted);
        assert_eq!(got, Some(ip("10.0.0.2")));
        assert_eq!(resolve(None, &headers("1.2.3.4"), &trusted), None);
    }

    #[test]
    fn forwarded_proto_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(forwarded_https(Some(ip("127.0.0.1")), &h, &trusted));
        assert!(!forwarded_https(Some(ip("192.0.2.1")), &h, &trusted));
    }
}
