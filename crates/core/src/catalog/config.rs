//! What the caller tells the client: where the catalog is, which warehouse, how to authenticate,
//! and how patiently to retry reads.

use std::fmt;

/// Where and how to reach an Iceberg REST catalog.
#[derive(Clone, Debug)]
pub struct CatalogConfig {
    /// Base URI without the `/v1` suffix, e.g. `https://catalog.cloudflarestorage.com/<account>/<bucket>`
    /// (R2 Data Catalog) or `http://127.0.0.1:8181` (SeaweedFS).
    pub uri: String,
    /// Warehouse sent to `/v1/config` (R2: the catalog's warehouse name; SeaweedFS: `s3://<table bucket>`).
    pub warehouse: String,
    pub auth: CatalogAuth,
}

/// How requests are authenticated.
///
/// `Debug` is written by hand so secrets never end up in logs or panic messages.
#[derive(Clone, PartialEq, Eq)]
pub enum CatalogAuth {
    /// No `Authorization` header (an open local catalog).
    None,
    /// A static bearer token (R2 Data Catalog API tokens).
    Token(String),
    /// OAuth2 client credentials exchanged at `{uri}/v1/oauth/tokens` (SeaweedFS, Polaris, ...).
    ClientCredentials {
        client_id: String,
        client_secret: String,
        /// Defaults to `catalog`, the scope Iceberg clients ask for.
        scope: Option<String>,
    },
}

impl CatalogAuth {
    /// Parses the `id:secret` form used by Iceberg clients' `credential` property
    /// (and `ICEPIPE_CATALOG_CREDENTIAL`). Returns `None` without a colon.
    pub fn from_credential(credential: &str) -> Option<CatalogAuth> {
        let (id, secret) = credential.split_once(':')?;
        Some(CatalogAuth::ClientCredentials {
            client_id: id.to_string(),
            client_secret: secret.to_string(),
            scope: None,
        })
    }
}

impl fmt::Debug for CatalogAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogAuth::None => f.write_str("None"),
            CatalogAuth::Token(_) => f.write_str("Token(<redacted>)"),
            CatalogAuth::ClientCredentials {
                client_id, scope, ..
            } => f
                .debug_struct("ClientCredentials")
                // The client id is an identity, not a secret, and helps debugging auth errors.
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("scope", scope)
                .finish(),
        }
    }
}
