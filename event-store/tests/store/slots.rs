//! The command side's per-stream slots, which keep each stream's state between commands.

use std::sync::Arc;

use crate::counter::Counter;
use crate::harness::Harness;

/// The number of slots a process keeps before it drops some (`STREAM_SLOTS_MAX`).
const SLOTS_KEPT: usize = 10_000;

/// Many one-off streams (orders) must not push out a stream in steady use (a hot SKU): its
/// slot holds its kept state, and a new slot reloads the whole stream under the stream's lock.
#[tokio::test]
async fn a_stream_in_steady_use_keeps_its_slot_among_many_one_off_streams() {
    let h = Harness::sqlite().await;
    let store = h.store();
    let hot = Arc::downgrade(&store.stream_slot::<Counter>("hot"));
    for n in 0..3 * SLOTS_KEPT {
        drop(store.stream_slot::<Counter>(&format!("one-off-{n}")));
        if n % 100 == 0 {
            let again = store.stream_slot::<Counter>("hot");
            assert!(
                hot.upgrade().is_some_and(|hot| Arc::ptr_eq(&hot, &again)),
                "the hot stream lost its slot after {n} one-off streams"
            );
        }
    }
}
