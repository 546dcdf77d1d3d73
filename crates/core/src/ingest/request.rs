//! Building requests for one resource: URL, params, headers, auth; and the same-host rule.
//!
//! Every URL we request must be on the configured `base_url` host (scheme, host and port): a
//! next link pointing elsewhere would otherwise carry our credentials to a stranger.

use url::Url;

use super::config::{Auth, KeyLocation, SourceConfig};
use super::error::ExtractError;
use super::secrets::Secrets;

/// A source's auth names a secret that is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name} is not set")]
pub struct MissingSecret {
    pub name: String,
}

/// Auth resolved to what goes on the wire, plus the query key to hide in messages.
#[derive(Debug, Clone, Default)]
pub struct WireAuth {
    headers: Vec<(String, String)>,
    query: Option<(String, String)>,
}

impl WireAuth {
    /// Looks the secret up; a missing secret is an error naming it (never its value).
    pub fn resolve(auth: Option<&Auth>, secrets: &dyn Secrets) -> Result<Self, MissingSecret> {
        let lookup = |name: &str| {
            secrets
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| MissingSecret {
                    name: name.to_string(),
                })
        };
        Ok(match auth {
            None => Self::default(),
            Some(Auth::Bearer { secret }) => Self {
                headers: vec![(
                    "authorization".into(),
                    format!("Bearer {}", lookup(secret)?),
                )],
                query: None,
            },
            Some(Auth::ApiKey {
                name,
                location: KeyLocation::Header,
                secret,
            }) => Self {
                headers: vec![(name.clone(), lookup(secret)?)],
                query: None,
            },
            Some(Auth::ApiKey {
                name,
                location: KeyLocation::Query,
                secret,
            }) => Self {
                headers: Vec::new(),
                query: Some((name.clone(), lookup(secret)?)),
            },
            Some(Auth::Basic { username, secret }) => Self {
                headers: vec![(
                    "authorization".into(),
                    format!(
                        "Basic {}",
                        base64(format!("{username}:{}", lookup(secret)?).as_bytes())
                    ),
                )],
                query: None,
            },
        })
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Sets the query key (replacing any value already there), if auth goes in the query.
    pub fn apply_query(&self, url: &mut Url) {
        if let Some((name, value)) = &self.query {
            set_params(url, &[(name.clone(), value.clone())]);
        }
    }

    /// The URL without the query key, for URLs a server hands back (a redirect's `Location`
    /// may echo it): the key is added again only when the request is sent.
    pub fn strip_query(&self, url: &Url) -> Url {
        let Some((secret_name, _)) = &self.query else {
            return url.clone();
        };
        if !url.query_pairs().any(|(k, _)| &k == secret_name) {
            return url.clone();
        }
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != secret_name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut stripped = url.clone();
        if pairs.is_empty() {
            stripped.set_query(None);
        } else {
            stripped.query_pairs_mut().clear().extend_pairs(pairs);
        }
        stripped
    }

    /// The URL for messages: the query key's value replaced by `***`.
    pub fn redact(&self, url: &Url) -> String {
        let Some((secret_name, _)) = &self.query else {
            return url.to_string();
        };
        let mut shown = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if &k == secret_name {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
        shown.to_string()
    }
}

/// The first URL of a resource: base URL joined with the path, then the given params.
pub fn resource_url(
    source: &SourceConfig,
    path: &str,
    params: &[(String, String)],
) -> Result<Url, ExtractError> {
    // Join relative to the base *directory* so `https://h/api` + `posts` gives `https://h/api/posts`.
    let mut base = source.base_url.clone();
    if !base.path().ends_with('/') {
        let dir = format!("{}/", base.path());
        base.set_path(&dir);
    }
    let mut url = base
        .join(path.trim_start_matches('/'))
        .map_err(|e| ExtractError::Config {
            reason: format!("path {path:?} does not make a URL with the base URL: {e}"),
        })?;
    set_params(&mut url, params);
    Ok(url)
}

/// Sets (replacing any existing value) each query parameter.
pub fn set_params(url: &mut Url, params: &[(String, String)]) {
    if params.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.extend(params.iter().cloned());
    url.query_pairs_mut().clear().extend_pairs(pairs);
}

/// `scheme://host[:port]` of a URL: what messages name of a host we refused (its path and
/// query may carry secrets).
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// True when `url` is on the same origin (scheme, host, port) as the base URL.
pub fn same_origin(base: &Url, url: &Url) -> bool {
    base.scheme() == url.scheme()
        && base.host_str() == url.host_str()
        && base.port_or_known_default() == url.port_or_known_default()
}

/// Standard base64 with padding (Basic auth); too small to pull a crate into the Worker.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::secrets::StaticSecrets;

    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn query_keys_are_redacted_and_missing_secrets_named() {
        let secrets = StaticSecrets([("K".to_string(), "s3cr3t".to_string())].into());
        let auth = Auth::ApiKey {
            name: "api_key".into(),
            location: KeyLocation::Query,
            secret: "K".into(),
        };
        let wire = WireAuth::resolve(Some(&auth), &secrets).unwrap();
        let mut url = Url::parse("https://h/x?a=1").unwrap();
        wire.apply_query(&mut url);
        assert!(url.as_str().contains("s3cr3t"));
        assert_eq!(wire.redact(&url), "https://h/x?a=1&api_key=***");
        // Applied twice (a redirect target echoing the key): one key, not two.
        wire.apply_query(&mut url);
        assert_eq!(wire.redact(&url), "https://h/x?a=1&api_key=***");
        assert_eq!(wire.strip_query(&url).as_str(), "https://h/x?a=1");
        let only_key = Url::parse("https://h/x?api_key=echoed").unwrap();
        assert_eq!(wire.strip_query(&only_key).as_str(), "https://h/x");
        let missing = Auth::Bearer {
            secret: "NOPE".into(),
        };
        assert_eq!(
            WireAuth::resolve(Some(&missing), &secrets)
                .unwrap_err()
                .to_string(),
            "secret NOPE is not set"
        );
    }

    #[test]
    fn origin_check_compares_scheme_host_and_port() {
        let base = Url::parse("https://api.example.com/v1").unwrap();
        assert!(same_origin(
            &base,
            &Url::parse("https://api.example.com:443/v1/x?page=2").unwrap()
        ));
        assert!(!same_origin(
            &base,
            &Url::parse("https://evil.example.com/v1").unwrap()
        ));
        assert!(!same_origin(
            &base,
            &Url::parse("http://api.example.com/v1").unwrap()
        ));
    }
}
