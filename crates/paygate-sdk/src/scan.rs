//! Finding leaked Paygate credentials in files.
//!
//! API keys are recognised by prefix and checksum, so a random string of the
//! same shape is not reported. API secrets and webhook secrets carry no
//! checksum; they are reported when they have the exact shape (prefix, length
//! and a canonical encoding of 32 bytes).

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use paygate_proto::{ApiKey, ApiSecret};
use regex::Regex;

/// Files larger than this are not read.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    ApiSecret,
    WebhookSecret,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "api key",
            CredentialKind::ApiSecret => "api secret",
            CredentialKind::WebhookSecret => "webhook secret",
        }
    }
}

/// One credential found: where, what, and a masked form safe to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    pub line: usize,
    pub kind: CredentialKind,
    pub masked: String,
}

/// What a scan saw.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub files_scanned: u64,
    /// Files that could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

fn candidates() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?:sk|sec)_(?:test|live)_[A-Za-z0-9_\-]+|whsec_[A-Za-z0-9+/=]+").unwrap_or_else(|_| never())
    })
}

#[allow(clippy::panic)]
fn never() -> Regex {
    panic!("the credential pattern is a valid regex")
}

/// Classifies one candidate string, or `None` if it is not a credential.
pub fn classify(candidate: &str) -> Option<(CredentialKind, String)> {
    if candidate.starts_with("sk_") {
        let key = ApiKey::parse(candidate).ok()?;
        return Some((CredentialKind::ApiKey, key.masked()));
    }
    if candidate.starts_with("sec_") {
        let secret = ApiSecret::parse(candidate).ok()?;
        // Canonical encoding: re-encoding gives back the same text.
        let body = &candidate[candidate.len() - 43..];
        let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
        if URL_SAFE_NO_PAD.encode(&bytes) != body {
            return None;
        }
        let prefix = &secret.expose()[..9];
        return Some((
            CredentialKind::ApiSecret,
            format!("{prefix}****{}", &candidate[candidate.len() - 4..]),
        ));
    }
    let body = candidate.strip_prefix("whsec_")?;
    let bytes = STANDARD.decode(body).ok()?;
    if bytes.len() != 32 || STANDARD.encode(&bytes) != body {
        return None;
    }
    Some((
        CredentialKind::WebhookSecret,
        format!("whsec_****{}", &body[body.len() - 4..]),
    ))
}

/// Every credential in `text`, with 1-based line numbers.
pub fn scan_text(text: &str) -> Vec<(usize, CredentialKind, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for candidate in candidates().find_iter(line) {
            if let Some((kind, masked)) = classify(candidate.as_str()) {
                found.push((index + 1, kind, masked));
            }
        }
    }
    found
}

/// Scans files and directories (recursively; symbolic links are not followed,
/// `.git` directories are skipped, binary files are read as text too).
pub fn scan_paths(paths: &[PathBuf]) -> Report {
    scan_paths_with_progress(paths, |_| {})
}

/// [`scan_paths`], calling `on_file` before each file is read (for a
/// progress display).
pub fn scan_paths_with_progress(paths: &[PathBuf], mut on_file: impl FnMut(&Path)) -> Report {
    let mut report = Report::default();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        let metadata = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(err) => {
                report.unreadable.push((path, err.kind().to_string()));
                continue;
            }
        };
        if metadata.is_dir() {
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            match fs::read_dir(&path) {
                Ok(entries) => {
                    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                    children.sort();
                    stack.extend(children.into_iter().rev());
                }
                Err(err) => report.unreadable.push((path, err.kind().to_string())),
            }
        } else if metadata.is_file() {
            on_file(&path);
            scan_file(&path, metadata.len(), &mut report);
        }
    }
    report
}

fn scan_file(path: &Path, len: u64, report: &mut Report) {
    if len > MAX_FILE_BYTES {
        report
            .unreadable
            .push((path.to_owned(), "larger than 16 MiB".to_owned()));
        return;
    }
    let mut bytes = Vec::new();
    if let Err(err) = fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        report.unreadable.push((path.to_owned(), err.kind().to_string()));
        return;
    }
    report.files_scanned += 1;
    let text = String::from_utf8_lossy(&bytes);
    for (line, kind, masked) in scan_text(&text) {
        report.findings.push(Finding {
            path: path.to_owned(),
            line,
            kind,
            masked,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paygate_proto::Environment;
    use rand::rngs::OsRng;

    #[test]
    fn finds_real_credentials_and_masks_them() {
        let key = ApiKey::generate(Environment::Live, &mut OsRng);
        let secret = ApiSecret::generate(Environment::Test, &mut OsRng);
        let text = format!("a\nPAYGATE_KEY={}\n  secret: \"{}\"\n", key.expose(), secret.expose());
        let found = scan_text(&text);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].0, found[0].1), (2, CredentialKind::ApiKey));
        assert_eq!((found[1].0, found[1].1), (3, CredentialKind::ApiSecret));
        for (_, _, masked) in &found {
            assert!(!masked.contains(key.expose()) && !masked.contains(secret.expose()));
        }
        assert!(found[0].2.starts_with("sk_live_") && found[0].2.contains('…'));
    }

    #[test]
    fn look_alikes_are_not_reported() {
        let key = ApiKey::generate(Environment::Test, &mut OsRng);
        let mut chars: Vec<char> = key.expose().chars().collect();
        chars[20] = if chars[20] == 'x' { 'y' } else { 'x' };
        let tampered: String = chars.into_iter().collect();
        let text = format!(
            "{tampered}\nsk_test_short\nsec_live_tooShort\nwhsec_notbase64!!\nsk_live_{}",
            "A".repeat(36)
        );
        assert!(scan_text(&text).is_empty());
    }

    #[test]
    fn webhook_secrets_need_32_canonical_bytes() {
        let good = format!("whsec_{}", STANDARD.encode([7u8; 32]));
        assert_eq!(scan_text(&good).len(), 1);
        let short = format!("whsec_{}", STANDARD.encode([7u8; 16]));
        assert!(scan_text(&short).is_empty());
    }
}
