//! The SQLite half: the migrations applied to a new file, read back through
//! `sqlite_master` and the table-valued pragmas.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::Row as _;

use super::{normal, Column, Schema, Table};

pub async fn read(file: &Path, migrations: &Path) -> Schema {
    let options = SqliteConnectOptions::new().filename(file).create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.expect("sqlite");
    sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("migrations")
        .run(&pool)
        .await
        .expect("sqlite migrations apply");
    let tables = sqlx::query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut schema = Schema::new();
    for row in tables {
        let name: String = row.get("name");
        let sql: String = row.get("sql");
        schema.insert(name.clone(), table(&pool, &name, &sql).await);
    }
    pool.close().await;
    schema
}

async fn table(pool: &SqlitePool, name: &str, sql: &str) -> Table {
    let mut t = Table::default();
    let autoincrement = sql.to_ascii_uppercase().contains("AUTOINCREMENT");
    let columns = sqlx::query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1) ORDER BY cid")
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("columns");
    let mut primary: Vec<(i64, String)> = Vec::new();
    for c in columns {
        let column: String = c.get("name");
        let pk: i64 = c.get("pk");
        if pk > 0 {
            primary.push((pk, column.clone()));
        }
        let default: Option<String> = c.get("dflt_value");
        let default = if pk > 0 && autoincrement {
            Some("autoincrement".to_owned())
        } else {
            default.as_deref().map(normal::default)
        };
        // A primary key column is NOT NULL in SQL and on PostgreSQL; SQLite,
        // for compatibility with its early versions, accepts NULL in one that
        // is not an INTEGER PRIMARY KEY unless NOT NULL is written. Paygate
        // always writes its keys, so the key is compared as SQL defines it.
        let not_null = c.get::<i64, _>("notnull") != 0 || pk > 0;
        let class = normal::sqlite_class(&c.get::<String, _>("type"));
        t.columns.insert(
            column,
            Column {
                class,
                not_null,
                default,
            },
        );
    }
    primary.sort();
    t.primary_key = primary.into_iter().map(|(_, c)| c).collect();
    let indexes = sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("indexes");
    for i in indexes {
        let index: String = i.get("name");
        let origin: String = i.get("origin");
        if origin == "pk" {
            continue;
        }
        let mut columns: Vec<String> =
            sqlx::query("SELECT coalesce(name, '<expression>') AS name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&index)
                .fetch_all(pool)
                .await
                .expect("index columns")
                .iter()
                .map(|r| r.get("name"))
                .collect();
        if i.get::<i64, _>("partial") != 0 {
            columns.push("WHERE".into());
        }
        if i.get::<i64, _>("unique") != 0 {
            t.unique.insert(columns);
        } else {
            t.indexes.insert((index, columns));
        }
    }
    t.checks = normal::sqlite_checks(sql).into_iter().collect();
    let keys = sqlx::query(
        "SELECT id, \"table\" AS target, \"from\" AS source, \"to\" AS dest, on_delete \
         FROM pragma_foreign_key_list($1) ORDER BY id, seq",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .expect("foreign keys");
    let mut grouped: std::collections::BTreeMap<i64, (String, Vec<String>, Vec<String>, String)> = Default::default();
    for k in keys {
        let entry = grouped
            .entry(k.get("id"))
            .or_insert_with(|| (k.get("target"), Vec::new(), Vec::new(), k.get("on_delete")));
        entry.1.push(k.get("source"));
        entry.2.push(
            k.get::<Option<String>, _>("dest")
                .unwrap_or_else(|| "<primary key>".into()),
        );
    }
    for (target, from, to, on_delete) in grouped.into_values() {
        let action = match on_delete.as_str() {
            "NO ACTION" => String::new(),
            other => format!(" ON DELETE {other}"),
        };
        t.foreign_keys.insert(normal::foreign_key(&format!(
            "FOREIGN KEY ({}) REFERENCES {target}({}){action}",
            from.join(", "),
            to.join(", ")
        )));
    }
    t
}
