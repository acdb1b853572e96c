//! A webhook delivery's state and its one transition function. A delivery
//! is planned `pending`; each finished attempt, or its endpoint going away,
//! moves it on. Only a pending delivery moves: `succeeded`, `failed` and
//! `canceled` are final (a redelivery plans a new delivery).

/// Where a delivery stands (the `status` column and the API's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The receiver accepted it (2xx).
    Succeeded,
    /// The retry schedule is spent, or the receiver answered `410 Gone`.
    Failed,
    /// Its endpoint was disabled before it was delivered.
    Canceled,
}

/// What happens to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// An attempt was accepted.
    Delivered,
    /// An attempt was answered `410 Gone`: the receiver wants no more.
    Gone,
    /// An attempt failed; `retry_at` is when the schedule allows the next
    /// one, `None` when it is spent.
    AttemptFailed { retry_at: Option<i64> },
    /// Its endpoint was disabled.
    EndpointDisabled,
}

/// A delivery's new state, with when it is next due (pending only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub state: DeliveryState,
    pub next_attempt_at: Option<i64>,
}

impl DeliveryState {
    /// The state a planned delivery starts in.
    pub const PLANNED: DeliveryState = DeliveryState::Pending;

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
            DeliveryState::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed, Self::Canceled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// Whether no event moves it any more.
    pub fn is_final(self) -> bool {
        self != DeliveryState::Pending
    }

    /// The transition: where `event` takes a delivery in this state, or
    /// `None` when the state is final and the event changes nothing.
    pub fn on(self, event: DeliveryEvent) -> Option<Step> {
        if self.is_final() {
            return None;
        }
        let (state, next_attempt_at) = match event {
            DeliveryEvent::Delivered => (DeliveryState::Succeeded, None),
            DeliveryEvent::Gone | DeliveryEvent::AttemptFailed { retry_at: None } => (DeliveryState::Failed, None),
            DeliveryEvent::AttemptFailed { retry_at: Some(at) } => (DeliveryState::Pending, Some(at)),
            DeliveryEvent::EndpointDisabled => (DeliveryState::Canceled, None),
        };
        Some(Step { state, next_attempt_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryEvent::*;
    use DeliveryState::*;

    #[test]
    fn a_pending_delivery_moves_on_every_event() {
        let to = |event| Pending.on(event).map(|s| (s.state, s.next_attempt_at));
        assert_eq!(to(Delivered), Some((Succeeded, None)));
        assert_eq!(to(Gone), Some((Failed, None)));
        assert_eq!(to(AttemptFailed { retry_at: Some(70) }), Some((Pending, Some(70))));
        assert_eq!(to(AttemptFailed { retry_at: None }), Some((Failed, None)));
        assert_eq!(to(EndpointDisabled), Some((Canceled, None)));
        assert_eq!(DeliveryState::PLANNED, Pending);
    }

    #[test]
    fn final_states_never_move() {
        let events = [
            Delivered,
            Gone,
            AttemptFailed { retry_at: Some(1) },
            AttemptFailed { retry_at: None },
            EndpointDisabled,
        ];
        for state in [Succeeded, Failed, Canceled] {
            assert!(state.is_final());
            for event in events {
                assert_eq!(state.on(event), None, "{state:?} on {event:?}");
            }
        }
        assert!(!Pending.is_final());
    }

    #[test]
    fn names_round_trip_and_match_the_schema() {
        for state in [Pending, Succeeded, Failed, Canceled] {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("delivered"), None);
        let schema = include_str!("../../migrations/sqlite/0300_webhooks.sql");
        assert!(schema.contains("CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled'))"));
    }
}
