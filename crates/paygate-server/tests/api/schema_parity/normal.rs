//! One comparable form for what SQLite and PostgreSQL print differently:
//! type names, defaults, check expressions and foreign keys.

use std::sync::OnceLock;

use regex::Regex;

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("pattern"))
}

/// SQLite's declared type: its affinity decides what it stores.
pub fn sqlite_class(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int" => "integer".into(),
        "text" => "text".into(),
        "blob" => "bytes".into(),
        other => other.to_owned(),
    }
}

/// PostgreSQL's `format_type`: 64-bit integers are `integer` on both sides;
/// a 32-bit one keeps its own name, as sqlx decodes it differently.
pub fn pg_class(formatted: &str) -> String {
    match formatted {
        "bigint" => "integer".into(),
        "integer" => "int4".into(),
        "text" => "text".into(),
        "bytea" => "bytes".into(),
        other => other.to_owned(),
    }
}

/// Drops PostgreSQL's casts (`'a'::text`, `'x'::character varying`).
fn without_casts(text: &str) -> String {
    static CAST: OnceLock<Regex> = OnceLock::new();
    regex(&CAST, r"::\s*(character varying|double precision|[a-z_]+)(\[\])?")
        .replace_all(text, "")
        .into_owned()
}

/// A default as both print it: PostgreSQL's sequence is `autoincrement`.
pub fn default(text: &str) -> String {
    let lower = text.trim().to_ascii_lowercase();
    if lower.starts_with("nextval(") {
        return "autoincrement".into();
    }
    let mut value = without_casts(&lower);
    while value.starts_with('(') && value.ends_with(')') {
        value = value[1..value.len() - 1].trim().to_owned();
    }
    value
}

/// A check expression as tokens: `IN (...)` and PostgreSQL's
/// `= ANY (ARRAY[...])` read alike, as do `LIKE` and `~~`; parentheses and
/// spacing do not count.
pub fn check(text: &str) -> String {
    static ANY: OnceLock<Regex> = OnceLock::new();
    static TOKEN: OnceLock<Regex> = OnceLock::new();
    let lower = text.trim().to_ascii_lowercase();
    let body = lower.strip_prefix("check").unwrap_or(&lower);
    let body = without_casts(body);
    let body = regex(&ANY, r"=\s*any\s*\(\s*array\[(.*?)\]\s*\)").replace_all(&body, " in ($1)");
    let body = body
        .replace("!~~", " not like ")
        .replace("~~", " like ")
        .replace("!=", "<>");
    let token = regex(
        &TOKEN,
        r"'(?:[^']|'')*'|[a-z_][a-z0-9_]*|[0-9]+(?:\.[0-9]+)?|>=|<=|<>|\|\||[=<>+\-*/%,]",
    );
    token
        .find_iter(&body)
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
}

/// Both backends' foreign keys as PostgreSQL's `pg_get_constraintdef`
/// prints them, lower case, single spaces.
pub fn foreign_key(text: &str) -> String {
    let spaced = text.to_ascii_lowercase().replace('(', " (");
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `CHECK (...)` clauses of a `CREATE TABLE` statement as SQLite keeps
/// it (comments removed first; a comment may say "check").
pub fn sqlite_checks(create: &str) -> Vec<String> {
    let sql: String = create
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let lower = sql.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("check") {
        let start = from + at;
        from = start + 5;
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('(') {
            continue;
        }
        let open = lower.len() - rest.len();
        let mut depth = 0usize;
        let mut in_string = false;
        for (i, c) in lower[open..].char_indices() {
            match c {
                '\'' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        found.push(check(&sql[open..=open + i]));
                        from = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_check_read_alike() {
        assert_eq!(
            check("(status IN ('active', 'suspended'))"),
            check("CHECK ((status = ANY (ARRAY['active'::text, 'suspended'::text])))")
        );
        assert_eq!(
            check("(amount >= 0 OR account LIKE 'external:%')"),
            check("CHECK (((amount >= 0) OR (account ~~ 'external:%'::text)))")
        );
        assert_ne!(check("(amount > 0)"), check("CHECK ((amount >= 0))"));
        assert_ne!(
            check("(env IN ('test', 'live'))"),
            check("CHECK ((env = ANY (ARRAY['test'::text])))")
        );
    }

    #[test]
    fn checks_are_found_in_sqlite_statements() {
        let sql = "CREATE TABLE t (\n  -- check this\n  a INTEGER CHECK (a IN (1, 2)),\n  b TEXT NOT NULL CHECK(b <> ')'),\n  checked INTEGER\n)";
        assert_eq!(sqlite_checks(sql), vec!["a in 1, 2".to_owned(), "b <> ')'".to_owned()]);
    }

    #[test]
    fn defaults_and_types() {
        assert_eq!(default("'active'::text"), default("'active'"));
        assert_eq!(default("nextval('events_seq_seq'::regclass)"), "autoincrement");
        assert_ne!(default("0"), default("1"));
        assert_eq!(sqlite_class("INTEGER"), pg_class("bigint"));
        assert_ne!(sqlite_class("INTEGER"), pg_class("integer"));
        assert_eq!(sqlite_class("BLOB"), pg_class("bytea"));
    }
}
