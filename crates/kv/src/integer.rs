//! Decimal integers stored as values (Redis semantics for INCR and friends).

/// Parses a value as a base-10 `i64` the way Redis does (`string2ll`): an optional `-`,
/// digits, no `+`, no spaces, no leading zeros (but `0` itself), no `-0`. A value
/// INCR accepts therefore has one spelling, which keeps `GET` after `INCR` predictable.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == bytes.len(),
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_canonical_decimal() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-7"), Some(-7));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"1.5",
            b"abc",
            b"9223372036854775808",
            b"\xff",
        ] {
            assert_eq!(parse_i64(bad), None, "{}", bad.escape_ascii());
        }
    }
}
