//! A checkout session's state and its one transition function. A session
//! is created `open`; it completes when a payment made for it succeeds, and
//! expires when its time runs out first. `complete` and `expired` are final.

/// Where a session stands (the `status` column and the API's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// It can be paid.
    Open,
    /// A payment made for it succeeded.
    Complete,
    /// Its time ran out before a payment succeeded.
    Expired,
}

/// What happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// Its `expires_at` passed.
    TimeRanOut,
    /// The payor asks to pay; `under_way` when a payment made for it
    /// earlier has not failed.
    PayAsked { under_way: bool },
    /// The payment made for it came to `succeeded` (true) or to anything
    /// else (a card declined: the payor may try again).
    PaymentMade { succeeded: bool },
}

/// Why an event cannot happen to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The session is complete or expired.
    NotOpen,
    /// A payment for it is already under way.
    PaymentUnderWay,
}

impl SessionState {
    /// The state a new session starts in.
    pub const CREATED: SessionState = SessionState::Open;

    pub const fn as_str(self) -> &'static str {
        match self {
            SessionState::Open => "open",
            SessionState::Complete => "complete",
            SessionState::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Complete, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// The state as of `now`: an open session past `expires_at` has expired
    /// even though no one has written it down.
    pub fn at(self, expires_at: i64, now: i64) -> Self {
        if expires_at <= now {
            self.on(SessionEvent::TimeRanOut).unwrap_or(self)
        } else {
            self
        }
    }

    /// The transition: where `event` takes a session in this state.
    pub fn on(self, event: SessionEvent) -> Result<SessionState, Refused> {
        match (self, event) {
            (SessionState::Open, SessionEvent::TimeRanOut) => Ok(SessionState::Expired),
            (SessionState::Open, SessionEvent::PayAsked { under_way: true }) => Err(Refused::PaymentUnderWay),
            (SessionState::Open, SessionEvent::PayAsked { under_way: false }) => Ok(SessionState::Open),
            (SessionState::Open, SessionEvent::PaymentMade { succeeded: true }) => Ok(SessionState::Complete),
            (SessionState::Open, SessionEvent::PaymentMade { succeeded: false }) => Ok(SessionState::Open),
            (SessionState::Complete | SessionState::Expired, _) => Err(Refused::NotOpen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionEvent::*;
    use SessionState::*;

    #[test]
    fn an_open_session_is_paid_retried_or_runs_out() {
        assert_eq!(SessionState::CREATED, Open);
        assert_eq!(Open.on(PayAsked { under_way: false }), Ok(Open));
        assert_eq!(Open.on(PayAsked { under_way: true }), Err(Refused::PaymentUnderWay));
        assert_eq!(Open.on(PaymentMade { succeeded: true }), Ok(Complete));
        assert_eq!(Open.on(PaymentMade { succeeded: false }), Ok(Open));
        assert_eq!(Open.on(TimeRanOut), Ok(Expired));
    }

    #[test]
    fn complete_and_expired_are_final() {
        let events = [
            TimeRanOut,
            PayAsked { under_way: false },
            PayAsked { under_way: true },
            PaymentMade { succeeded: true },
            PaymentMade { succeeded: false },
        ];
        for state in [Complete, Expired] {
            for event in events {
                assert_eq!(state.on(event), Err(Refused::NotOpen), "{state:?} on {event:?}");
            }
        }
    }

    #[test]
    fn time_expires_only_an_open_session() {
        assert_eq!(Open.at(100, 99), Open);
        assert_eq!(Open.at(100, 100), Expired);
        assert_eq!(Complete.at(100, 500), Complete);
        assert_eq!(Expired.at(100, 500), Expired);
    }

    #[test]
    fn names_round_trip_and_match_the_schema() {
        for state in [Open, Complete, Expired] {
            assert_eq!(SessionState::parse(state.as_str()), Some(state));
        }
        assert_eq!(SessionState::parse("paid"), None);
        let schema = include_str!("../../migrations/sqlite/0600_checkout.sql");
        assert!(schema.contains("CHECK (status IN ('open', 'complete', 'expired'))"));
    }
}
