//! The two migration folders define one schema: `migrations/sqlite` and
//! `migrations/postgres` are applied to a real SQLite file and a real
//! PostgreSQL database, both are read back from the catalogs, put in one
//! comparable form, and compared table by table: columns (name, type class,
//! nullability, default), primary key, unique keys, other indexes, check
//! constraints and foreign keys. The PostgreSQL half runs when
//! `PAYGATE_TEST_DATABASE_URL` is set and is skipped (with a line saying
//! so) otherwise.

mod normal;
mod postgres;
mod sqlite;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::support::fresh_database_url;

/// A column in the comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// `integer` (64-bit), `text`, `bytes`, or the backend's own name for
    /// anything else (so a 32-bit `integer` on PostgreSQL shows as `int4`).
    pub class: String,
    pub not_null: bool,
    /// Normalized default (`autoincrement` for a generated key).
    pub default: Option<String>,
}

/// One table in the comparable form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: BTreeMap<String, Column>,
    pub primary_key: Vec<String>,
    /// Unique keys other than the primary key, by their columns (a partial
    /// one ends with `WHERE`).
    pub unique: BTreeSet<Vec<String>>,
    /// Other indexes, by name and columns.
    pub indexes: BTreeSet<(String, Vec<String>)>,
    pub checks: BTreeSet<String>,
    pub foreign_keys: BTreeSet<String>,
}

pub type Schema = BTreeMap<String, Table>;

fn migrations(backend: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
}

/// Every difference between the two schemas, one line each.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        match (sqlite.get(name), postgres.get(name)) {
            (Some(_), None) => out.push(format!("{name}: only on SQLite")),
            (None, Some(_)) => out.push(format!("{name}: only on PostgreSQL")),
            (Some(s), Some(p)) => table_differences(name, s, p, &mut out),
            (None, None) => {}
        }
    }
    out
}

fn table_differences(name: &str, s: &Table, p: &Table, out: &mut Vec<String>) {
    let columns: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
    for column in columns {
        let (sc, pc) = (s.columns.get(column), p.columns.get(column));
        if sc != pc {
            out.push(format!("{name}.{column}: SQLite {sc:?}, PostgreSQL {pc:?}"));
        }
    }
    let mut part = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name} {what}: SQLite {a}, PostgreSQL {b}"));
        }
    };
    part(
        "primary key",
        format!("{:?}", s.primary_key),
        format!("{:?}", p.primary_key),
    );
    part("unique keys", format!("{:?}", s.unique), format!("{:?}", p.unique));
    part("indexes", format!("{:?}", s.indexes), format!("{:?}", p.indexes));
    part("checks", format!("{:?}", s.checks), format!("{:?}", p.checks));
    part(
        "foreign keys",
        format!("{:?}", s.foreign_keys),
        format!("{:?}", p.foreign_keys),
    );
}

/// Asserts the parts of a schema every table of Paygate has, so a reader
/// that silently read nothing cannot pass.
fn assert_read_fully(schema: &Schema, backend: &str) {
    let payments = schema
        .get("payments")
        .unwrap_or_else(|| panic!("{backend}: no payments table"));
    assert_eq!(payments.primary_key, vec!["id".to_owned()], "{backend}");
    assert_eq!(payments.columns["amount"].class, "integer", "{backend}");
    assert!(payments.columns["amount"].not_null, "{backend}");
    assert!(
        payments.checks.contains("amount > 0"),
        "{backend}: {:?}",
        payments.checks
    );
    assert!(
        payments
            .foreign_keys
            .contains("foreign key (merchant_id) references merchants (id)"),
        "{backend}: {:?}",
        payments.foreign_keys
    );
    let api_keys = &schema["api_keys"];
    assert!(api_keys.unique.contains(&vec!["key_hash".to_owned()]), "{backend}");
    assert!(
        api_keys.indexes.contains(&(
            "api_keys_by_merchant".to_owned(),
            vec!["merchant_id".into(), "env".into(), "created_at".into()]
        )),
        "{backend}: {:?}",
        api_keys.indexes
    );
    assert_eq!(
        schema["events"].columns["seq"].default.as_deref(),
        Some("autoincrement"),
        "{backend}"
    );
    assert!(
        !schema
            .keys()
            .any(|t| t.starts_with("_sqlx") || t.starts_with("sqlite_")),
        "{backend}"
    );
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_define_the_same_schema() {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = sqlite::read(&dir.path().join("parity.db"), &migrations("sqlite")).await;
    assert_read_fully(&sqlite, "SQLite");
    let url = fresh_database_url().await;
    if url.is_empty() {
        println!("SKIPPED the PostgreSQL half of the schema parity test: it needs PAYGATE_TEST_DATABASE_URL");
        return;
    }
    let postgres = postgres::read(&url, &migrations("postgres")).await;
    assert_read_fully(&postgres, "PostgreSQL");
    let found = differences(&sqlite, &postgres);
    assert!(found.is_empty(), "the migration folders differ:\n{}", found.join("\n"));
}

#[test]
fn a_changed_column_or_check_is_a_difference() {
    let mut table = Table::default();
    table.columns.insert(
        "amount".into(),
        Column {
            class: "integer".into(),
            not_null: true,
            default: None,
        },
    );
    table.checks.insert(normal::check("(amount > 0)"));
    let sqlite: Schema = [("t".to_owned(), table.clone())].into();
    assert!(differences(&sqlite, &sqlite.clone()).is_empty());

    let mut other = table.clone();
    other.checks = [normal::check("CHECK ((amount >= 0))")].into();
    let found = differences(&sqlite, &[("t".to_owned(), other)].into());
    assert_eq!(found.len(), 1, "{found:?}");

    let mut other = table.clone();
    if let Some(c) = other.columns.get_mut("amount") {
        c.class = normal::pg_class("integer");
    }
    let found = differences(&sqlite, &[("t".to_owned(), other)].into());
    assert!(found[0].contains("int4"), "{found:?}");

    let mut other = table;
    other.unique.insert(vec!["amount".into()]);
    assert_eq!(differences(&sqlite, &[("t".to_owned(), other)].into()).len(), 1);
    assert_eq!(
        differences(&sqlite, &Schema::new()),
        vec!["t: only on SQLite".to_owned()]
    );
}
