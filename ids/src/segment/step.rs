//! How the segment step follows demand (Leaf's rule): a segment that lasted under
//! [`SEGMENT_SHORT_MS`] doubles the next step, one that lasted over [`SEGMENT_LONG_MS`]
//! halves it, so that an allocator goes to the database about every 15 to 30 minutes whatever
//! the load.

/// A segment used up faster than this was too small.
pub const SEGMENT_SHORT_MS: u64 = 15 * 60 * 1_000;
/// A segment that lasted longer than this was too large.
pub const SEGMENT_LONG_MS: u64 = 30 * 60 * 1_000;

/// The step of the next segment after one of `step` ids lasted `lasted_ms`, within
/// `initial..=max`.
pub(crate) fn next_step(step: u32, lasted_ms: u64, initial: u32, max: u32) -> u32 {
    if lasted_ms < SEGMENT_SHORT_MS {
        step.saturating_mul(2).min(max)
    } else if lasted_ms > SEGMENT_LONG_MS {
        (step / 2).max(initial)
    } else {
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN_MS: u64 = 60 * 1_000;

    #[test]
    fn a_segment_that_lasted_under_15_minutes_doubles_the_step_up_to_the_max() {
        assert_eq!(next_step(1_000, 0, 1_000, 100_000), 2_000);
        assert_eq!(next_step(1_000, 15 * MIN_MS - 1, 1_000, 100_000), 2_000);
        assert_eq!(next_step(64_000, MIN_MS, 1_000, 100_000), 100_000);
        assert_eq!(next_step(100_000, MIN_MS, 1_000, 100_000), 100_000);
    }

    #[test]
    fn a_segment_that_lasted_15_to_30_minutes_keeps_the_step() {
        assert_eq!(next_step(4_000, 15 * MIN_MS, 1_000, 100_000), 4_000);
        assert_eq!(next_step(4_000, 30 * MIN_MS, 1_000, 100_000), 4_000);
    }

    #[test]
    fn a_segment_that_lasted_over_30_minutes_halves_the_step_down_to_the_initial() {
        assert_eq!(next_step(4_000, 30 * MIN_MS + 1, 1_000, 100_000), 2_000);
        assert_eq!(next_step(1_500, 60 * MIN_MS, 1_000, 100_000), 1_000);
        assert_eq!(next_step(1_000, 24 * 60 * MIN_MS, 1_000, 100_000), 1_000);
    }
}
