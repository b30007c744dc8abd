//! The command side's per-stream slots, which keep each stream's state between commands.

use crate::counter::Counter;
use crate::harness::Harness;

/// The number of slots a process keeps before it drops some (`STREAM_SLOTS_MAX`).
const SLOTS_KEPT: usize = 10_000;

/// Many one-off streams (orders) must not push out a stream in steady use (a hot SKU): its
/// slot holds its kept state, and a new slot reloads the whole stream under the stream's lock.
/// A slot that was dropped and made again keeps no state, so `kept` answers `None` for it.
#[tokio::test]
async fn a_stream_in_steady_use_keeps_its_slot_among_many_one_off_streams() {
    let h = Harness::sqlite().await;
    let store = h.store();
    store.current::<Counter>("hot").await.unwrap();
    for n in 0..3 * SLOTS_KEPT {
        assert!(store.kept::<Counter>(&format!("one-off-{n}")).is_none());
        if n % 100 == 0 {
            assert!(
                store.kept::<Counter>("hot").is_some(),
                "the hot stream lost its slot after {n} one-off streams"
            );
        }
    }
}
