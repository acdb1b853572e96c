//! How results are printed: one JSON document (or line) with `--json`,
//! short human lines otherwise; progress on standard error.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

pub fn json(value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("error: cannot encode the answer: {err}"),
    }
}

/// A spinner with a running count, drawn only when standard error is a terminal.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `19.99 USD`: minor units shown in the currency's major unit.
pub fn amount(minor: i64, currency: &str) -> String {
    let decimals = match currency {
        "BTC" => 8,
        "USDT" | "USDC" => 6,
        _ => 2,
    };
    let scale = 10i64.pow(decimals);
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$} {currency}",
        minor / scale,
        minor % scale,
        width = decimals as usize
    )
}
