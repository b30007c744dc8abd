//! The pure core of an order-id generator: which id comes next for a clock reading, or how
//! long to wait, or why not. No I/O and no clock of its own, so every case is a unit test.

use crate::IdError;
use crate::layout::{OrderIdParts, SEQUENCE_COUNT};

/// The most a generator waits for a clock that moved back (or for a takeover floor that is
/// just ahead) before it refuses instead.
pub const CLOCK_BACKWARD_WAIT_MAX_MS: u64 = 5;

const SEQUENCE_MAX: u16 = SEQUENCE_COUNT - 1;

/// What the generator does next.
#[derive(Debug)]
pub(crate) enum Next {
    Issued(u64),
    /// Read the wall clock again once it shows at least this ms.
    WaitUntil(u64),
    Refused(IdError),
}

/// The time and sequence of the last id one worker id issued.
#[derive(Debug)]
pub(crate) struct Sequencer {
    worker_id: u16,
    /// The time of the last id, or the floor the worker id was taken over at: every id has a
    /// later (time, sequence) than this.
    last_ms: u64,
    sequence: u16,
    /// The latest wall-clock reading that issued an id. Separate from `last_ms`, which can be
    /// ahead of the clock after a takeover and is then no evidence of a clock moving back.
    clock_high_ms: u64,
}

impl Sequencer {
    /// A worker id whose earlier owners issued ids up to `floor_ms`: the first id is later.
    pub(crate) fn new(worker_id: u16, floor_ms: u64) -> Self {
        Self {
            worker_id,
            last_ms: floor_ms,
            sequence: SEQUENCE_MAX,
            clock_high_ms: 0,
        }
    }

    /// The time of the last id issued (or the floor, when none was).
    pub(crate) fn last_ms(&self) -> u64 {
        self.last_ms
    }

    /// The next id for a reading of `now_ms`, carrying `gene`, with a time no later than
    /// `covered_ms` (what the lease promises). Changes nothing unless it issues.
    pub(crate) fn next(&mut self, now_ms: u64, gene: u16, covered_ms: u64) -> Next {
        if now_ms < self.clock_high_ms {
            let back_ms = self.clock_high_ms - now_ms;
            if back_ms > CLOCK_BACKWARD_WAIT_MAX_MS {
                return Next::Refused(IdError::ClockMovedBack {
                    back_ms,
                    max_wait_ms: CLOCK_BACKWARD_WAIT_MAX_MS,
                });
            }
            return Next::WaitUntil(self.clock_high_ms);
        }
        let (ms, sequence) = if now_ms > self.last_ms {
            (now_ms, 0)
        } else if self.sequence < SEQUENCE_MAX {
            (self.last_ms, self.sequence + 1)
        } else {
            // this ms is used up (or, after a takeover, the clock has not passed the floor)
            let next_ms = self.last_ms + 1;
            let behind_ms = next_ms - now_ms;
            if behind_ms > CLOCK_BACKWARD_WAIT_MAX_MS {
                return Next::Refused(IdError::ClockBehindWorker {
                    worker_id: self.worker_id,
                    behind_ms,
                });
            }
            return Next::WaitUntil(next_ms);
        };
        if ms > covered_ms {
            return Next::Refused(IdError::BeyondLease {
                worker_id: self.worker_id,
                ahead_ms: ms - covered_ms,
            });
        }
        let parts = OrderIdParts {
            time_ms: ms,
            worker_id: self.worker_id,
            sequence,
            gene,
        };
        let Some(id) = parts.to_id() else {
            return Next::Refused(IdError::ClockOutOfRange { now_ms });
        };
        self.last_ms = ms;
        self.sequence = sequence;
        self.clock_high_ms = now_ms;
        Next::Issued(id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::gene_of_order;
    use crate::layout::{EPOCH_MS, GENE_COUNT};

    const T0: u64 = EPOCH_MS + 1_000_000;
    const COVERED: u64 = u64::MAX;

    fn issued(next: Next) -> u64 {
        match next {
            Next::Issued(id) => id,
            other => panic!("expected an id, got {other:?}"),
        }
    }

    #[test]
    fn ids_of_one_ms_count_up_then_wait_for_the_next_ms() {
        let mut seq = Sequencer::new(3, 0);
        let ids: Vec<_> = (0..SEQUENCE_COUNT)
            .map(|_| issued(seq.next(T0, 7, COVERED)))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let last = OrderIdParts::of(ids[ids.len() - 1]);
        assert_eq!((last.time_ms, last.sequence), (T0, SEQUENCE_COUNT - 1));
        assert!(matches!(seq.next(T0, 7, COVERED), Next::WaitUntil(ms) if ms == T0 + 1));
        let next = OrderIdParts::of(issued(seq.next(T0 + 1, 7, COVERED)));
        assert_eq!(
            (next.time_ms, next.worker_id, next.sequence),
            (T0 + 1, 3, 0)
        );
    }

    #[test]
    fn a_backward_clock_within_the_limit_waits_and_then_continues_the_sequence() {
        let mut seq = Sequencer::new(0, 0);
        let before = issued(seq.next(T0, 1, COVERED));
        let back = T0 - CLOCK_BACKWARD_WAIT_MAX_MS;
        assert!(matches!(seq.next(back, 1, COVERED), Next::WaitUntil(ms) if ms == T0));
        assert!(matches!(seq.next(T0 - 1, 1, COVERED), Next::WaitUntil(ms) if ms == T0));
        let after = issued(seq.next(T0, 1, COVERED));
        assert!(after > before);
        assert_eq!(OrderIdParts::of(after).sequence, 1);
    }

    #[test]
    fn a_backward_clock_beyond_the_limit_is_refused_with_how_far_it_went() {
        let mut seq = Sequencer::new(0, 0);
        let before = issued(seq.next(T0, 1, COVERED));
        let back = T0 - CLOCK_BACKWARD_WAIT_MAX_MS - 1;
        match seq.next(back, 1, COVERED) {
            Next::Refused(IdError::ClockMovedBack {
                back_ms,
                max_wait_ms,
            }) => assert_eq!((back_ms, max_wait_ms), (6, CLOCK_BACKWARD_WAIT_MAX_MS)),
            other => panic!("{other:?}"),
        }
        // nothing changed: once the clock is back, issuing resumes after the last id
        assert!(issued(seq.next(T0, 1, COVERED)) > before);
    }

    #[test]
    fn a_taken_over_worker_id_issues_only_after_the_floor() {
        let floor = T0 + 3;
        let mut seq = Sequencer::new(5, floor);
        assert!(matches!(seq.next(T0, 0, COVERED), Next::WaitUntil(ms) if ms == floor + 1));
        let id = issued(seq.next(floor + 1, 0, COVERED));
        assert_eq!(OrderIdParts::of(id).time_ms, floor + 1);

        let mut far = Sequencer::new(5, T0 + 1_000);
        match far.next(T0, 0, COVERED) {
            Next::Refused(IdError::ClockBehindWorker {
                worker_id,
                behind_ms,
            }) => assert_eq!((worker_id, behind_ms), (5, 1_001)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_id_is_issued_beyond_what_the_lease_covers() {
        let mut seq = Sequencer::new(0, 0);
        issued(seq.next(T0, 0, T0));
        match seq.next(T0 + 2, 0, T0) {
            Next::Refused(IdError::BeyondLease { ahead_ms, .. }) => assert_eq!(ahead_ms, 2),
            other => panic!("{other:?}"),
        }
        issued(seq.next(T0 + 2, 0, T0 + 2));
    }

    #[test]
    fn a_clock_outside_the_time_bits_is_refused() {
        let mut seq = Sequencer::new(0, 0);
        assert!(matches!(
            seq.next(EPOCH_MS - 1, 0, COVERED),
            Next::Refused(IdError::ClockOutOfRange { .. })
        ));
    }

    /// A clock step: forward, or back by a little or a lot.
    fn steps() -> impl Strategy<Value = Vec<i64>> {
        prop::collection::vec(
            prop_oneof![
                6 => 0_i64..3,
                2 => -5_i64..0,
                1 => -200_i64..-5,
                1 => 3_i64..50,
            ],
            1..400,
        )
    }

    proptest! {
        #[test]
        fn a_backward_clock_never_yields_a_duplicate_or_a_smaller_id(
            steps in steps(),
            waits_honoured in any::<bool>(),
        ) {
            let mut seq = Sequencer::new(9, 0);
            let mut now = T0;
            let mut seen = HashSet::new();
            let mut last = 0;
            for step in steps {
                now = now.saturating_add_signed(step);
                // a few ids per reading, so that ms fill up and the sequence wraps
                for _ in 0..20 {
                    match seq.next(now, 1, COVERED) {
                        Next::Issued(id) => {
                            prop_assert!(seen.insert(id), "duplicate {id}");
                            prop_assert!(id > last);
                            last = id;
                        }
                        Next::WaitUntil(ms) => {
                            prop_assert!(ms > now && ms - now <= CLOCK_BACKWARD_WAIT_MAX_MS);
                            if waits_honoured { now = ms; }
                        }
                        Next::Refused(_) => break,
                    }
                }
            }
        }

        #[test]
        fn the_gene_of_an_order_id_equals_its_buyers(buyer in ".*", worker_id in 0..128_u16) {
            let gene = crate::gene_of_buyer(&buyer);
            prop_assert!(gene < GENE_COUNT);
            let id = issued(Sequencer::new(worker_id, 0).next(T0, gene, COVERED));
            prop_assert_eq!(gene_of_order(id), gene);
        }
    }
}
