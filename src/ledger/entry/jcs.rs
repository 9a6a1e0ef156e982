//! The RFC 8785 (JSON Canonicalization Scheme) bytes of any JSON value, written straight from
//! the tree (§3.2.2 serialisation of primitives, §3.2.3 sorting of members), for the
//! commitments; a property test holds it to the general JCS serialiser.

use super::EntryError;

/// The RFC 8785 bytes of a JSON value, written straight from the tree: members sorted by their
/// UTF-16 code units, numbers as ECMAScript prints the double, strings escaped as RFC 8785 says
/// (which is how `serde_json` escapes them). The same bytes as the general JCS serialiser, which
/// a property test holds it to; this one skips that serialiser's per-write boxing and re-parsing
/// of every key, which made it the largest cost of a call's commitments.
pub fn canonical_json(value: &serde_json::Value) -> Result<Vec<u8>, EntryError> {
    let mut out = Vec::with_capacity(128);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), EntryError> {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let f = n
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| EntryError::NotFinite(n.clone()))?;
            out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
        }
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out)?;
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), EntryError> {
    Ok(serde_json::to_writer(&mut *out, s)?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<f32>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Value::from(f64::from(f))),
            // Control characters, quotes, backslashes, non-ASCII and astral code points.
            "[\\x00-\\x1f\"\\\\/a-z\u{7f}\u{e9}\u{2028}\u{fffd}\u{1f600}]{0,8}"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    "[a-zA-Z\u{e9}\u{ff61}\u{1f600}\u{10000}_]{0,4}",
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn gives_the_bytes_of_the_general_serialiser(v in values()) {
            let general = serde_jcs::to_vec(&v).unwrap();
            prop_assert_eq!(
                String::from_utf8(super::canonical_json(&v).unwrap()).unwrap(),
                String::from_utf8(general).unwrap()
            );
        }
    }

    #[test]
    fn known_answers() {
        // RFC 8785 §3.2.3's sorting example: keys ordered by UTF-16 code units, so U+1F600
        // (a surrogate pair, 0xD83D…) sorts before U+FB33.
        let v = json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh", "1": "One", "\u{1f600}": "Emoji: Grinning Face", "\u{80}": "Control", "\u{f6}": "Latin Small Letter O With Diaeresis"});
        let text = String::from_utf8(super::canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            text,
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
        // Numbers as ECMAScript prints the double.
        let n = json!([
            1e21,
            1e-7,
            0.000001,
            -0.0,
            9007199254740993u64,
            1.5e300,
            333333333.3333333
        ]);
        assert_eq!(
            String::from_utf8(super::canonical_json(&n).unwrap()).unwrap(),
            "[1e+21,1e-7,0.000001,0,9007199254740992,1.5e+300,333333333.3333333]"
        );
    }
}
