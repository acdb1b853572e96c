//! The test cards (docs/api.md section 8): what each does, and the checks a
//! card number, expiry and CVC pass before a test payment uses them.

use paygate_proto::payments::CardDetails;
use paygate_proto::FieldError;
use time::OffsetDateTime;

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    Succeeds,
    Declined,
    InsufficientFunds,
}

/// The test cards of docs/api.md section 8.
pub fn test_card(number: &str) -> Option<CardOutcome> {
    match number {
        "4242424242424242" => Some(CardOutcome::Succeeds),
        "4000000000000002" => Some(CardOutcome::Declined),
        "4000000000009995" => Some(CardOutcome::InsufficientFunds),
        _ => None,
    }
}

fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// A validated test card: its outcome and what may be shown of it.
pub(super) struct CheckedCard {
    pub(super) outcome: CardOutcome,
    pub(super) last4: String,
}

pub(super) fn check_card(card: &CardDetails, now: i64, errors: &mut Vec<FieldError>) -> Option<CheckedCard> {
    let digits: String = card.number.chars().filter(|c| *c != ' ' && *c != '-').collect();
    let mut ok = true;
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || !luhn_valid(&digits) {
        errors.push(FieldError::new("card.number", "is not a valid card number"));
        ok = false;
    } else if test_card(&digits).is_none() {
        errors.push(FieldError::new(
            "card.number",
            "test mode takes the test cards only: 4242424242424242, 4000000000000002, 4000000000009995",
        ));
        ok = false;
    }
    if !(1..=12).contains(&card.exp_month) {
        errors.push(FieldError::new("card.exp_month", "must be 1 to 12"));
        ok = false;
    }
    let today = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (year, month) = (i64::from(today.year()), i64::from(u8::from(today.month())));
    let (exp_year, exp_month) = (i64::from(card.exp_year), i64::from(card.exp_month));
    if !(2000..=2100).contains(&exp_year) {
        errors.push(FieldError::new("card.exp_year", "must be a four-digit year"));
        ok = false;
    } else if exp_year < year || (exp_year == year && exp_month < month) {
        errors.push(FieldError::new("card.exp_year", "the card has expired"));
        ok = false;
    }
    if !(3..=4).contains(&card.cvc.len()) || !card.cvc.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new("card.cvc", "must be 3 or 4 digits"));
        ok = false;
    }
    let outcome = test_card(&digits)?;
    ok.then(|| CheckedCard {
        outcome,
        last4: digits[digits.len() - 4..].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_pass_luhn_and_map_to_outcomes() {
        for number in ["4242424242424242", "4000000000000002", "4000000000009995"] {
            assert!(luhn_valid(number), "{number}");
        }
        assert!(!luhn_valid("4242424242424241"));
        assert_eq!(test_card("4000000000000002"), Some(CardOutcome::Declined));
        assert_eq!(test_card("5555555555554444"), None);
    }
}
