//! Parsing of Redis expiry arguments (SET's options, EXPIRE and friends) into absolute
//! deadlines. Relative times are turned into absolute ones here, on the server that
//! proposes the write, against its own clock (`now_ms`): the log then carries only
//! absolute deadlines, which replay identically on every replica.

use super::{not_an_integer, parse_integer, syntax_error};
use crate::resp::Reply;
use bytes::Bytes;
use kv::{SetCondition, SetExpiry};

/// SET's options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// NX or XX.
    pub condition: Option<SetCondition>,
    /// EX / PX / EXAT / PXAT (as an absolute deadline) or KEEPTTL.
    pub expiry: Option<SetExpiry>,
}

/// The units of an expiry argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds (EX, EXPIRE).
    Seconds,
    /// Milliseconds (PX, PEXPIRE).
    Millis,
}

/// Whether an expiry argument counts from now or from the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// From now (EX, PX, EXPIRE, PEXPIRE).
    Now,
    /// From the Unix epoch (EXAT, PXAT, EXPIREAT, PEXPIREAT).
    Epoch,
}

fn invalid_expire_time(command: &str) -> Reply {
    Reply::err(format!("invalid expire time in '{command}' command"))
}

/// Parses SET's options (the arguments after key and value).
pub fn parse_set_options(options: &[Bytes], now_ms: u64) -> Result<SetOptions, Reply> {
    let mut parsed = SetOptions::default();
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let name = option.to_ascii_uppercase();
        let (condition, expiry) = match name.as_slice() {
            b"NX" => (Some(SetCondition::IfAbsent), None),
            b"XX" => (Some(SetCondition::IfPresent), None),
            b"KEEPTTL" => (None, Some(SetExpiry::Keep)),
            b"EX" | b"PX" | b"EXAT" | b"PXAT" => {
                let amount = rest.next().ok_or_else(syntax_error)?;
                let (unit, base) = match name.as_slice() {
                    b"EX" => (Unit::Seconds, Base::Now),
                    b"PX" => (Unit::Millis, Base::Now),
                    b"EXAT" => (Unit::Seconds, Base::Epoch),
                    _ => (Unit::Millis, Base::Epoch),
                };
                let deadline = set_deadline(amount, unit, base, now_ms)?;
                (None, Some(SetExpiry::AtMs(deadline)))
            }
            _ => return Err(syntax_error()),
        };
        // As in Redis: NX with XX, or two expiries (even equal ones), is a syntax error;
        // a repeated NX (or XX) is not.
        let conflicting_condition =
            condition.is_some_and(|c| parsed.condition.is_some_and(|p| p != c));
        if conflicting_condition || (expiry.is_some() && parsed.expiry.is_some()) {
            return Err(syntax_error());
        }
        parsed.condition = parsed.condition.or(condition);
        parsed.expiry = parsed.expiry.or(expiry);
    }
    Ok(parsed)
}

/// SET's EX / PX / EXAT / PXAT amount: a positive integer whose deadline fits.
fn set_deadline(amount: &[u8], unit: Unit, base: Base, now_ms: u64) -> Result<u64, Reply> {
    let amount = parse_integer(amount).ok_or_else(not_an_integer)?;
    if amount <= 0 {
        return Err(invalid_expire_time("set"));
    }
    deadline_ms(amount, unit, base, now_ms).ok_or_else(|| invalid_expire_time("set"))
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT's amount. As in Redis, a time in the past
/// (zero or negative included) is allowed: the key expires at once.
pub fn expire_deadline(
    command: &str,
    amount: &[u8],
    unit: Unit,
    base: Base,
    now_ms: u64,
) -> Result<u64, Reply> {
    let amount = parse_integer(amount).ok_or_else(not_an_integer)?;
    deadline_ms(amount, unit, base, now_ms).ok_or_else(|| invalid_expire_time(command))
}

/// The deadline of EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT (`name` upper case): P is
/// for milliseconds, AT for a time since the epoch.
pub fn expire_command_deadline(name: &str, amount: &[u8], now_ms: u64) -> Result<u64, Reply> {
    let unit = if name.starts_with('P') {
        Unit::Millis
    } else {
        Unit::Seconds
    };
    let base = if name.ends_with("AT") {
        Base::Epoch
    } else {
        Base::Now
    };
    expire_deadline(&name.to_ascii_lowercase(), amount, unit, base, now_ms)
}

/// The absolute deadline in ms (a past one clamped to 0); `None` on overflow.
fn deadline_ms(amount: i64, unit: Unit, base: Base, now_ms: u64) -> Option<u64> {
    let millis = match unit {
        Unit::Seconds => amount.checked_mul(1000)?,
        Unit::Millis => amount,
    };
    let origin = match base {
        Base::Now => i64::try_from(now_ms).ok()?,
        Base::Epoch => 0,
    };
    Some(u64::try_from(origin.checked_add(millis)?).unwrap_or(0))
}

/// What TTL (seconds) or PTTL (ms) answers for the deadline the store reported (-2: no
/// key, -1: no deadline) at `now_ms`.
pub fn time_to_live(deadline: i64, unit: Unit, now_ms: u64) -> i64 {
    if deadline < 0 {
        return deadline;
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let remaining = deadline.saturating_sub(now);
    if remaining <= 0 {
        // Expired between the store's answer and now.
        return -2;
    }
    match unit {
        // Redis rounds to the nearest second.
        Unit::Seconds => (remaining + 500) / 1000,
        Unit::Millis => remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn error_text(reply: Reply) -> String {
        match reply {
            Reply::Error(text) => text,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn set_options_become_absolute_deadlines() {
        let now = 1_000_000;
        let parse = |list: &[&str]| parse_set_options(&args(list), now);
        assert_eq!(parse(&[]), Ok(SetOptions::default()));
        assert_eq!(
            parse(&["ex", "10"]).unwrap().expiry,
            Some(SetExpiry::AtMs(now + 10_000))
        );
        assert_eq!(
            parse(&["PX", "10"]).unwrap().expiry,
            Some(SetExpiry::AtMs(now + 10))
        );
        assert_eq!(
            parse(&["EXAT", "5"]).unwrap().expiry,
            Some(SetExpiry::AtMs(5_000))
        );
        assert_eq!(
            parse(&["NX", "PXAT", "7"]).unwrap(),
            SetOptions {
                condition: Some(SetCondition::IfAbsent),
                expiry: Some(SetExpiry::AtMs(7)),
            }
        );
        assert_eq!(
            parse(&["xx", "XX"]).unwrap().condition,
            Some(SetCondition::IfPresent)
        );
        assert_eq!(parse(&["KEEPTTL"]).unwrap().expiry, Some(SetExpiry::Keep));
    }

    #[test]
    fn bad_set_options_get_redis_errors() {
        let now = 1_000_000;
        let parse = |list: &[&str]| error_text(parse_set_options(&args(list), now).unwrap_err());
        for bad in [
            &["EX"][..],
            &["EX", "1", "PX", "1"],
            &["EX", "1", "KEEPTTL"],
            &["NX", "XX"],
            &["GET"],
            &["whatever"],
        ] {
            assert_eq!(parse(bad), "ERR syntax error", "{bad:?}");
        }
        for bad in [
            &["EX", "0"][..],
            &["PX", "-5"],
            &["EX", "9223372036854775807"],
        ] {
            assert_eq!(
                parse(bad),
                "ERR invalid expire time in 'set' command",
                "{bad:?}"
            );
        }
        assert_eq!(
            parse(&["EX", "ten"]),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn expire_arguments_allow_the_past() {
        let now = 10_000;
        let deadline = |amount: &str, unit, base| {
            expire_deadline("expire", amount.as_bytes(), unit, base, now)
        };
        assert_eq!(deadline("5", Unit::Seconds, Base::Now), Ok(15_000));
        assert_eq!(deadline("-50", Unit::Seconds, Base::Now), Ok(0));
        assert_eq!(deadline("0", Unit::Millis, Base::Now), Ok(now));
        assert_eq!(deadline("123", Unit::Millis, Base::Epoch), Ok(123));
        assert_eq!(
            error_text(deadline("9223372036854775807", Unit::Seconds, Base::Now).unwrap_err()),
            "ERR invalid expire time in 'expire' command"
        );
    }

    #[test]
    fn expire_commands_pick_unit_and_base_from_their_names() {
        let now = 10_000;
        let deadline = |name: &str| expire_command_deadline(name, b"7", now).unwrap();
        assert_eq!(deadline("EXPIRE"), 17_000);
        assert_eq!(deadline("PEXPIRE"), 10_007);
        assert_eq!(deadline("EXPIREAT"), 7_000);
        assert_eq!(deadline("PEXPIREAT"), 7);
    }

    #[test]
    fn time_to_live_rounds_like_redis() {
        assert_eq!(time_to_live(-2, Unit::Seconds, 5), -2);
        assert_eq!(time_to_live(-1, Unit::Millis, 5), -1);
        assert_eq!(time_to_live(10_000, Unit::Millis, 4_000), 6_000);
        assert_eq!(time_to_live(10_000, Unit::Seconds, 4_400), 6);
        assert_eq!(time_to_live(10_000, Unit::Seconds, 4_600), 5);
        assert_eq!(time_to_live(10_000, Unit::Seconds, 10_000), -2);
    }
}
