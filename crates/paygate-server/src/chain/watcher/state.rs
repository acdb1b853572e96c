//! The watcher's decisions as pure functions of what it knows: how deep a
//! transfer is, which state that puts it in, what a reorganisation does to
//! it, and where a reorganisation forked. No database, no node.

use alloy_primitives::B256;

/// Where an observed transfer stands (the `state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    /// In a block, with nothing on top yet.
    Seen,
    /// Blocks on top, fewer than required.
    Confirming,
    /// Deep enough: credited.
    Confirmed,
    /// Credited, then reorganised away: the credit was compensated.
    Reversed,
    /// Reorganised away before it was confirmed: never credited.
    Dropped,
}

impl TransferState {
    pub const fn as_str(self) -> &'static str {
        match self {
            TransferState::Seen => "seen",
            TransferState::Confirming => "confirming",
            TransferState::Confirmed => "confirmed",
            TransferState::Reversed => "reversed",
            TransferState::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            TransferState::Seen,
            TransferState::Confirming,
            TransferState::Confirmed,
            TransferState::Reversed,
            TransferState::Dropped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Not yet credited, still on the chain as far as the watcher knows.
    pub const fn is_open(self) -> bool {
        matches!(self, TransferState::Seen | TransferState::Confirming)
    }
}

/// Confirmations of a transfer in block `block` when the head is `head`:
/// its own block counts as one.
pub const fn confirmations(block: u64, head: u64) -> u64 {
    if head < block {
        0
    } else {
        head - block + 1
    }
}

/// The state an open transfer moves to when the head is `head` and
/// `required` confirmations are configured; `None` when it stays. Only an
/// open transfer moves: a confirmed one is credited already, and a reversed
/// or dropped one waits to be seen again.
pub fn advance(state: TransferState, block: u64, head: u64, required: u64) -> Option<TransferState> {
    if !state.is_open() {
        return None;
    }
    let depth = confirmations(block, head);
    let next = if depth >= required.max(1) {
        TransferState::Confirmed
    } else if depth >= 2 {
        TransferState::Confirming
    } else {
        TransferState::Seen
    };
    (next != state).then_some(next)
}

/// What a reorganisation that removes a transfer's block does to it.
pub fn on_reorg(state: TransferState) -> Option<TransferState> {
    match state {
        TransferState::Seen | TransferState::Confirming => Some(TransferState::Dropped),
        TransferState::Confirmed => Some(TransferState::Reversed),
        TransferState::Reversed | TransferState::Dropped => None,
    }
}

/// What seeing a transfer in the canonical chain again does to a row that a
/// reorganisation had removed: it is open again (and a reversed one may be
/// credited again, since its credit was compensated).
pub fn on_seen_again(state: TransferState) -> Option<TransferState> {
    match state {
        TransferState::Reversed | TransferState::Dropped => Some(TransferState::Seen),
        _ => None,
    }
}

/// The highest remembered block that is still on the chain, given the
/// remembered blocks (any order) and the chain's hash at each of their
/// numbers (`None`: the chain is not that high any more). `None` when no
/// remembered block is left on the chain (a reorganisation deeper than what
/// is remembered).
pub fn fork_point(remembered: &[(u64, B256)], chain: &[(u64, Option<B256>)]) -> Option<u64> {
    remembered
        .iter()
        .filter(|(number, hash)| {
            chain
                .iter()
                .any(|(n, canonical)| n == number && canonical.as_ref() == Some(hash))
        })
        .map(|(number, _)| *number)
        .max()
}

/// Whether `blocks` (consecutive, ascending) link up: each one's parent is
/// the hash before it, the first one's parent is `below` (the remembered
/// hash of the block under the range, when there is one). The first break
/// is returned: the block whose parent does not match.
pub fn first_break(below: Option<B256>, blocks: &[(u64, B256, B256)]) -> Option<u64> {
    let mut previous = below;
    for (number, hash, parent) in blocks {
        if previous.is_some_and(|p| p != *parent) {
            return Some(*number);
        }
        previous = Some(*hash);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransferState::*;

    fn h(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    #[test]
    fn a_transfer_is_seen_then_confirming_then_confirmed_at_exactly_the_required_depth() {
        assert_eq!(confirmations(10, 9), 0);
        assert_eq!(confirmations(10, 10), 1);
        assert_eq!(confirmations(10, 21), 12);
        assert_eq!(advance(Seen, 10, 10, 12), None);
        assert_eq!(advance(Seen, 10, 11, 12), Some(Confirming));
        assert_eq!(advance(Confirming, 10, 20, 12), None, "11 confirmations are not 12");
        assert_eq!(advance(Confirming, 10, 21, 12), Some(Confirmed));
        assert_eq!(
            advance(Seen, 10, 40, 12),
            Some(Confirmed),
            "a late scan confirms at once"
        );
    }

    #[test]
    fn one_confirmation_means_its_own_block() {
        assert_eq!(advance(Seen, 10, 10, 1), Some(Confirmed));
        assert_eq!(advance(Seen, 10, 10, 0), Some(Confirmed), "zero is read as one");
    }

    #[test]
    fn only_open_transfers_move() {
        for state in [Confirmed, Reversed, Dropped] {
            assert_eq!(advance(state, 1, 100, 1), None, "{state:?}");
        }
    }

    #[test]
    fn a_reorg_drops_what_was_not_credited_and_reverses_what_was() {
        assert_eq!(on_reorg(Seen), Some(Dropped));
        assert_eq!(on_reorg(Confirming), Some(Dropped));
        assert_eq!(on_reorg(Confirmed), Some(Reversed));
        assert_eq!(on_reorg(Reversed), None);
        assert_eq!(on_reorg(Dropped), None);
        assert_eq!(on_seen_again(Reversed), Some(Seen));
        assert_eq!(on_seen_again(Dropped), Some(Seen));
        assert_eq!(on_seen_again(Confirmed), None);
        assert_eq!(on_seen_again(Seen), None);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in [Seen, Confirming, Confirmed, Reversed, Dropped] {
            assert_eq!(TransferState::parse(state.as_str()), Some(state));
        }
        assert_eq!(TransferState::parse("credited"), None);
    }

    #[test]
    fn the_fork_point_is_the_highest_block_both_agree_on() {
        let remembered = [(10, h(10)), (11, h(11)), (12, h(12))];
        let same = [(10, Some(h(10))), (11, Some(h(11))), (12, Some(h(12)))];
        assert_eq!(fork_point(&remembered, &same), Some(12));
        let reorged = [(10, Some(h(10))), (11, Some(h(0xb1))), (12, Some(h(0xb2)))];
        assert_eq!(fork_point(&remembered, &reorged), Some(10));
        let shorter = [(10, Some(h(10))), (11, Some(h(0xb1))), (12, None)];
        assert_eq!(fork_point(&remembered, &shorter), Some(10));
        let deeper = [(10, Some(h(0xa0))), (11, Some(h(0xb1))), (12, Some(h(0xb2)))];
        assert_eq!(fork_point(&remembered, &deeper), None);
    }

    #[test]
    fn a_parent_mismatch_is_found_where_it_breaks() {
        let chain = [(11, h(11), h(10)), (12, h(12), h(11)), (13, h(13), h(12))];
        assert_eq!(first_break(Some(h(10)), &chain), None);
        assert_eq!(first_break(None, &chain), None);
        assert_eq!(first_break(Some(h(0xee)), &chain), Some(11));
        let torn = [(11, h(11), h(10)), (12, h(12), h(0xee))];
        assert_eq!(first_break(Some(h(10)), &torn), Some(12));
    }
}
