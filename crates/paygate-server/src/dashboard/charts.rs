//! Charts drawn on the server as inline SVG: daily volume as bars and the
//! balance as a line, over a run of days. No script and no style attribute
//! (the dashboard's CSP allows neither): shapes carry geometry only and
//! classes that the dashboard stylesheet colours. Only numbers and fixed
//! words go into the markup, so nothing a user typed can reach it.

use std::fmt::Write as _;

use super::money::format_minor;

const WIDTH: i64 = 360;
const HEIGHT: i64 = 180;
/// Room for the axis labels.
const LEFT: i64 = 8;
const TOP: i64 = 22;
const BOTTOM: i64 = 24;

/// One day of a chart: its label (`YYYY-MM-DD`) and value in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub label: String,
    pub value: i64,
}

fn plot_height() -> i64 {
    HEIGHT - TOP - BOTTOM
}

/// The y of `value` on a scale from `low` to `high` (`high > low`).
fn y_of(value: i64, low: i64, high: i64) -> i64 {
    let span = i128::from(high - low).max(1);
    let offset = i128::from(value - low) * i128::from(plot_height()) / span;
    TOP + plot_height() - i64::try_from(offset).unwrap_or(0)
}

fn open(out: &mut String, id: &str, title: &str, summary: &str) {
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{title}</title><desc id=\"{id}-desc\">{summary}</desc>"
    );
}

fn axis(out: &mut String, days: &[Day], top_label: &str) {
    let base = TOP + plot_height();
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>\
         <text class=\"label\" x=\"{LEFT}\" y=\"14\">{top_label}</text>",
        WIDTH - LEFT
    );
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let y = HEIGHT - 6;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{LEFT}\" y=\"{y}\">{}</text>\
             <text class=\"label end\" x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            first.label,
            WIDTH - LEFT,
            last.label
        );
    }
}

/// Bars of each day's volume (money paid in), scaled to the largest day.
pub fn volume_bars(id: &str, currency: &str, days: &[Day]) -> String {
    let high = days.iter().map(|d| d.value).max().unwrap_or(0).max(1);
    let total: i64 = days.iter().map(|d| d.value.max(0)).sum();
    let mut out = String::new();
    let summary = format!(
        "Daily volume in {currency} over {} days: {} in all, at most {} in a day.",
        days.len(),
        format_minor(total, currency),
        format_minor(high, currency)
    );
    open(&mut out, id, &format!("Daily volume ({currency})"), &summary);
    axis(
        &mut out,
        days,
        &format!("max {} {currency}", format_minor(high, currency)),
    );
    let count = i64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = (WIDTH - 2 * LEFT) / count;
    let bar = (slot - 2).max(1);
    for (i, day) in days.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let y = y_of(day.value.max(0), 0, high);
        let height = TOP + plot_height() - y;
        if height > 0 {
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{}\" y=\"{y}\" width=\"{bar}\" height=\"{height}\">\
                 <title>{}: {} {currency}</title></rect>",
                LEFT + i * slot + 1,
                day.label,
                format_minor(day.value, currency)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A line of the balance at the end of each day, with a dot per day.
pub fn balance_line(id: &str, currency: &str, days: &[Day]) -> String {
    let high = days.iter().map(|d| d.value).max().unwrap_or(0).max(1);
    let low = days.iter().map(|d| d.value).min().unwrap_or(0).min(0);
    let mut out = String::new();
    let last = days.last().map_or(0, |d| d.value);
    let summary = format!(
        "Available balance in {currency} at the end of each of {} days; now {}.",
        days.len(),
        format_minor(last, currency)
    );
    open(&mut out, id, &format!("Balance ({currency})"), &summary);
    axis(
        &mut out,
        days,
        &format!("max {} {currency}", format_minor(high, currency)),
    );
    let count = i64::try_from(days.len()).unwrap_or(1).max(1);
    let step = if count > 1 { (WIDTH - 2 * LEFT) / (count - 1) } else { 0 };
    let points: Vec<(i64, i64)> = (0..count)
        .zip(days)
        .map(|(i, day)| (LEFT + i * step, y_of(day.value, low, high)))
        .collect();
    let path: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
    let _ = write!(
        out,
        "<polyline class=\"line\" fill=\"none\" points=\"{}\"/>",
        path.join(" ")
    );
    for ((x, y), day) in points.iter().zip(days) {
        let _ = write!(
            out,
            "<circle class=\"dot\" cx=\"{x}\" cy=\"{y}\" r=\"2\"><title>{}: {} {currency}</title></circle>",
            day.label,
            format_minor(day.value, currency)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(values: &[i64]) -> Vec<Day> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Day {
                label: format!("2026-01-{:02}", i + 1),
                value: *v,
            })
            .collect()
    }

    #[test]
    fn bars_scale_to_the_largest_day_and_skip_empty_days() {
        let svg = volume_bars("volume", "USD", &days(&[0, 5_000, 10_000]));
        assert!(svg.starts_with("<svg class=\"chart\" id=\"volume\""));
        assert_eq!(svg.matches("<rect ").count(), 2);
        // The largest bar fills the plot: from the top margin to the axis.
        assert!(svg.contains(&format!("y=\"{TOP}\" width=")), "{svg}");
        assert!(svg.contains("2026-01-03: 100.00 USD"));
        assert!(!svg.contains("style="));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn the_line_has_a_point_per_day_and_handles_a_flat_or_empty_run() {
        let svg = balance_line("balance", "EUR", &days(&[100, 100, 100]));
        assert_eq!(svg.matches("<circle ").count(), 3);
        assert!(svg.contains("now 1.00"));
        let empty = balance_line("balance", "EUR", &[]);
        assert!(empty.contains("<polyline class=\"line\" fill=\"none\" points=\"\"/>"));
        assert!(!volume_bars("volume", "EUR", &[]).contains("<rect"));
    }
}
