//! `Authorization: Bearer <ADMIN_TOKEN>` on the admin endpoints, compared in constant time.

use sha2::{Digest, Sha256};

/// Whether `header` (the request's `Authorization` value) carries `admin_token`. Without a
/// configured token nothing is authorized. Both sides are hashed first, so neither the comparison
/// time nor an early length mismatch tells anything about the token.
pub fn authorized(header: Option<&str>, admin_token: Option<&str>) -> bool {
    let Some(expected) = admin_token.filter(|t| !t.is_empty()) else {
        return false;
    };
    let Some(given) = header.and_then(bearer) else {
        return false;
    };
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let header = header.trim();
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = Some("s3cr3t-token");
        assert!(authorized(Some("Bearer s3cr3t-token"), token));
        assert!(authorized(Some("bearer  s3cr3t-token "), token));
        assert!(!authorized(Some("Bearer s3cr3t-tokem"), token));
        assert!(!authorized(Some("Bearer s3cr3t"), token));
        assert!(!authorized(Some("Basic s3cr3t-token"), token));
        assert!(!authorized(Some("s3cr3t-token"), token));
        assert!(!authorized(Some("Bearer "), token));
        assert!(!authorized(None, token));
        // No ADMIN_TOKEN configured: nothing passes, not even an empty bearer.
        assert!(!authorized(Some("Bearer x"), None));
        assert!(!authorized(Some("Bearer "), Some("")));
    }
}
