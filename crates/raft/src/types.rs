//! Newtypes for the numbers Raft juggles, so a term is never mistaken for an index.

use std::fmt;

macro_rules! number_newtype {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl $name {
            /// The zero value (before the first term / index / node).
            pub const ZERO: $name = $name(0);

            /// The value one above this one.
            pub fn next(self) -> $name {
                $name(self.0 + 1)
            }

            /// The value one below this one, saturating at zero.
            pub fn prev(self) -> $name {
                $name(self.0.saturating_sub(1))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                $name(value)
            }
        }
    };
}

number_newtype!(
    /// A Raft term: a logical clock that numbers leaderships (§5.1). Term 0 is "before any election".
    Term,
    "t"
);
number_newtype!(
    /// A position in the replicated log. The first entry has index 1; index 0 is the empty prefix.
    Index,
    "i"
);
number_newtype!(
    /// The identity of a node in the cluster. Id 0 is reserved for "nobody" (no vote, no leader).
    NodeId,
    "n"
);

impl NodeId {
    /// "Nobody": no vote cast, no leader known.
    pub const NONE: NodeId = NodeId(0);
}

/// The identity of a log entry: Log Matching (§5.3) says two logs holding the same
/// `EntryId` agree on every entry up to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntryId {
    /// The term in which the entry was created.
    pub term: Term,
    /// Its position in the log.
    pub index: Index,
}

impl EntryId {
    /// Builds an id from raw numbers.
    pub fn new(term: u64, index: u64) -> EntryId {
        EntryId {
            term: Term(term),
            index: Index(index),
        }
    }

    /// True if a log ending at `self` is at least as up-to-date as one ending at `other`
    /// (§5.4.1: compare last terms first, then lengths).
    pub fn is_at_least_as_up_to_date_as(self, other: EntryId) -> bool {
        (self.term, self.index) >= (other.term, other.index)
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.term.0, self.index.0)
    }
}
