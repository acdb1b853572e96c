//! Passwords: a change needs the current password and a code, a reset
//! link is mailed only to accounts and works once, and both end every
//! session.

use reqwest::StatusCode;

use super::{email_me_a_code, signed_in, PASSWORD};
use crate::dashboard::{hidden, link_path_from_outbox, newest_mail, sign_in, Browser};
use crate::money_support::generous_limits;
use crate::support::spawn_with;

async fn change_password(browser: &mut Browser<'_>, current: &str, code: &str) -> String {
    let csrf = browser.csrf("/dashboard/security").await;
    browser
        .post(
            "/dashboard/security/password",
            &[
                ("csrf", &csrf),
                ("current_password", current),
                ("new_password", "an entirely new password"),
                ("code", code),
            ],
        )
        .await
        .text()
        .await
        .expect("html")
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_a_code_and_ends_every_session() {
    let app = spawn_with(generous_limits).await;
    let mut first = signed_in(&app, "cfo@example.com").await;
    let mut second = Browser::new(&app);
    sign_in(&mut second, "cfo@example.com", PASSWORD).await;
    assert_eq!(second.get("/dashboard").await.status(), 200);

    let code = email_me_a_code(&mut first, "password_change", "/dashboard/security").await;
    let refused = change_password(&mut first, "not my password at all", &code).await;
    assert!(refused.contains("current password is not that"));
    let no_code = change_password(&mut first, PASSWORD, "123").await;
    assert!(no_code.contains("code is not valid"));
    let changed = change_password(&mut first, PASSWORD, &code).await;
    assert!(changed.contains("Password changed"), "{changed}");
    assert_eq!(first.get("/dashboard").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        second.get("/dashboard").await.status(),
        StatusCode::SEE_OTHER,
        "the other session ended too"
    );
    assert_eq!(
        sign_in(&mut second, "cfo@example.com", PASSWORD).await.status(),
        200,
        "the old password is refused"
    );
    assert_eq!(
        sign_in(&mut second, "cfo@example.com", "an entirely new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_password_reset_link_is_mailed_only_to_accounts_works_once_and_ends_sessions() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "owner@example.com").await;
    let mut stranger = Browser::new(&app);
    let csrf = stranger.csrf("/dashboard/password/forgot").await;
    let unknown = stranger
        .post(
            "/dashboard/password/forgot",
            &[("csrf", &csrf), ("email", "nobody@example.com")],
        )
        .await
        .text()
        .await
        .expect("html");
    let known = stranger
        .post(
            "/dashboard/password/forgot",
            &[("csrf", &csrf), ("email", "owner@example.com")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert_eq!(unknown, known, "the same answer for any address");
    // The mail goes out after the answer.
    let outbox = app.data_dir.join("outbox");
    let mut path = String::new();
    for _ in 0..50 {
        if newest_mail(&outbox).contains("Reset your Paygate password") {
            path = link_path_from_outbox(&outbox, "password/reset");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!path.is_empty(), "a reset link was mailed");
    let token = path.split_once("token=").expect("token").1.to_owned();
    let form = stranger.get(&path).await.text().await.expect("html");
    let csrf = hidden(&form, "csrf");
    let short = stranger
        .post(
            "/dashboard/password/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "short")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(short.contains("12 to 128 characters"));
    let done = stranger
        .post(
            "/dashboard/password/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "a brand new password")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(done.contains("Password changed"), "{done}");
    assert_eq!(
        browser.get("/dashboard").await.status(),
        StatusCode::SEE_OTHER,
        "sessions ended"
    );
    let again = stranger
        .post(
            "/dashboard/password/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "yet another password")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(again.contains("Link expired"), "a link works once");
    assert_eq!(
        sign_in(&mut browser, "owner@example.com", "a brand new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}
