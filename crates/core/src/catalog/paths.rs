//! URL pieces: namespace path encoding and query strings.

use iceberg::NamespaceIdent;

/// Percent-encodes one path segment, keeping only RFC 3986 unreserved characters.
///
/// Stricter than needed on purpose: a namespace level containing `/`, `%`, `?` or `#` must not
/// change the route, and every server decodes `%XX`.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A namespace in a path: levels joined by the unit separator (`%1F`), each level encoded.
pub(crate) fn encode_namespace(namespace: &NamespaceIdent) -> String {
    namespace
        .iter()
        .map(|level| encode_segment(level))
        .collect::<Vec<_>>()
        .join("%1F")
}

/// `?k=v&...` with form encoding, or an empty string.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    // `for_suffix` so the first pair follows the `?` directly instead of `?&`.
    let mut serializer = url::form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
    serializer.extend_pairs(pairs);
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_levels_are_joined_by_unit_separator_and_encoded() {
        let ns = NamespaceIdent::from_strs(["raw", "web events/2024", "a%b"]).unwrap();
        assert_eq!(encode_namespace(&ns), "raw%1Fweb%20events%2F2024%1Fa%25b");
    }

    #[test]
    fn query_is_form_encoded() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("warehouse", "s3://warehouse"), ("parent", "a\u{1f}b")]),
            "?warehouse=s3%3A%2F%2Fwarehouse&parent=a%1Fb"
        );
    }
}
