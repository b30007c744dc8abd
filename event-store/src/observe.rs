//! Telling the process what it appended, as soon as the append commits: for what must know
//! a stream exists before the command that created it answers (the API's Bloom filter of
//! known ids), where following the log would come a few milliseconds late.

/// Told of every append this process makes, after it committed and before the command
/// returns. Called on the appending task: it must be quick and must not block.
pub trait AppendObserver: Send + Sync {
    /// `aggregate_type`'s stream `aggregate_id` has events (new ones, just committed).
    fn appended(&self, aggregate_type: &str, aggregate_id: &str);
}
