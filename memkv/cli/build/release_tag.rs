//! The release tag format, `RELEASE.YYYY-MM-DDTHH-MM-SSZ` (UTC).
//!
//! Used by the build script to reject a malformed `MEMKV_RELEASE_TAG`, and compiled into the
//! crate's unit tests (see `src/version.rs`) so the check itself is tested.

/// Checks `RELEASE.YYYY-MM-DDTHH-MM-SSZ` with real calendar and clock ranges.
pub(crate) fn validate_release_tag(tag: &str) -> Result<(), String> {
    let stamp = tag
        .strip_prefix("RELEASE.")
        .ok_or("it does not start with \"RELEASE.\"")?;
    let bytes = stamp.as_bytes();
    const SHAPE: &[u8] = b"dddd-dd-ddTdd-dd-ddZ";
    if bytes.len() != SHAPE.len() {
        return Err(format!(
            "the timestamp {stamp:?} has {} characters, expected {}",
            bytes.len(),
            SHAPE.len()
        ));
    }
    for (index, (&got, &want)) in bytes.iter().zip(SHAPE).enumerate() {
        let ok = if want == b'd' {
            got.is_ascii_digit()
        } else {
            got == want
        };
        if !ok {
            let expected = if want == b'd' {
                "a digit".to_owned()
            } else {
                format!("{:?}", char::from(want))
            };
            return Err(format!(
                "character {} of the timestamp {stamp:?} should be {expected}",
                index + 1
            ));
        }
    }
    let number = |range: std::ops::Range<usize>| -> u32 {
        stamp[range]
            .bytes()
            .fold(0, |acc, digit| acc * 10 + u32::from(digit - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is out of range"));
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(format!(
            "day {day:02} does not exist in month {month:02} of {year}"
        ));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "time {hour:02}-{minute:02}-{second:02} is not a valid UTC time of day"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_release_tag;

    #[test]
    fn accepts_well_formed_tags() {
        for tag in [
            "RELEASE.2026-06-07T15-11-42Z",
            "RELEASE.2026-05-12T19-07-44Z",
            "RELEASE.2024-02-29T00-00-00Z",
            "RELEASE.2026-12-31T23-59-59Z",
        ] {
            assert_eq!(validate_release_tag(tag), Ok(()), "{tag}");
        }
    }

    #[test]
    fn rejects_malformed_tags_saying_why() {
        for (tag, why) in [
            ("2026-06-07T15-11-42Z", "does not start with"),
            ("RELEASE.2026-06-07", "characters"),
            ("RELEASE.2026-06-07T15:11:42Z", "character 14"),
            ("RELEASE.2026-06-07t15-11-42Z", "character 11"),
            ("RELEASE.2026-13-07T15-11-42Z", "month 13"),
            ("RELEASE.2025-02-29T15-11-42Z", "day 29"),
            ("RELEASE.2026-04-31T15-11-42Z", "day 31"),
            ("RELEASE.2026-06-07T24-00-00Z", "time 24-00-00"),
            ("RELEASE.2026-06-07T15-60-00Z", "time 15-60-00"),
        ] {
            let err = validate_release_tag(tag).expect_err(tag);
            assert!(err.contains(why), "{tag}: {err:?} should mention {why:?}");
        }
    }
}
