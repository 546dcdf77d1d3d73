//! Bearer tokens: static (R2) or OAuth2 client credentials (SeaweedFS), cached until shortly
//! before they expire.

use std::fmt;

use futures::lock::Mutex;

use super::config::CatalogAuth;

/// The scope Iceberg clients request by default.
pub(crate) const DEFAULT_SCOPE: &str = "catalog";

/// Refresh this long before expiry (capped at a quarter of the lifetime for short-lived tokens), so a
/// request never leaves with a token that dies in flight.
const REFRESH_MARGIN_MS: i64 = 60_000;

pub(crate) struct CachedToken {
    pub token: String,
    /// When to fetch a new one; `None` when the server gave no `expires_in`.
    pub refresh_at_ms: Option<i64>,
}

impl CachedToken {
    pub fn new(token: String, now_ms: i64, expires_in_s: Option<u64>) -> Self {
        let refresh_at_ms = expires_in_s.map(|secs| {
            let lifetime_ms = i64::try_from(secs).unwrap_or(i64::MAX / 2_000) * 1_000;
            now_ms + lifetime_ms - REFRESH_MARGIN_MS.min(lifetime_ms / 4)
        });
        Self {
            token,
            refresh_at_ms,
        }
    }

    pub fn is_fresh(&self, now_ms: i64) -> bool {
        self.refresh_at_ms.is_none_or(|at| now_ms < at)
    }
}

/// The configured credentials plus the token cache.
///
/// The async mutex is held while a token is fetched so concurrent requests wait for one fetch
/// instead of each hitting the token endpoint.
pub(crate) struct TokenSource {
    pub auth: CatalogAuth,
    pub cache: Mutex<Option<CachedToken>>,
}

impl TokenSource {
    pub fn new(auth: CatalogAuth) -> Self {
        Self {
            auth,
            cache: Mutex::new(None),
        }
    }

    /// Only minted tokens can be replaced; a rejected static token stays rejected.
    pub fn can_refresh(&self) -> bool {
        matches!(self.auth, CatalogAuth::ClientCredentials { .. })
    }

    /// The form body for `POST {uri}/v1/oauth/tokens`, if this auth mints tokens.
    pub fn token_request_body(&self) -> Option<String> {
        match &self.auth {
            CatalogAuth::ClientCredentials {
                client_id,
                client_secret,
                scope,
            } => Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret)
                    .append_pair("scope", scope.as_deref().unwrap_or(DEFAULT_SCOPE))
                    .finish(),
            ),
            _ => None,
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the cached token; `CatalogAuth`'s Debug already redacts.
        f.debug_struct("TokenSource")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_a_minute_early_or_at_three_quarters_of_short_lifetimes() {
        let long = CachedToken::new("t".into(), 0, Some(3600));
        assert!(long.is_fresh(3_539_999));
        assert!(!long.is_fresh(3_540_000));
        let short = CachedToken::new("t".into(), 0, Some(40));
        assert!(short.is_fresh(29_999));
        assert!(!short.is_fresh(30_000));
        assert!(CachedToken::new("t".into(), 0, None).is_fresh(i64::MAX));
    }

    #[test]
    fn debug_hides_secrets() {
        let source = TokenSource::new(CatalogAuth::ClientCredentials {
            client_id: "id".into(),
            client_secret: "s3cret".into(),
            scope: None,
        });
        assert!(!format!("{source:?}").contains("s3cret"));
        assert!(!format!("{:?}", CatalogAuth::Token("tok3n".into())).contains("tok3n"));
    }
}
