//! Vendor time handling, in one place.
//!
//! Vendors write timestamps in many shapes; some carry no zone (RFC 3164 syslog, PAN-OS, ASA) and
//! some no year (RFC 3164). Zone-less times are read in the tenant's IANA zone; year-less times get
//! the year that puts them nearest to "now" (a 31 Dec line read on 1 Jan lands in the old year);
//! the zone abbreviations ASA writes into its headers (`UTC`, `CEST`, `EDT`, ...) are understood.

use chrono::{DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a time text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("unrecognised timestamp `{0}`")]
    Unrecognised(String),
    #[error("unknown time-zone abbreviation `{abbr}` in `{text}`")]
    UnknownZone { abbr: String, text: String },
    #[error("unknown IANA time zone `{0}` (use a name such as `Europe/Berlin` or `UTC`)")]
    UnknownIana(String),
}

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`).
pub fn parse_tz(name: &str) -> Result<Tz, TimeError> {
    name.parse::<Tz>().map_err(|_| TimeError::UnknownIana(name.to_string()))
}

/// Offset in seconds east of UTC for the zone abbreviations seen in vendor headers.
/// Ambiguous ones (`IST`, `CST`) take their most common network-device meaning.
pub fn zone_abbreviation_offset(abbr: &str) -> Option<i32> {
    let h = 3600;
    Some(match abbr.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "Z" | "UT" | "WET" => 0,
        "BST" | "WEST" | "CET" | "MET" => h,
        "CEST" | "MEST" | "EET" | "SAST" => 2 * h,
        "EEST" | "MSK" | "AST3" => 3 * h,
        "GST" => 4 * h,
        "PKT" => 5 * h,
        "IST" => 5 * h + 1800,
        "ICT" | "WIB" => 7 * h,
        "SGT" | "HKT" | "AWST" | "PHT" => 8 * h,
        "JST" | "KST" => 9 * h,
        "ACST" => 9 * h + 1800,
        "AEST" => 10 * h,
        "ACDT" => 10 * h + 1800,
        "AEDT" => 11 * h,
        "NZST" => 12 * h,
        "NZDT" => 13 * h,
        "AST" => -4 * h,
        "ADT" => -3 * h,
        "EST" => -5 * h,
        "EDT" => -4 * h,
        "CST" => -6 * h,
        "CDT" => -5 * h,
        "MST" => -7 * h,
        "MDT" => -6 * h,
        "PST" => -8 * h,
        "PDT" => -7 * h,
        "AKST" => -9 * h,
        "AKDT" => -8 * h,
        "HST" => -10 * h,
        "BRT" => -3 * h,
        "ART" => -3 * h,
        _ => return None,
    })
}

/// Converts a zone-less local time in `tz` to UTC. A time inside a spring-forward gap is read
/// as if the clock had already moved (02:30 -> 03:30); one in a fall-back overlap takes the
/// earlier instant.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => {
            let shifted = naive + Duration::hours(1);
            match tz.from_local_datetime(&shifted) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                // No zone has a two-hour gap; fall back to reading it as UTC.
                LocalResult::None => Utc.from_utc_datetime(&naive),
            }
        }
    }
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn month_from_abbr(s: &str) -> Option<u32> {
    let s = s.get(..3)?.to_ascii_lowercase();
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

fn parse_hms(s: &str) -> Option<(u32, u32, u32, u32)> {
    // HH:MM:SS[.fff...]
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let mut it = main.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let sec: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    let nanos = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let v: u32 = f.parse().ok()?;
            v * 10u32.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    Some((h, m, sec, nanos))
}

/// Picks the year for a year-less date so the result lies nearest to `now`.
fn infer_year(month: u32, day: u32, hms: (u32, u32, u32, u32), tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut best: Option<DateTime<Utc>> = None;
    for year in [now.year() - 1, now.year(), now.year() + 1] {
        let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else { continue };
        let Some(ndt) = date.and_hms_nano_opt(hms.0, hms.1, hms.2, hms.3) else { continue };
        let t = local_to_utc(ndt, tz);
        let better = match best {
            None => true,
            Some(b) => (t - now).num_seconds().abs() < (b - now).num_seconds().abs(),
        };
        if better {
            best = Some(t);
        }
    }
    best
}

/// Reads a vendor timestamp. `tz` is the tenant's zone, used when the text names none; `now`
/// decides the year of year-less syslog dates.
///
/// Understood: RFC 3339 / ISO 8601 with or without offset (`T` or space), `YYYY/MM/DD HH:MM:SS`
/// (PAN-OS), `Mmm dd HH:MM:SS` (RFC 3164), `Mmm dd YYYY HH:MM:SS` (ASA), either followed by a zone
/// abbreviation (`UTC`, `CEST`), ctime `Www Mmm dd HH:MM:SS YYYY` (Zscaler), and epoch seconds or
/// milliseconds.
pub fn parse_vendor_time(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    // Consecutive records mostly share their timestamp texts (one-second resolution at thousands
    // of records per second; PAN-OS rows carry three or four): remember the last few answers
    // per thread.
    const SLOTS: usize = 4;
    type Slot = Option<(String, Tz, DateTime<Utc>, DateTime<Utc>)>;
    thread_local! {
        static LAST: std::cell::RefCell<([Slot; SLOTS], usize)> = const { std::cell::RefCell::new(([None, None, None, None], 0)) };
    }
    let hit = LAST.with(|l| {
        l.borrow().0.iter().flatten().find(|(t, z, n, _)| *z == tz && *n == now && t == text).map(|s| s.3)
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let v = parse_vendor_time_uncached(text, tz, now)?;
    LAST.with(|l| {
        let (slots, next) = &mut *l.borrow_mut();
        match &mut slots[*next] {
            Some((t, z, n, val)) => {
                t.clear();
                t.push_str(text);
                (*z, *n, *val) = (tz, now, v);
            }
            slot @ None => *slot = Some((text.to_string(), tz, now, v)),
        }
        *next = (*next + 1) % SLOTS;
    });
    Ok(v)
}

fn parse_vendor_time_uncached(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let t = text.trim().trim_end_matches(':').trim();
    let unrecognised = || TimeError::Unrecognised(text.to_string());
    if t.is_empty() {
        return Err(unrecognised());
    }
    // Epoch seconds / milliseconds.
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = t.parse().map_err(|_| unrecognised())?;
        return match t.len() {
            9 | 10 => Utc.timestamp_opt(v, 0).single().ok_or_else(unrecognised),
            12 | 13 => Utc.timestamp_millis_opt(v).single().ok_or_else(unrecognised),
            _ => Err(unrecognised()),
        };
    }
    let first = t.as_bytes()[0];
    if first.is_ascii_digit() {
        return parse_numeric_date(t, tz).ok_or_else(unrecognised);
    }
    // Month-name forms, possibly led by a weekday (ctime).
    let mut parts: Vec<&str> = t.split_whitespace().collect();
    if parts.len() >= 4 && month_from_abbr(parts[0]).is_none() && month_from_abbr(parts[1]).is_some() {
        parts.remove(0); // weekday
    }
    if parts.len() < 3 {
        return Err(unrecognised());
    }
    let month = month_from_abbr(parts[0]).filter(|_| parts[0].len() == 3).ok_or_else(unrecognised)?;
    let day: u32 = parts[1].parse().map_err(|_| unrecognised())?;
    // Mmm dd HH:MM:SS [YYYY] [ZONE]  or  Mmm dd YYYY HH:MM:SS [ZONE]
    let (year, hms, rest) = if let Some(hms) = parse_hms(parts[2]) {
        match parts.get(3).and_then(|y| y.parse::<i32>().ok().filter(|_| y.len() == 4)) {
            Some(y) => (Some(y), hms, &parts[4..]),
            None => (None, hms, &parts[3..]),
        }
    } else {
        let y: i32 = parts[2].parse().map_err(|_| unrecognised())?;
        let hms = parts.get(3).and_then(|s| parse_hms(s)).ok_or_else(unrecognised)?;
        (Some(y), hms, &parts[4..])
    };
    let offset = match rest {
        [] => None,
        [zone] => Some(zone_abbreviation_offset(zone).ok_or_else(|| TimeError::UnknownZone {
            abbr: zone.to_string(),
            text: text.to_string(),
        })?),
        _ => return Err(unrecognised()),
    };
    match (year, offset) {
        (Some(y), off) => {
            let ndt = NaiveDate::from_ymd_opt(y, month, day)
                .and_then(|d| d.and_hms_nano_opt(hms.0, hms.1, hms.2, hms.3))
                .ok_or_else(unrecognised)?;
            Ok(match off {
                Some(o) => fixed(o).from_local_datetime(&ndt).single().ok_or_else(unrecognised)?.with_timezone(&Utc),
                None => local_to_utc(ndt, tz),
            })
        }
        (None, Some(o)) => {
            // Year-less but with an explicit zone: infer the year in UTC terms, then shift.
            let guess = infer_year(month, day, hms, chrono_tz::UTC, now).ok_or_else(unrecognised)?;
            Ok(guess - Duration::seconds(o as i64))
        }
        (None, None) => infer_year(month, day, hms, tz, now).ok_or_else(unrecognised),
    }
}

fn fixed(secs: i32) -> FixedOffset {
    FixedOffset::east_opt(secs).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"))
}

/// `t` minus `ms` milliseconds; `None` when that leaves chrono's range (vendor durations are
/// untrusted input).
pub fn before(t: DateTime<Utc>, ms: u64) -> Option<DateTime<Utc>> {
    t.checked_sub_signed(Duration::try_milliseconds(i64::try_from(ms).ok()?)?)
}

/// `t` plus `ms` milliseconds, or `None` out of range.
pub fn after(t: DateTime<Utc>, ms: u64) -> Option<DateTime<Utc>> {
    t.checked_add_signed(Duration::try_milliseconds(i64::try_from(ms).ok()?)?)
}

/// The common numeric shapes without format-string parsing:
/// `YYYY-MM-DD[T ]HH:MM:SS[.f]` or with `/` date separators, then nothing, `Z` or `±HH:MM`.
/// `None` when the text has any other shape (the general path handles it).
fn fast_numeric(t: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let b = t.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let d = |i: usize| -> Option<u32> { b.get(i).filter(|c| c.is_ascii_digit()).map(|c| (c - b'0') as u32) };
    let n2 = |i: usize| -> Option<u32> { Some(d(i)? * 10 + d(i + 1)?) };
    let sep = b[4];
    if !(sep == b'-' || sep == b'/') || b[7] != sep || !(b[10] == b'T' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = (n2(0)? * 100 + n2(2)?) as i32;
    let (month, day, h, m, sec) = (n2(5)?, n2(8)?, n2(11)?, n2(14)?, n2(17)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(v) = d(i) {
            if i - start < 9 {
                nanos = nanos * 10 + v;
            }
            i += 1;
        }
        let digits = (i - start).min(9);
        if digits == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - digits as u32);
    }
    let offset = match &b[i..] {
        [] => None,
        [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let v = (n2(i + 1)? * 3600 + n2(i + 4)? * 60) as i32;
            Some(if *sign == b'-' { -v } else { v })
        }
        _ => return None,
    };
    let ndt = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(h, m, sec, nanos)?;
    Some((ndt, offset))
}

fn parse_numeric_date(t: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Some((ndt, offset)) = fast_numeric(t) {
        return Some(match offset {
            Some(o) => fixed(o).from_local_datetime(&ndt).single()?.with_timezone(&Utc),
            None => local_to_utc(ndt, tz),
        });
    }
    // With an explicit offset or Z: RFC 3339 (also with a space instead of T).
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    let spaced = t.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&spaced) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y/%m/%dT%H:%M:%S%.f%:z", "%Y/%m/%dT%H:%M:%S%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(&spaced, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    // Zone-less.
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%dT%H:%M:%S%.f", "%Y/%m/%dT%H:%M:%S"] {
        if let Ok(ndt) = NaiveDateTime::parse_from_str(&spaced, fmt) {
            return Some(local_to_utc(ndt, tz));
        }
    }
    // Zone abbreviation after a numeric date: "2024-05-01 10:00:00 UTC".
    if let Some((head, zone)) = t.rsplit_once(' ') {
        if let Some(off) = zone_abbreviation_offset(zone) {
            let head = head.replacen(' ', "T", 1);
            for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%dT%H:%M:%S"] {
                if let Ok(ndt) = NaiveDateTime::parse_from_str(&head, fmt) {
                    return fixed(off).from_local_datetime(&ndt).single().map(|d| d.with_timezone(&Utc));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn zone_less_times_use_the_tenant_zone() {
        let now = utc("2024-06-01T00:00:00Z");
        // CEST = UTC+2 in June.
        assert_eq!(parse_vendor_time("2024/05/01 10:00:00", BERLIN, now).unwrap(), utc("2024-05-01T08:00:00Z"));
        assert_eq!(parse_vendor_time("2024-01-15T10:00:00", BERLIN, now).unwrap(), utc("2024-01-15T09:00:00Z"));
        assert_eq!(parse_vendor_time("2024-01-15 10:00:00.250", chrono_tz::UTC, now).unwrap(), utc("2024-01-15T10:00:00.25Z"));
    }

    #[test]
    fn fast_numeric_path_agrees_with_the_general_one() {
        let now = utc("2024-06-01T00:00:00Z");
        for (text, tz) in [
            ("2024-06-05T08:00:00.762+00:00", chrono_tz::UTC),
            ("2024-06-05T08:00:00.762-07:30", BERLIN),
            ("2024/06/05 07:59:58", BERLIN),
            ("2024/03/31 02:30:00", BERLIN),
            ("2024-01-15T10:00:00.123456789Z", BERLIN),
            ("2024-01-15 10:00:00.5", chrono_tz::UTC),
        ] {
            let (ndt, off) = fast_numeric(text).unwrap_or_else(|| panic!("fast path refused {text}"));
            let fast = match off {
                Some(o) => fixed(o).from_local_datetime(&ndt).single().unwrap().with_timezone(&Utc),
                None => local_to_utc(ndt, tz),
            };
            let general = {
                let spaced = text.replacen(' ', "T", 1).replace('/', "-");
                DateTime::parse_from_rfc3339(&spaced).map(|d| d.with_timezone(&Utc)).unwrap_or_else(|_| {
                    local_to_utc(NaiveDateTime::parse_from_str(&spaced, "%Y-%m-%dT%H:%M:%S%.f").unwrap(), tz)
                })
            };
            assert_eq!(fast, general, "{text}");
            assert_eq!(parse_vendor_time(text, tz, now).unwrap(), general, "{text}");
        }
        for odd in ["2024-06-05T08:00:00.", "2024-06-05T08:00:00+0100", "2024-13-05T08:00:00", "2024-06-05T08:00:00 UTC", "2024-06-05"] {
            assert!(fast_numeric(odd).is_none(), "{odd}");
        }
    }

    #[test]
    fn explicit_offsets_win_over_the_tenant_zone() {
        let now = utc("2024-06-01T00:00:00Z");
        assert_eq!(parse_vendor_time("2024-05-01T10:00:00.123-07:00", BERLIN, now).unwrap(), utc("2024-05-01T17:00:00.123Z"));
        assert_eq!(parse_vendor_time("2024-05-01T10:00:00Z", BERLIN, now).unwrap(), utc("2024-05-01T10:00:00Z"));
    }

    #[test]
    fn year_less_syslog_dates_land_nearest_to_now() {
        // A 31 Dec line read on 1 Jan belongs to the old year.
        let now = utc("2025-01-01T00:10:00Z");
        assert_eq!(parse_vendor_time("Dec 31 23:59:00", chrono_tz::UTC, now).unwrap(), utc("2024-12-31T23:59:00Z"));
        // A 1 Jan line read on 31 Dec (clock skew) belongs to the new year.
        let now = utc("2024-12-31T23:59:00Z");
        assert_eq!(parse_vendor_time("Jan  1 00:01:00", chrono_tz::UTC, now).unwrap(), utc("2025-01-01T00:01:00Z"));
        // Ordinary case, in the tenant zone.
        let now = utc("2024-03-10T12:00:00Z");
        assert_eq!(parse_vendor_time("Mar 10 10:00:00", BERLIN, now).unwrap(), utc("2024-03-10T09:00:00Z"));
    }

    #[test]
    fn asa_headers_with_year_and_zone_abbreviation() {
        let now = utc("2024-06-01T00:00:00Z");
        assert_eq!(parse_vendor_time("Jun 22 2024 12:00:00 CEST", chrono_tz::UTC, now).unwrap(), utc("2024-06-22T10:00:00Z"));
        assert_eq!(parse_vendor_time("Apr 30 2013 09:22:33 EDT:", chrono_tz::UTC, now).unwrap(), utc("2013-04-30T13:22:33Z"));
        assert_eq!(parse_vendor_time("Jan 05 2024 01:02:03 UTC", BERLIN, now).unwrap(), utc("2024-01-05T01:02:03Z"));
        assert_eq!(parse_vendor_time("Jan 05 2024 01:02:03", BERLIN, now).unwrap(), utc("2024-01-05T00:02:03Z"));
        assert_eq!(parse_vendor_time("Mar 10 10:00:00 PST", BERLIN, utc("2024-03-09T00:00:00Z")).unwrap(), utc("2024-03-10T18:00:00Z"));
        let err = parse_vendor_time("Jan 05 2024 01:02:03 XYZT", BERLIN, now).unwrap_err();
        assert!(matches!(err, TimeError::UnknownZone { ref abbr, .. } if abbr == "XYZT"), "{err}");
    }

    #[test]
    fn ctime_and_epoch_forms() {
        let now = utc("2022-06-21T00:00:00Z");
        assert_eq!(parse_vendor_time("Mon Jun 20 15:29:11 2022", chrono_tz::UTC, now).unwrap(), utc("2022-06-20T15:29:11Z"));
        assert_eq!(parse_vendor_time("Mon Jun  6 15:29:11 2022", chrono_tz::UTC, now).unwrap(), utc("2022-06-06T15:29:11Z"));
        assert_eq!(parse_vendor_time("1700000000", chrono_tz::UTC, now).unwrap(), utc("2023-11-14T22:13:20Z"));
        assert_eq!(parse_vendor_time("1700000000123", chrono_tz::UTC, now).unwrap(), utc("2023-11-14T22:13:20.123Z"));
    }

    #[test]
    fn dst_gap_and_overlap_are_resolved_deterministically() {
        let now = utc("2024-03-31T12:00:00Z");
        // 02:30 does not exist in Berlin on 2024-03-31: read as 03:30 CEST = 01:30Z.
        assert_eq!(parse_vendor_time("2024-03-31 02:30:00", BERLIN, now).unwrap(), utc("2024-03-31T01:30:00Z"));
        // 02:30 happens twice on 2024-10-27: the earlier (CEST) instant.
        assert_eq!(parse_vendor_time("2024-10-27 02:30:00", BERLIN, now).unwrap(), utc("2024-10-27T00:30:00Z"));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let now = utc("2024-06-01T00:00:00Z");
        for bad in ["", "yesterday", "Foo 12 10:00:00", "2024-13-01 00:00:00", "Jun 31 10:00:00 2024"] {
            assert!(parse_vendor_time(bad, BERLIN, now).is_err(), "{bad} should fail");
        }
        assert!(matches!(parse_tz("Mars/Olympus"), Err(TimeError::UnknownIana(_))));
    }
}
