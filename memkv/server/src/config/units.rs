//! Human-readable sizes (`4 KiB`, `1.5 GiB`, `64MB`) and durations (`500ms`, `30s`, `5m`, `1h`)
//! used by the server config file: parsing, formatting, and their error type.
//!
//! Sizes: a number, optional spaces, then an optional unit. Without a unit the number is a count
//! of bytes. Binary units are powers of 1024: `B`, `KiB`, `MiB`, `GiB`, `TiB`. Decimal units are
//! powers of 1000: `KB` (or `kB`), `MB`, `GB`, `TB`. Units are case-sensitive. The number may
//! have a fractional part (`1.5 GiB`); the result is rounded down to a whole byte.
//!
//! Durations: a whole number immediately or space-separated followed by one unit: `ms`, `s`,
//! `m` or `h`. A bare number is rejected, because `30` could mean seconds or milliseconds.

use std::fmt;
use std::time::Duration;

/// Why a size or duration string could not be parsed. The `Display` text quotes the input and
/// shows valid examples, so it can be put in front of a user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text is not a number followed by a known size unit.
    #[error("`{input}` is not a size (use e.g. `512 MiB`, `64 GiB`)")]
    NotASize {
        /// The text as written.
        input: String,
    },
    /// The size does not fit in 64 bits.
    #[error("`{input}` is too large (the largest size is 16 EiB)")]
    SizeTooLarge {
        /// The text as written.
        input: String,
    },
    /// The text is not a whole number followed by a known duration unit.
    #[error("`{input}` is not a duration (use e.g. `500ms`, `30s`, `5m`, `1h`)")]
    NotADuration {
        /// The text as written.
        input: String,
    },
    /// A bare number was given where a duration needs a unit.
    #[error(
        "`{input}` has no unit (use e.g. `{input}s` for seconds or `{input}ms` for milliseconds)"
    )]
    DurationWithoutUnit {
        /// The text as written.
        input: String,
    },
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// The size units this parser accepts, with their multipliers.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", KIB),
    ("MiB", MIB),
    ("GiB", GIB),
    ("TiB", TIB),
    ("KB", 1_000),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
];

/// Most fractional digits a size may have; more than this cannot change the byte count of any
/// representable unit meaningfully and keeps the arithmetic in range.
const MAX_FRACTION_DIGITS: usize = 12;

/// Parses a human size such as `4096`, `4 KiB`, `64KiB`, `1.5 GiB` or `10 GB` into bytes.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let not_a_size = || UnitError::NotASize {
        input: input.to_owned(),
    };
    let text = input.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let unit = unit.trim_start();
    let multiplier = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, m)| m)
            .ok_or_else(not_a_size)?
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits_ok(whole)
        || !digits_ok(fraction)
        || (number.contains('.') && fraction.is_empty())
        || fraction.len() > MAX_FRACTION_DIGITS
    {
        return Err(not_a_size());
    }
    let too_large = || UnitError::SizeTooLarge {
        input: input.to_owned(),
    };
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let mut bytes = whole
        .checked_mul(u128::from(multiplier))
        .ok_or_else(too_large)?;
    if !fraction.is_empty() {
        // fraction has at most 12 digits, so both factors stay far below u128::MAX.
        let numerator: u128 = fraction.parse().map_err(|_| not_a_size())?;
        let denominator = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| not_a_size())?);
        bytes += numerator * u128::from(multiplier) / denominator;
    }
    u64::try_from(bytes).map_err(|_| too_large())
}

/// Formats a byte count with the largest binary unit that divides it exactly (`64 MiB`,
/// `1536 KiB`, `4097 B`); the output parses back to the same value with [`parse_size`].
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)];
    if bytes == 0 {
        return "0 B".to_owned();
    }
    for (name, unit) in UNITS {
        if bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} B")
}

/// The duration units this parser accepts, with their length in milliseconds.
const DURATION_UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// Parses a human duration such as `500ms`, `30s`, `5m`, `1h` or `0s`.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let text = input.trim();
    let number_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(UnitError::NotADuration {
            input: input.to_owned(),
        });
    }
    if unit.is_empty() {
        return Err(UnitError::DurationWithoutUnit {
            input: text.to_owned(),
        });
    }
    let not_a_duration = || UnitError::NotADuration {
        input: input.to_owned(),
    };
    let millis_per_unit = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, ms)| ms)
        .ok_or_else(not_a_duration)?;
    let count: u64 = number.parse().map_err(|_| not_a_duration())?;
    let millis = count
        .checked_mul(millis_per_unit)
        .ok_or_else(not_a_duration)?;
    Ok(Duration::from_millis(millis))
}

/// Formats a duration with the largest unit that divides it exactly (`5m`, `90s`, `1500ms`);
/// the output parses back with [`parse_duration`] for whole milliseconds.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    for &(name, unit) in DURATION_UNITS.iter().rev() {
        let unit = u128::from(unit);
        if millis.is_multiple_of(unit) {
            return format!("{}{name}", millis / unit);
        }
    }
    format!("{millis}ms")
}

/// A byte count that prints as a human size, for log lines and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_documented_form() {
        let cases: &[(&str, u64)] = &[
            ("4096", 4096),
            ("0", 0),
            ("4096 B", 4096),
            ("4 KiB", 4 * KIB),
            ("64KiB", 64 * KIB),
            ("2 MiB", 2 * MIB),
            ("247 GiB", 247 * GIB),
            ("1.5 GiB", 3 * GIB / 2),
            ("2 TiB", 2 * TIB),
            ("10 KB", 10_000),
            ("10 kB", 10_000),
            ("3 MB", 3_000_000),
            ("2GB", 2_000_000_000),
            ("1 TB", 1_000_000_000_000),
            ("  8 MiB  ", 8 * MIB),
            ("0.5 KiB", 512),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "parsing {text:?}");
        }
    }

    #[test]
    fn fractional_sizes_round_down_to_whole_bytes() {
        assert_eq!(parse_size("0.1 KiB"), Ok(102));
        assert_eq!(parse_size("1.1 GiB"), Ok(1_181_116_006));
    }

    #[test]
    fn bad_sizes_are_rejected_with_the_input_quoted() {
        for text in [
            "",
            "MiB",
            "12 parsecs",
            "1.5.2 GiB",
            "-4 KiB",
            "4 mib",
            "4 Ki",
            "1. GiB",
            ".5 GiB",
            "4 KiB extra",
            "1,024",
        ] {
            assert_eq!(
                parse_size(text),
                Err(UnitError::NotASize {
                    input: text.to_owned()
                }),
                "parsing {text:?}"
            );
        }
        let message = parse_size("12 parsecs").unwrap_err().to_string();
        assert_eq!(
            message,
            "`12 parsecs` is not a size (use e.g. `512 MiB`, `64 GiB`)"
        );
    }

    #[test]
    fn sizes_past_64_bits_are_too_large() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(UnitError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            parse_size("20000000 TiB"),
            Err(UnitError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            parse_size("99999999999999999999999999999999999999999 B"),
            Err(UnitError::SizeTooLarge { .. })
        ));
    }

    #[test]
    fn formatted_sizes_round_trip() {
        for bytes in [
            0,
            1,
            1023,
            1024,
            1536,
            2 * MIB,
            64 * MIB,
            247 * GIB,
            3 * TIB,
            u64::MAX,
        ] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert_eq!(format_size(64 * MIB), "64 MiB");
        assert_eq!(format_size(1536), "1536 B");
        assert_eq!(HumanSize(2 * GIB).to_string(), "2 GiB");
    }

    #[test]
    fn durations_in_every_documented_form() {
        let cases: &[(&str, Duration)] = &[
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("0s", Duration::ZERO),
            ("10 s", Duration::from_secs(10)),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "parsing {text:?}");
        }
    }

    #[test]
    fn bad_durations_are_rejected() {
        for text in ["", "s", "5 minutes", "1.5s", "-1s", "5M", "1d", "30s5"] {
            assert_eq!(
                parse_duration(text),
                Err(UnitError::NotADuration {
                    input: text.to_owned()
                }),
                "parsing {text:?}"
            );
        }
        assert_eq!(
            parse_duration("30"),
            Err(UnitError::DurationWithoutUnit {
                input: "30".to_owned()
            })
        );
        assert!(matches!(
            parse_duration("99999999999999999999h"),
            Err(UnitError::NotADuration { .. })
        ));
    }

    #[test]
    fn formatted_durations_round_trip() {
        for millis in [
            0, 1, 500, 1000, 1500, 30_000, 90_000, 300_000, 3_600_000, 5_400_000,
        ] {
            let d = Duration::from_millis(millis);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{millis}ms");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
