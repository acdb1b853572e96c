//! Logs: JSON lines on standard error, each scrubbed of anything shaped like
//! a credential, token, card number or password before it is written.

use std::io::{self, Write};
use std::sync::OnceLock;

use regex::{Captures, Regex};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

const REDACTED: &str = "[redacted]";

/// Installs the global JSON subscriber (once; later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_env("PAYGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(RedactingStderr)
        .try_init();
}

struct Patterns {
    tokens: Regex,
    sensitive_fields: Regex,
    digits: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| Patterns {
        // Keys, secrets, session and ws tokens, webhook secrets, JWTs, bearer values.
        tokens: Regex::new(
            r"(?x)
            \b(?:sk|sec)_(?:test|live)_[A-Za-z0-9_\-]+
            | \bwhsec_[A-Za-z0-9+/=_\-]+
            | \b(?:cst|wst|cs_secret)_[A-Za-z0-9_\-]+
            | \beyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*
            | (?i:bearer)\s+[A-Za-z0-9_\-\.=]+",
        )
        .unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable_regex())),
        sensitive_fields: Regex::new(
            r#"(?i)(\\?"(?:password|passwd|new_password|cvc|cvv|card_number|number|iban|id_number|address|secret|api_secret|session_secret|totp_secret|otp|otp_code|ws_token|session_token|access_token|api_key)\\?"\s*:\s*)(\\?"(?:[^"\\]|\\.)*?\\?"|\d+)"#,
        )
        .unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable_regex())),
        digits: Regex::new(r"(^|[^\d.])((?:\d[ \-]?){12,18}\d)\b").unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable_regex())),
    })
}

#[allow(clippy::panic)]
fn unreachable_regex() -> Regex {
    panic!("the empty-match regex always compiles")
}

/// Removes secrets from one log line.
pub fn redact(line: &str) -> String {
    let p = patterns();
    let line = p.tokens.replace_all(line, REDACTED);
    let line = p
        .sensitive_fields
        .replace_all(&line, |c: &Captures<'_>| format!("{}\"{REDACTED}\"", &c[1]));
    let text: &str = &line;
    p.digits
        .replace_all(text, |c: &Captures<'_>| {
            let (before, number) = (&c[1], &c[2]);
            let followed_by_dot = c.get(0).and_then(|m| text[m.end()..].chars().next()) == Some('.');
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            if followed_by_dot || !luhn_valid(&digits) {
                return c[0].to_owned();
            }
            // Where a JSON number stood, a quoted string keeps the line valid JSON.
            if before.ends_with(':') || before.ends_with(',') || before.ends_with('[') {
                format!("{before}\"{REDACTED}\"")
            } else {
                format!("{before}{REDACTED}")
            }
        })
        .into_owned()
}

/// The Luhn check that every card number passes.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.bytes().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if v > 9 {
            return false;
        }
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[derive(Clone, Copy)]
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(Vec::new())
    }
}

/// Buffers one event and writes it, redacted, when dropped.
struct RedactingWriter(Vec<u8>);

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = redact(&String::from_utf8_lossy(&self.0));
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_cards_are_removed() {
        let line = r#"{"msg":"x sk_test_abcDEF123 sec_live_AbC-_9 whsec_AAAA+/== eyJhbGciOi.eyJzdWIi.sig 4242424242424242 4242 4242 4242 4242","password":"hunter2","cvc":"123","ws":"wst_abc"}"#;
        let out = redact(line);
        for secret in [
            "sk_test_abc",
            "sec_live_",
            "whsec_AAAA",
            "eyJhbGciOi",
            "4242424242424242",
            "4242 4242",
            "hunter2",
            "\"123\"",
            "wst_abc",
        ] {
            assert!(!out.contains(secret), "{secret} survived in {out}");
        }
    }

    #[test]
    fn redacted_lines_stay_valid_json() {
        let line = r#"{"duration_ms":0.4242424242424242,"amount":4242424242424242,"note":"card 4242424242424242"}"#;
        let out = redact(line);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["duration_ms"], 0.4242424242424242);
        assert_eq!(parsed["amount"], "[redacted]");
        assert_eq!(parsed["note"], "card [redacted]");
    }

    #[test]
    fn ordinary_numbers_survive() {
        let out = redact(r#"{"amount":1000,"status":200,"duration_ms":1.5,"ts":1700000000}"#);
        assert!(out.contains("1000") && out.contains("1700000000"), "{out}");
        assert!(luhn_valid("4242424242424242"));
        assert!(!luhn_valid("4242424242424241"));
    }
}
