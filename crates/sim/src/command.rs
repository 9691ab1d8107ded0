//! The commands tests submit. The lab passes Go `interface{}` values (ints, strings)
//! and compares them with `==`; here a command is its byte encoding, compared bytewise.

use std::fmt;

/// One client command as the tester sees it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cmd(pub Vec<u8>);

impl Cmd {
    /// The command's bytes, as proposed to Raft.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (the lab's `len(cmd)` for strings).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The command as an integer, if it is one (the lab's `cmd.(int)`).
    pub fn as_int(&self) -> Option<u64> {
        std::str::from_utf8(&self.0).ok()?.parse().ok()
    }
}

impl From<u64> for Cmd {
    fn from(value: u64) -> Cmd {
        // Decimal text: compact like gob's varints, and readable in traces.
        Cmd(value.to_string().into_bytes())
    }
}

impl From<usize> for Cmd {
    fn from(value: usize) -> Cmd {
        Cmd::from(value as u64)
    }
}

impl From<&str> for Cmd {
    fn from(value: &str) -> Cmd {
        Cmd(value.as_bytes().to_vec())
    }
}

impl From<String> for Cmd {
    fn from(value: String) -> Cmd {
        Cmd(value.into_bytes())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(&self.0);
        if text.len() > 24 {
            let head: String = text.chars().take(16).collect();
            write!(f, "{head}…({} bytes)", text.len())
        } else {
            write!(f, "{text}")
        }
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
