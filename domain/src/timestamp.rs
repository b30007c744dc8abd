//! Timestamps serialised and read as chrono does, faster.
//!
//! chrono writes a `DateTime<Utc>` as RFC 3339 text (`2026-12-03T08:41:00.250Z`: the fraction
//! in 3, 6 or 9 digits, whichever is the shortest exact one, or none) through a formatter that
//! serde_json escapes one character at a time, and reads it back through a parser of every
//! RFC 3339 variant. Orders are serialised whole several times over (their events, their
//! state, the document their hash is taken of), and that formatting was a tenth of a rebuild's
//! CPU. For `#[serde(with = "domain::timestamp")]` (and [`option`] for `Option`s):
//! [`serialize`] writes the same text from a fixed buffer, and hands any time outside years 0
//! to 9999, or within a leap second, to chrono; [`deserialize`] reads the text written here
//! directly, and hands any other text to chrono's parser, so it reads and refuses exactly
//! what chrono does.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
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

/// Reads a time exactly as chrono's `Deserialize` does.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(TimeVisitor)
}

/// [`serialize`] and [`deserialize`] for an optional time (`None` is `null`). A field that
/// may be missing needs `#[serde(default)]` beside it, as with any `with` module.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// [`super::serialize`] of `Some`, `null` for `None`.
    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// [`super::deserialize`] of a time, `None` for `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        /// A time read by [`super::deserialize`].
        struct Time(DateTime<Utc>);

        impl<'de> Deserialize<'de> for Time {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                super::deserialize(deserializer).map(Time)
            }
        }

        Ok(Option::<Time>::deserialize(deserializer)?.map(|Time(at)| at))
    }
}

/// Reads the text of a time.
struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match read(text.as_bytes()) {
            Some(at) => Ok(at),
            // chrono's own reading, as its `Deserialize` makes it
            None => text
                .parse::<DateTime<FixedOffset>>()
                .map(|at| at.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

/// The time `text` holds when it is what [`write`] writes: `YYYY-MM-DDTHH:MM:SS`, then
/// nothing or a fraction of 3, 6 or 9 digits, then `Z`, of a valid date and time. `None` for
/// anything else, which chrono reads.
fn read(text: &[u8]) -> Option<DateTime<Utc>> {
    // the fraction's digits, and what one unit of its last digit is in nanoseconds
    let (fraction_len, unit) = match text.len() {
        20 => (0, 0),
        24 => (3, 1_000_000),
        27 => (6, 1_000),
        30 => (9, 1),
        _ => return None,
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|(at, byte)| text[*at] != *byte) || text[text.len() - 1] != b'Z' {
        return None;
    }
    let nano = if fraction_len == 0 {
        0
    } else {
        if text[19] != b'.' {
            return None;
        }
        number(&text[20..20 + fraction_len])? * unit
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(&text[0..4])?).ok()?,
        number(&text[5..7])?,
        number(&text[8..10])?,
    )?;
    // second 60 (a leap second) is refused here, and is chrono's to read
    let time = date.and_hms_nano_opt(
        number(&text[11..13])?,
        number(&text[14..16])?,
        number(&text[17..19])?,
        nano,
    )?;
    Some(time.and_utc())
}

/// The decimal number of `digits` (ASCII digits only, at most 9 of them).
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0_u32, |value, digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u32::from(digit - b'0'))
    })
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
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fast {
        #[serde(with = "super")]
        at: DateTime<Utc>,
        #[serde(with = "option", default)]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    /// Written as chrono writes it, and read back as chrono reads it.
    fn same_as_chrono(at: DateTime<Utc>) {
        for maybe in [None, Some(at)] {
            let fast = serde_json::to_string(&Fast { at, maybe }).unwrap();
            let chrono = serde_json::to_string(&Chrono { at, maybe }).unwrap();
            assert_eq!(fast, chrono);
            read_as_chrono(&chrono);
        }
    }

    /// `json` (an object of `at` and `maybe`) is read as chrono reads it, or refused as chrono
    /// refuses it.
    fn read_as_chrono(json: &str) {
        let fast = serde_json::from_str::<Fast>(json).map(|f| (f.at, f.maybe));
        let chrono = serde_json::from_str::<Chrono>(json).map(|c| (c.at, c.maybe));
        match (fast, chrono) {
            (Ok(fast), Ok(chrono)) => assert_eq!(fast, chrono, "{json}"),
            (Err(_), Err(_)) => {}
            (fast, chrono) => panic!("{json}: read {fast:?}, chrono {chrono:?}"),
        }
    }

    #[test]
    fn any_text_is_read_as_chrono_reads_it() {
        for text in [
            "2026-12-03T08:41:00Z",
            "2026-12-03T08:41:00.250Z",
            "2026-12-03T08:41:00.250001Z",
            "2026-12-03T08:41:00.250000001Z",
            "2026-12-03T08:41:00.2Z",
            "2026-12-03T08:41:00.25Z",
            "2026-12-03T08:41:00.2500Z",
            "2026-12-03T08:41:00.1234567891Z",
            "2026-12-03T08:41:00+01:00",
            "2026-12-03T08:41:00.250-05:30",
            "2026-12-03t08:41:00z",
            "2026-12-03 08:41:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-32T00:00:00Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T23:60:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "+10000-01-01T00:00:00Z",
            "2026-12-03T08:41:0xZ",
            "2026-12-03T08:41:00.25xZ",
            "2026-12-03X08:41:00Z",
            "2026-12-03T08:41:00",
            "",
            "not a time",
        ] {
            read_as_chrono(&format!(r#"{{"at":"{text}","maybe":"{text}"}}"#));
            read_as_chrono(&format!(r#"{{"at":"{text}","maybe":null}}"#));
        }
        read_as_chrono(r#"{"at":"2026-12-03T08:41:00Z"}"#);
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
