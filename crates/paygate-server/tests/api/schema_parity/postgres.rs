//! The PostgreSQL half: the migrations applied to a new database, read back
//! from `pg_catalog`.

use std::path::Path;

use sqlx::postgres::PgPool;
use sqlx::Row as _;

use super::{normal, Column, Schema, Table};

pub async fn read(url: &str, migrations: &Path) -> Schema {
    let pool = PgPool::connect(url).await.expect("postgres");
    sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("migrations")
        .run(&pool)
        .await
        .expect("postgres migrations apply");
    let tables: Vec<String> = sqlx::query(
        "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public' \
         AND tablename NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("tables")
    .iter()
    .map(|r| r.get("name"))
    .collect();
    let mut schema = Schema::new();
    for name in tables {
        schema.insert(name.clone(), table(&pool, &name).await);
    }
    pool.close().await;
    schema
}

async fn table(pool: &PgPool, name: &str) -> Table {
    let mut t = Table::default();
    let relation = format!("public.{name}");
    let columns = sqlx::query(
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS class, a.attnotnull AS not_null, \
         pg_get_expr(d.adbin, d.adrelid) AS dflt FROM pg_attribute a \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(&relation)
    .fetch_all(pool)
    .await
    .expect("columns");
    for c in columns {
        let default: Option<String> = c.get("dflt");
        t.columns.insert(
            c.get("name"),
            Column {
                class: normal::pg_class(&c.get::<String, _>("class")),
                not_null: c.get("not_null"),
                default: default.as_deref().map(normal::default),
            },
        );
    }
    let indexes = sqlx::query(
        "SELECT i.relname::text AS name, x.indisunique AS is_unique, x.indisprimary AS is_primary, \
         x.indpred IS NOT NULL AS partial, \
         ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) FROM generate_series(1, x.indnkeyatts) AS k) AS columns \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::regclass",
    )
    .bind(&relation)
    .fetch_all(pool)
    .await
    .expect("indexes");
    for i in indexes {
        let mut columns: Vec<String> = i.get("columns");
        if i.get("is_primary") {
            t.primary_key = columns;
            continue;
        }
        if i.get("partial") {
            columns.push("WHERE".into());
        }
        if i.get("is_unique") {
            t.unique.insert(columns);
        } else {
            t.indexes.insert((i.get("name"), columns));
        }
    }
    let constraints = sqlx::query(
        "SELECT contype::text AS kind, pg_get_constraintdef(oid) AS def FROM pg_constraint \
         WHERE conrelid = $1::regclass AND contype IN ('c', 'f')",
    )
    .bind(&relation)
    .fetch_all(pool)
    .await
    .expect("constraints");
    for c in constraints {
        let def: String = c.get("def");
        if c.get::<String, _>("kind") == "c" {
            t.checks.insert(normal::check(&def));
        } else {
            t.foreign_keys.insert(normal::foreign_key(&def));
        }
    }
    t
}
