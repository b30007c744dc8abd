//! Timestamps serialised as chrono serialises them, faster.
//!
//! chrono writes a `DateTime<Utc>` as RFC 3339 text (`2026-12-03T08:41:00.250Z`: the fraction
//! in 3, 6 or 9 digits, whichever is the shortest exact one, or none) through a formatter that
//! serde_json escapes one character at a time. Orders are serialised whole several times over
//! (their events, their state, the document their hash is taken of), and that formatting was
//! a tenth of a rebuild's CPU. [`serialize`] and [`serialize_option`], for
//! `#[serde(serialize_with = ...)]`, write the same text from a fixed buffer, and hand any
//! time outside years 0 to 9999, or within a leap second, to chrono. Reading is chrono's.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`: the longest text written here.
const TEXT_LEN_MAX: usize = 30;

/// Serialises `at` exactly as chrono's `Serialize` does.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0_u8; TEXT_LEN_MAX];
    match write(at, &mut text) {
        // only ASCII digits and separators are written
        Some(len) => match std::str::from_utf8(&text[..len]) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => at.serialize(serializer),
        },
        None => at.serialize(serializer),
    }
}

/// [`serialize`] of an optional time (`None` is `null`, as serde writes it).
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Writes `at` into `out` and answers its length; `None` for what chrono must write (a year
/// outside 0 to 9999, a leap second).
fn write(at: &DateTime<Utc>, out: &mut [u8; TEXT_LEN_MAX]) -> Option<usize> {
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9_999)?;
    let nano = at.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    digits(&mut out[0..4], year);
    out[4] = b'-';
    digits(&mut out[5..7], at.month());
    out[7] = b'-';
    digits(&mut out[8..10], at.day());
    out[10] = b'T';
    digits(&mut out[11..13], at.hour());
    out[13] = b':';
    digits(&mut out[14..16], at.minute());
    out[16] = b':';
    digits(&mut out[17..19], at.second());
    let mut len = 19;
    let fraction = if nano == 0 {
        None
    } else if nano % 1_000_000 == 0 {
        Some((nano / 1_000_000, 3))
    } else if nano % 1_000 == 0 {
        Some((nano / 1_000, 6))
    } else {
        Some((nano, 9))
    };
    if let Some((value, width)) = fraction {
        out[len] = b'.';
        digits(&mut out[len + 1..len + 1 + width], value);
        len += 1 + width;
    }
    out[len] = b'Z';
    Some(len + 1)
}

/// Writes `value` in decimal, zero-padded to fill `out` (its lowest digits when longer).
fn digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        // a decimal digit is below 10
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use proptest::prelude::*;

    use super::*;

    #[derive(Serialize)]
    struct Fast {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "serialize_option")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn same_as_chrono(at: DateTime<Utc>) {
        for maybe in [None, Some(at)] {
            let fast = serde_json::to_string(&Fast { at, maybe }).unwrap();
            let chrono = serde_json::to_string(&Chrono { at, maybe }).unwrap();
            assert_eq!(fast, chrono);
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nano: u32) -> DateTime<Utc> {
        let naive = NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_nano_opt(h, mi, s, nano)
            .unwrap();
        Utc.from_utc_datetime(&naive)
    }

    #[test]
    fn every_fraction_width_and_the_edges_are_written_as_chrono_writes_them() {
        for nano in [
            0,
            1,
            999,
            1_000,
            250_000,
            999_999,
            1_000_000,
            250_000_000,
            999_000_000,
            999_999_999,
            123_456_789,
            100_000_001,
        ] {
            same_as_chrono(at(2026, 12, 3, 8, 41, 0, nano));
        }
        same_as_chrono(at(0, 1, 1, 0, 0, 0, 0));
        same_as_chrono(at(9_999, 12, 31, 23, 59, 59, 999_999_999));
        same_as_chrono(at(1970, 1, 1, 0, 0, 0, 0));
        // chrono's own: years beyond four digits, and a leap second
        same_as_chrono(at(10_000, 1, 1, 0, 0, 0, 0));
        same_as_chrono(at(-1, 6, 15, 12, 0, 0, 5_000));
        same_as_chrono(at(2016, 12, 31, 23, 59, 59, 1_500_000_000));
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(
            seconds in -62_167_219_200_i64..253_402_300_800,
            nano in prop_oneof![
                Just(0_u32),
                (0_u32..1_000).prop_map(|ms| ms * 1_000_000),
                (0_u32..1_000_000).prop_map(|us| us * 1_000),
                0_u32..1_000_000_000,
            ],
        ) {
            let at = DateTime::from_timestamp(seconds, nano).unwrap();
            same_as_chrono(at);
        }
    }
}
