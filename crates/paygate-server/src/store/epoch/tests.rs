//! The epoch in memory against real databases: another process's bump,
//! this process's own, the bound, and a failed check.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::store::Store;
use sqlx::Connection as _;

fn checks(store: &Store) -> u64 {
    match &store.epoch.inner.source {
        Source::Sqlite(sqlite) => sqlite.checks(),
        Source::Postgres(_) => 0,
    }
}

/// A bump by this process, committed through the store's write path.
async fn bump_in(store: &Store) {
    store
        .write(|conn| Box::pin(async move { bump(conn).await }))
        .await
        .unwrap();
}

fn other_process(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("paygate.db")).unwrap()
}

#[tokio::test]
async fn sqlite_sees_another_processs_bump_once_its_last_check_is_older_than_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("", dir.path()).await.unwrap();
    let before = store.auth_epoch().await.unwrap();
    // Another process: its own connection, no note in this one's memory.
    other_process(dir.path())
        .execute("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1", [])
        .unwrap();
    tokio::time::sleep(CHECK_EVERY + MARGIN).await;
    assert_eq!(store.auth_epoch().await.unwrap(), before + 1);
}

#[tokio::test]
async fn within_the_bound_requests_are_answered_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("", dir.path()).await.unwrap();
    store.auth_epoch().await.unwrap();
    let before = checks(&store);
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < CHECK_EVERY * 4 {
        store.auth_epoch().await.unwrap();
        calls += 1;
    }
    let made = checks(&store) - before;
    // At most one check per CHECK_EVERY (plus the one in progress at the end).
    assert!(made <= 5, "{made} checks for {calls} calls");
    assert!(calls > 100 * made, "{made} checks for {calls} calls");
}

#[tokio::test]
async fn a_bump_of_this_process_is_seen_at_once_after_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("", dir.path()).await.unwrap();
    let before = store.auth_epoch().await.unwrap();
    bump_in(&store).await;
    // No wait: the note of the bump makes this call check.
    assert_eq!(store.auth_epoch().await.unwrap(), before + 1);
}

#[tokio::test]
async fn a_bump_in_another_database_of_this_process_costs_this_store_no_check() {
    let (one, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = Store::open("", one.path()).await.unwrap();
    let elsewhere = Store::open("", other.path()).await.unwrap();
    store.auth_epoch().await.unwrap();
    let before = checks(&store);
    bump_in(&elsewhere).await;
    let started = Instant::now();
    store.auth_epoch().await.unwrap();
    if started.elapsed() < CHECK_EVERY / 2 {
        assert_eq!(checks(&store), before, "another database's bump made this store check");
    }
}

#[tokio::test]
async fn a_failed_check_fails_the_request_instead_of_trusting_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("", dir.path()).await.unwrap();
    store.auth_epoch().await.unwrap();
    other_process(dir.path()).execute("DROP TABLE auth_epoch", []).unwrap();
    tokio::time::sleep(CHECK_EVERY + MARGIN).await;
    assert!(store.auth_epoch().await.is_err());
    assert!(
        store.auth_epoch().await.is_err(),
        "the failure is not remembered as a success"
    );
}

/// On PostgreSQL (when `PAYGATE_TEST_DATABASE_URL` names one): a bump
/// by another process is known within a second, whether it notifies
/// (the listener) or not (the poll).
#[tokio::test]
async fn postgres_learns_of_another_processs_bump_within_a_second() {
    let Some(admin) = std::env::var("PAYGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let name = format!("paygate_epoch_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::postgres::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.split_once('?').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&url, dir.path()).await.unwrap();
    store.auth_epoch().await.unwrap();
    tokio::time::sleep(POLL * 2).await;
    for notify in [true, false] {
        let before = store.auth_epoch().await.unwrap();
        let mut other = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        let bumped: i64 = sqlx::query_scalar("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch")
            .fetch_one(&mut other)
            .await
            .unwrap();
        if notify {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(bumped.to_string())
                .execute(&mut other)
                .await
                .unwrap();
        }
        let started = Instant::now();
        while store.auth_epoch().await.unwrap() < bumped {
            assert!(
                started.elapsed() < FRESH_FOR,
                "notify={notify}: not seen within a second"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(bumped > before);
    }
    // This process's own bump, noted on the store of its database: no wait.
    let before = store.auth_epoch().await.unwrap();
    bump_in(&store).await;
    assert_eq!(store.auth_epoch().await.unwrap(), before + 1);
}
