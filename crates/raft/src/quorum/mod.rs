//! Quorum arithmetic as pure functions over a voter configuration.
//!
//! A [`JointConfig`] is two majority configurations that must both agree; with an empty
//! outgoing half it is the ordinary single-majority case. Membership change (joint
//! consensus, thesis §4.3) can therefore be added without touching callers.

mod joint;
mod majority;

pub use joint::JointConfig;
pub use majority::MajorityConfig;

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted the vote.
    Won,
    /// A quorum can no longer be reached.
    Lost,
    /// Not decided yet.
    Pending,
}
