//! Release tags (`RELEASE.YYYY-MM-DDTHH-MM-SSZ`, UTC) and the versions and dates derived from them.
//!
//! A release is named by the UTC second it was cut. Everything else is derived from that one
//! instant: the package version (`YYYYMMDDHHMMSS.0.0`), the `SOURCE_DATE_EPOCH` default, the
//! file times inside packages and image layers, and the dates in the notes and changelogs.

use std::fmt;

use anyhow::{Context, Result, bail};

/// A validated release tag and the instant it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReleaseTag {
    epoch: i64,
    civil: Civil,
}

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl ReleaseTag {
    /// Parses and validates `RELEASE.YYYY-MM-DDTHH-MM-SSZ` (real calendar and clock ranges).
    pub(crate) fn parse(tag: &str) -> Result<Self> {
        let why = |what: &str| {
            format!(
                "{tag:?} is not a release tag: {what}; expected RELEASE.YYYY-MM-DDTHH-MM-SSZ (UTC), \
                 e.g. RELEASE.2026-06-07T15-11-42Z"
            )
        };
        let stamp = tag
            .strip_prefix("RELEASE.")
            .with_context(|| why("it does not start with \"RELEASE.\""))?;
        const SHAPE: &[u8] = b"dddd-dd-ddTdd-dd-ddZ";
        let bytes = stamp.as_bytes();
        let shaped = bytes.len() == SHAPE.len()
            && bytes.iter().zip(SHAPE).all(|(&got, &want)| {
                if want == b'd' {
                    got.is_ascii_digit()
                } else {
                    got == want
                }
            });
        if !shaped {
            bail!(why("the timestamp is not shaped YYYY-MM-DDTHH-MM-SSZ"));
        }
        let number = |from: usize, to: usize| -> u32 {
            stamp[from..to]
                .bytes()
                .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
        };
        let civil = Civil {
            year: i64::from(number(0, 4)),
            month: number(5, 7),
            day: number(8, 10),
            hour: number(11, 13),
            minute: number(14, 16),
            second: number(17, 19),
        };
        if !(1..=12).contains(&civil.month)
            || civil.day == 0
            || civil.day > days_in_month(civil.year, civil.month)
        {
            bail!(why("the date does not exist"));
        }
        if civil.hour > 23 || civil.minute > 59 || civil.second > 59 {
            bail!(why("the time of day is out of range"));
        }
        if civil.year < 1980 {
            bail!(why(
                "the year is before 1980 (zip and some package formats cannot say it)"
            ));
        }
        let epoch = days_from_civil(civil.year, civil.month, civil.day) * 86_400
            + i64::from(civil.hour * 3600 + civil.minute * 60 + civil.second);
        Ok(Self { epoch, civil })
    }

    /// The tag naming the given UTC instant (seconds since the Unix epoch).
    pub(crate) fn from_epoch(epoch: i64) -> Result<Self> {
        let days = epoch.div_euclid(86_400);
        let secs = epoch.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let civil = Civil {
            year,
            month,
            day,
            hour: u32::try_from(secs / 3600).context("hour out of range")?,
            minute: u32::try_from(secs % 3600 / 60).context("minute out of range")?,
            second: u32::try_from(secs % 60).context("second out of range")?,
        };
        let tag = Self { epoch, civil };
        // Round-trip through the parser so both constructors enforce the same rules.
        Self::parse(&tag.to_string())
    }

    /// The tag for the current second.
    pub(crate) fn now() -> Result<Self> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?;
        Self::from_epoch(i64::try_from(now.as_secs()).context("the system clock is too far ahead")?)
    }

    /// Seconds since the Unix epoch.
    pub(crate) fn epoch(&self) -> i64 {
        self.epoch
    }

    /// `YYYYMMDDHHMMSS.0.0`, the version every package format carries.
    pub(crate) fn package_version(&self) -> String {
        let c = self.civil;
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}.0.0",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }

    /// `YYYY-MM-DD`.
    pub(crate) fn date(&self) -> String {
        let c = self.civil;
        format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
    }

    /// RFC 2822 as Debian changelogs write it, e.g. `Sun, 07 Jun 2026 15:11:42 +0000`.
    pub(crate) fn rfc2822(&self) -> String {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let c = self.civil;
        let weekday = WEEKDAYS
            [usize::try_from(self.epoch.div_euclid(86_400).rem_euclid(7)).unwrap_or_default()];
        let month = MONTHS[usize::try_from(c.month - 1).unwrap_or_default()];
        format!(
            "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} +0000",
            c.day, c.year, c.hour, c.minute, c.second
        )
    }
}

impl fmt::Display for ReleaseTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil;
        write!(
            f,
            "RELEASE.{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

/// RFC 3339 (UTC, seconds) for an epoch time.
pub(crate) fn rfc3339(epoch: i64) -> String {
    let (year, month, day) = civil_from_days(epoch.div_euclid(86_400));
    let secs = epoch.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::ReleaseTag;

    #[test]
    fn seed_tag_round_trips_and_derives_versions() {
        let tag = ReleaseTag::parse("RELEASE.2026-06-07T15-11-42Z").expect("valid tag");
        assert_eq!(tag.to_string(), "RELEASE.2026-06-07T15-11-42Z");
        assert_eq!(tag.epoch(), 1_780_845_102);
        assert_eq!(tag.package_version(), "20260607151142.0.0");
        assert_eq!(tag.date(), "2026-06-07");
        assert_eq!(super::rfc3339(tag.epoch()), "2026-06-07T15:11:42Z");
        assert_eq!(tag.rfc2822(), "Sun, 07 Jun 2026 15:11:42 +0000");
        assert_eq!(ReleaseTag::from_epoch(tag.epoch()).expect("epoch"), tag);
    }

    #[test]
    fn leap_days_and_epoch_boundaries() {
        let leap = ReleaseTag::parse("RELEASE.2028-02-29T00-00-00Z").expect("leap day");
        assert_eq!(leap.rfc2822(), "Tue, 29 Feb 2028 00:00:00 +0000");
        assert_eq!(ReleaseTag::from_epoch(leap.epoch()).expect("epoch"), leap);
        assert!(ReleaseTag::parse("RELEASE.2027-02-29T00-00-00Z").is_err());
    }

    #[test]
    fn malformed_tags_are_rejected() {
        for bad in [
            "",
            "2026-06-07T15-11-42Z",
            "RELEASE.2026-06-07T15:11:42Z",
            "RELEASE.2026-13-07T15-11-42Z",
            "RELEASE.2026-06-31T15-11-42Z",
            "RELEASE.2026-06-07T24-11-42Z",
            "RELEASE.2026-06-07T15-60-42Z",
            "RELEASE.2026-06-07T15-11-42",
            "RELEASE.1970-01-01T00-00-00Z",
        ] {
            assert!(ReleaseTag::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
