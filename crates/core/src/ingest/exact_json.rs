//! JSON parsing that keeps every integer exact. `serde_json` reads an integer beyond `u64` as a
//! double (`123456789012345678901234567890` becomes `1.2345678901234568e29`, digits lost before
//! any type is inferred), so such integers are quoted before parsing: they arrive as strings of
//! their exact digits. The rule, with inference ([`super::json_arrow::infer`]): integers that fit
//! `i64` are `long` (exact, also past 2^53); larger ones, up to any length, are text holding the
//! exact digits. (decimal(38,0) would stop at 38 digits and make a column's type depend on the
//! size of its first values.)

use std::borrow::Cow;

use serde_json::Value;

/// Parses `json`, integers beyond `u64` as strings of their digits.
pub fn parse_exact(json: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice(&quote_big_integers(json))
}

/// `json` with every integer literal beyond `i64`/`u64` (outside strings) in quotes; borrowed
/// when there is none.
fn quote_big_integers(json: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < json.len() {
        let byte = json[i];
        if in_string {
            match byte {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < json.len()
                    && matches!(json[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let token = &json[start..i];
                if is_big_integer(token) {
                    let out = out.get_or_insert_with(|| Vec::with_capacity(json.len() + 64));
                    out.extend_from_slice(&json[copied..start]);
                    out.push(b'"');
                    out.extend_from_slice(token);
                    out.push(b'"');
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut out) => {
            out.extend_from_slice(&json[copied..]);
            Cow::Owned(out)
        }
    }
}

/// A valid JSON integer literal that neither `i64` nor `u64` holds.
fn is_big_integer(token: &[u8]) -> bool {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    digits.len() >= 19
        && digits[0] != b'0'
        && digits.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(token)
            .is_ok_and(|t| t.parse::<i64>().is_err() && t.parse::<u64>().is_err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_beyond_u64_arrive_as_their_exact_digits() {
        let text = br#"{"a": 123456789012345678901234567890, "b": -98765432109876543210, "c": "12345678901234567890123 in a string \" 99999999999999999999999", "d": [18446744073709551615, 9007199254740993, 1.5e300, 12345678901234567890123.5]}"#;
        let value = parse_exact(text).unwrap();
        assert_eq!(value["a"], json!("123456789012345678901234567890"));
        assert_eq!(value["b"], json!("-98765432109876543210"));
        assert_eq!(
            value["c"],
            json!("12345678901234567890123 in a string \" 99999999999999999999999")
        );
        // u64 and i64 stay numbers (exact); floats stay floats.
        assert_eq!(value["d"][0], json!(u64::MAX));
        assert_eq!(value["d"][1], json!(9_007_199_254_740_993i64));
        assert!(value["d"][2].is_f64() && value["d"][3].is_f64());
    }

    #[test]
    fn bodies_without_big_integers_are_parsed_as_they_are() {
        let text = br#"[{"id": 1, "n": -5, "x": 2.5}]"#;
        assert!(matches!(quote_big_integers(text), Cow::Borrowed(_)));
        assert_eq!(
            parse_exact(text).unwrap(),
            json!([{"id": 1, "n": -5, "x": 2.5}])
        );
        assert!(parse_exact(b"[1, 2").is_err());
    }
}
