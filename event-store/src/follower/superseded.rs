//! A follower's ordinary race with another runner of the same follower, told from a fault.

/// The cause a handler gives (anywhere in its error's chain of sources) when another runner of
/// the same follower, on another node, moved the checkpoint first: an ordinary race, not a
/// fault. The follower resumes from the stored checkpoint as after any failure, but logs it at
/// debug level and does not count it as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another runner moved the checkpoint first")]
pub struct Superseded;

/// Whether `err` or one of its sources is [`Superseded`].
pub(super) fn is_superseded(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<Superseded>() {
            return true;
        }
        cause = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follower::HandlerError;

    #[derive(Debug, thiserror::Error)]
    #[error("the batch was rolled back")]
    struct RolledBack(#[source] Superseded);

    #[test]
    fn a_race_is_told_apart_from_a_fault_anywhere_in_the_chain() {
        let raced: HandlerError = Box::new(RolledBack(Superseded));
        assert!(is_superseded(&*raced));
        let fault: HandlerError = Box::new(std::io::Error::other("disk full"));
        assert!(!is_superseded(&*fault));
    }
}
