//! JSON Merge Patch (RFC 7386): how `PATCH` changes a record. An object
//! patch merges into an object, member by member, `null` removing one;
//! anything else replaces the target whole. (Twelve lines, so written here
//! rather than taken from a crate built for RFC 6902 JSON Patch.)

use serde_json::Value;

/// `target` with `patch` applied.
pub fn apply(target: &Value, patch: &Value) -> Value {
    let Value::Object(changes) = patch else {
        return patch.clone();
    };
    let mut merged = match target {
        Value::Object(fields) => fields.clone(),
        _ => serde_json::Map::new(),
    };
    for (name, change) in changes {
        if change.is_null() {
            merged.remove(name);
        } else {
            let current = merged.get(name).unwrap_or(&Value::Null);
            merged.insert(name.clone(), apply(current, change));
        }
    }
    Value::Object(merged)
}

#[cfg(test)]
mod tests {
    use super::apply;
    use serde_json::json;

    #[test]
    fn follows_the_rfc_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (target, patch, merged) in cases {
            assert_eq!(apply(&target, &patch), merged, "{target} + {patch}");
        }
    }
}
