//! What the JSON extractor says about a body's content, in the API's words:
//! strings with control characters are refused wherever they appear (a NUL
//! cannot be stored by PostgreSQL, and no field of the API needs a control
//! character), and serde's type descriptions ("expected i64") become what
//! the field must be.

use serde_json::Value;

/// The path (in the `errors[].field` form: `card.number`, `items[0]`) of the
/// first string, key or value, that holds a control character.
pub fn control_character_at(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => has_control(text).then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character_at(item).map(|rest| join(&format!("[{i}]"), &rest))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if has_control(key) {
                return Some(printable(key));
            }
            control_character_at(item).map(|rest| join(key, &rest))
        }),
        _ => None,
    }
}

/// Whether free text holds a control character (C0, DEL or C1).
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn join(head: &str, rest: &str) -> String {
    if rest.is_empty() {
        head.to_owned()
    } else if rest.starts_with('[') {
        format!("{head}{rest}")
    } else {
        format!("{head}.{rest}")
    }
}

/// A field name safe to echo back: its control characters dropped.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).collect()
}

/// What a field must be, from serde's description of why it did not fit.
pub fn human_message(serde_message: &str) -> String {
    let message = serde_message.split(" at line ").next().unwrap_or_default();
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let allowed = rest.split_once("expected ").map_or("", |(_, a)| a);
        let allowed = allowed.trim_start_matches("one of ").replace('`', "");
        return if allowed.is_empty() {
            "is not one of the allowed values".to_owned()
        } else {
            format!("must be one of: {allowed}")
        };
    }
    let Some((_, expected)) = message.rsplit_once("expected ") else {
        return message.to_owned();
    };
    if !(message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length"))
    {
        return message.to_owned();
    }
    let expected = expected.trim();
    let whole = ["i8", "i16", "i32", "i64", "i128", "isize"];
    let natural = ["u8", "u16", "u32", "u64", "u128", "usize"];
    let shape = if whole.contains(&expected) {
        "a whole number".to_owned()
    } else if natural.contains(&expected) {
        "a whole number, 0 or more".to_owned()
    } else if expected == "f32" || expected == "f64" {
        "a number".to_owned()
    } else if expected.contains("string") || expected == "a character" {
        "a string".to_owned()
    } else if expected.contains("bool") {
        "true or false".to_owned()
    } else if expected.contains("sequence") || expected.contains("array") || expected.contains("tuple") {
        "a list".to_owned()
    } else if expected.contains("map") || expected.starts_with("struct ") || expected.contains("object") {
        "an object".to_owned()
    } else {
        return "has the wrong type".to_owned();
    };
    if natural.contains(&expected) && message.starts_with("invalid value") {
        "must be a whole number, 0 or more, within range".to_owned()
    } else {
        format!("must be {shape}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn control_characters_are_found_anywhere() {
        assert_eq!(control_character_at(&json!({"name": "ok", "n": 1})), None);
        assert_eq!(
            control_character_at(&json!({"description": "a\u{0}b"})),
            Some("description".into())
        );
        assert_eq!(
            control_character_at(&json!({"metadata": {"k": "v\u{7}"}})),
            Some("metadata.k".into())
        );
        assert_eq!(
            control_character_at(&json!({"list": ["a", "\u{85}"]})),
            Some("list[1]".into())
        );
        assert_eq!(control_character_at(&json!({"m": {"k\u{0}": "v"}})), Some("m.k".into()));
        assert_eq!(
            control_character_at(&json!({"text": "tabs\tand\nlines"})),
            Some("text".into())
        );
        assert_eq!(control_character_at(&json!({"text": "émoji 🎉 ünïcode"})), None);
    }

    #[test]
    fn serde_words_become_the_apis() {
        assert_eq!(
            human_message("invalid type: string \"x\", expected i64 at line 1 column 9"),
            "must be a whole number"
        );
        assert_eq!(
            human_message("invalid value: integer `-1`, expected u64"),
            "must be a whole number, 0 or more, within range"
        );
        assert_eq!(
            human_message("invalid type: integer `1`, expected a string"),
            "must be a string"
        );
        assert_eq!(
            human_message("invalid type: string \"x\", expected a boolean"),
            "must be true or false"
        );
        assert_eq!(
            human_message("invalid type: string \"x\", expected a sequence"),
            "must be a list"
        );
        assert_eq!(
            human_message("invalid type: string \"x\", expected struct CardDetails"),
            "must be an object"
        );
        assert_eq!(
            human_message("unknown variant `sol`, expected one of `card`, `crypto`"),
            "must be one of: card, crypto"
        );
        assert_eq!(human_message("must be a currency code"), "must be a currency code");
    }
}
