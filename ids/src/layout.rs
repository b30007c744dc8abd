//! The bit layout of an order id (the table is in the crate docs).

/// Bits of ms since [`EPOCH_MS`]: 2^40 ms is 34.8 years, up to 2060-11-03.
pub const TIME_BITS: u32 = 40;
/// Bits of the worker id: [`WORKER_ID_COUNT`] generators at once.
pub const WORKER_BITS: u32 = 7;
/// Bits of the per-millisecond sequence: [`SEQUENCE_COUNT`] ids per ms per worker.
pub const SEQUENCE_BITS: u32 = 6;
pub use event_store::{GENE_BITS, GENE_COUNT};

/// The time bits count from here: 2026-01-01T00:00:00Z, in ms since the Unix epoch.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
/// How many ms the time bits cover.
pub const TIME_SPAN_MS: u64 = 1 << TIME_BITS;
/// How many worker ids there are (0..128).
pub const WORKER_ID_COUNT: u16 = 1 << WORKER_BITS;
/// How many ids one worker issues in one ms.
pub const SEQUENCE_COUNT: u16 = 1 << SEQUENCE_BITS;

const SEQUENCE_SHIFT: u32 = GENE_BITS;
const WORKER_SHIFT: u32 = SEQUENCE_SHIFT + SEQUENCE_BITS;
const TIME_SHIFT: u32 = WORKER_SHIFT + WORKER_BITS;
// the top bit stays clear: every id is a positive i64 (a PostgreSQL bigint)
const _: () = assert!(TIME_SHIFT + TIME_BITS == 63);
// what DESIGN section 4 asks of the widths: 30 years (of 365.25 days), 128 workers at once,
// 64 ids per ms per worker, 1024 partitions
const _: () = assert!(TIME_SPAN_MS >= 30 * 36_525 * 24 * 3_600 * 10);
const _: () = assert!(WORKER_ID_COUNT >= 128 && SEQUENCE_COUNT >= 64 && GENE_COUNT == 1024);

const fn mask(bits: u32) -> u64 {
    (1 << bits) - 1
}

/// The fields of an order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderIdParts {
    /// When it was issued, in ms since the Unix epoch (not since [`EPOCH_MS`]).
    pub time_ms: u64,
    /// The worker id of the generator that issued it.
    pub worker_id: u16,
    /// Its place among the ids its worker issued in that ms.
    pub sequence: u16,
    /// Its buyer's partition gene.
    pub gene: u16,
}

impl OrderIdParts {
    /// Takes an id apart.
    pub fn of(id: u64) -> Self {
        // each field is masked to at most 16 bits before the narrowing casts
        Self {
            time_ms: EPOCH_MS + ((id >> TIME_SHIFT) & mask(TIME_BITS)),
            worker_id: ((id >> WORKER_SHIFT) & mask(WORKER_BITS)) as u16,
            sequence: ((id >> SEQUENCE_SHIFT) & mask(SEQUENCE_BITS)) as u16,
            gene: (id & mask(GENE_BITS)) as u16,
        }
    }

    /// Puts an id together; `None` when the time is outside
    /// `EPOCH_MS..EPOCH_MS + TIME_SPAN_MS` or a field does not fit its bits.
    pub fn to_id(self) -> Option<u64> {
        let time = self.time_ms.checked_sub(EPOCH_MS)?;
        let fits = time <= mask(TIME_BITS)
            && u64::from(self.worker_id) <= mask(WORKER_BITS)
            && u64::from(self.sequence) <= mask(SEQUENCE_BITS)
            && u64::from(self.gene) <= mask(GENE_BITS);
        fits.then(|| {
            (time << TIME_SHIFT)
                | (u64::from(self.worker_id) << WORKER_SHIFT)
                | (u64::from(self.sequence) << SEQUENCE_SHIFT)
                | u64::from(self.gene)
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_largest_id_is_a_positive_i64() {
        let last = OrderIdParts {
            time_ms: EPOCH_MS + TIME_SPAN_MS - 1,
            worker_id: WORKER_ID_COUNT - 1,
            sequence: SEQUENCE_COUNT - 1,
            gene: GENE_COUNT - 1,
        };
        assert_eq!(last.to_id(), Some(i64::MAX as u64));
    }

    #[test]
    fn fields_out_of_range_make_no_id() {
        let ok = OrderIdParts {
            time_ms: EPOCH_MS,
            worker_id: 0,
            sequence: 0,
            gene: 0,
        };
        assert_eq!(ok.to_id(), Some(0));
        let bad = [
            OrderIdParts {
                time_ms: EPOCH_MS - 1,
                ..ok
            },
            OrderIdParts {
                time_ms: EPOCH_MS + TIME_SPAN_MS,
                ..ok
            },
            OrderIdParts {
                worker_id: WORKER_ID_COUNT,
                ..ok
            },
            OrderIdParts {
                sequence: SEQUENCE_COUNT,
                ..ok
            },
            OrderIdParts {
                gene: GENE_COUNT,
                ..ok
            },
        ];
        for parts in bad {
            assert_eq!(parts.to_id(), None, "{parts:?}");
        }
    }

    #[test]
    fn a_later_ms_makes_a_larger_id_whatever_the_other_fields() {
        let early = OrderIdParts {
            time_ms: EPOCH_MS + 10,
            worker_id: WORKER_ID_COUNT - 1,
            sequence: SEQUENCE_COUNT - 1,
            gene: GENE_COUNT - 1,
        };
        let late = OrderIdParts {
            time_ms: EPOCH_MS + 11,
            worker_id: 0,
            sequence: 0,
            gene: 0,
        };
        assert!(late.to_id() > early.to_id());
    }

    proptest! {
        #[test]
        fn layout_round_trips_time_worker_sequence_and_gene(
            time in 0..TIME_SPAN_MS,
            worker_id in 0..WORKER_ID_COUNT,
            sequence in 0..SEQUENCE_COUNT,
            gene in 0..GENE_COUNT,
        ) {
            let parts = OrderIdParts { time_ms: EPOCH_MS + time, worker_id, sequence, gene };
            let id = parts.to_id().unwrap();
            prop_assert!(i64::try_from(id).is_ok());
            prop_assert_eq!(OrderIdParts::of(id), parts);
            prop_assert_eq!(crate::gene_of_order(id), gene);
        }
    }
}
