//! The syslog header in front of `%ASA-…`/`%FTD-…` messages (cisco.md §2): optional `<PRI>`,
//! RFC 3164 / RFC 5424 / ISO / ASA timestamps (with or without year and zone), host, program
//! tag, facility text, then `%PREFIX[-class]-severity-msgid[:]`.

use std::borrow::Cow;

use smallvec::SmallVec;

/// The parsed header, borrowing from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub pri: Option<u8>,
    /// The device timestamp text, as written (the last one when there are two); its parts
    /// joined by single spaces when the device padded them (`May  5`).
    pub timestamp: Option<Cow<'a, str>>,
    pub host: Option<&'a str>,
    /// `ASA`, `FTD`, `NGIPS`, `FWSM`, `PIX`.
    pub product: &'a str,
    pub class: Option<&'a str>,
    pub severity: u8,
    pub msgid: u32,
    /// The message after `%…-msgid:`.
    pub body: &'a str,
}

// `%FDT-` appears in Elastic's FTD fixtures from a real device; treated as `%FTD-`.
const PREFIXES: [&str; 6] = ["%ASA-", "%FTD-", "%NGIPS-", "%FWSM-", "%PIX-", "%FDT-"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn is_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 8 && b[2] == b':' && b[5] == b':' && b[..2].iter().all(u8::is_ascii_digit)
}
fn is_year(t: &str) -> bool {
    t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit())
}
fn is_iso(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && (b[10] == b'T' || b[10] == b' ') && b[..4].iter().all(u8::is_ascii_digit)
}

/// `parts` (consecutive tokens of `head`) joined by single spaces: borrowed from `head` when
/// they already are, as in nearly every line; owned when the device padded them (`May  5`).
fn join_in_place<'a>(head: &'a str, parts: &[&'a str]) -> Cow<'a, str> {
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    let start = first.as_ptr() as usize - head.as_ptr() as usize;
    let end = last.as_ptr() as usize - head.as_ptr() as usize + last.len();
    let span = &head[start..end];
    let joined_len = parts.iter().map(|p| p.len()).sum::<usize>() + parts.len() - 1;
    if span.len() == joined_len && !span.bytes().any(|b| b != b' ' && b.is_ascii_whitespace()) {
        Cow::Borrowed(span)
    } else {
        Cow::Owned(parts.join(" "))
    }
}

/// Finds the `%PREFIX-` marker and splits the line there.
fn find_marker(line: &str) -> Option<(usize, &'static str)> {
    let b = line.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'%', &b[from..]) {
        let at = from + i;
        if let Some(p) = PREFIXES.iter().find(|p| b[at..].starts_with(p.as_bytes())) {
            return Some((at, p));
        }
        from = at + 1;
    }
    None
}

/// Parses the header; `None` when the line has no Cisco message marker.
pub fn parse(line: &str) -> Option<Header<'_>> {
    let (at, prefix) = find_marker(line)?;
    let after = &line[at + prefix.len()..];
    let product = match &prefix[1..prefix.len() - 1] {
        "FDT" => "FTD",
        p => p,
    };
    // `[class-]severity-msgid` up to `:` or whitespace.
    let tag_end = after.bytes().position(|c| c == b':' || c == b' ').unwrap_or(after.len());
    let tag = &after[..tag_end];
    let mut parts = tag.rsplitn(3, '-');
    let msgid: u32 = parts.next()?.parse().ok()?;
    let severity: u8 = parts.next()?.parse().ok().filter(|s: &u8| *s <= 7)?;
    let class = parts.next();
    let body = after[tag_end..].trim_start_matches(':').trim_start();

    // Everything before the marker: PRI, timestamps, host, program, facility text.
    let mut head = &line[..at];
    let mut pri = None;
    if let Some(rest) = head.strip_prefix('<') {
        if let Some((n, r)) = rest.split_once('>') {
            if let Ok(v) = n.parse::<u8>() {
                pri = Some(v);
                head = r;
                // RFC 5424: version digit after PRI.
                if let Some(r2) = head.strip_prefix("1 ") {
                    head = r2;
                }
            }
        }
    }
    let (timestamp, host) = match bsd_head(head) {
        Some((t, h)) => (Some(t), Some(h)),
        None => general_head(head),
    };
    Some(Header { pri, timestamp, host, product, class, severity, msgid, body })
}

/// One of [`MONTHS`], compared as three bytes.
fn is_month(m: &[u8]) -> bool {
    matches!(m, b"Jan" | b"Feb" | b"Mar" | b"Apr" | b"May" | b"Jun" | b"Jul" | b"Aug" | b"Sep" | b"Oct" | b"Nov" | b"Dec")
}

/// The header nearly every ASA writes, `Jun  5 08:00:00 fw-1 : ` (a year after the day, or none),
/// read in one pass; `None` for anything else, which [`general_head`] reads. It gives exactly what
/// that would, so it turns down every host the general reading could take for something else (a
/// year, a zone, facility text, a program tag).
fn bsd_head(head: &str) -> Option<(Cow<'_, str>, &str)> {
    let b = head.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 17 || b[3] != b' ' || !is_month(&b[..3]) {
        return None;
    }
    // The day, one or two digits, maybe padded with a second space.
    let padded = b[4] == b' ';
    let (day_start, day_end) = match (padded, b[5]) {
        (true, _) => (5, 6),
        (false, b' ') => (4, 5),
        (false, _) => (4, 6),
    };
    if !digits(day_start..day_end) || b.get(day_end) != Some(&b' ') {
        return None;
    }
    let mut p = day_end + 1;
    if digits(p..p + 4) && b.get(p + 4) == Some(&b' ') {
        p += 5;
    }
    let time_ok = digits(p..p + 2) && b.get(p + 2) == Some(&b':') && digits(p + 3..p + 5) && b.get(p + 5) == Some(&b':') && digits(p + 6..p + 8);
    if !time_ok || b.get(p + 8) != Some(&b' ') {
        return None;
    }
    let stamp_end = p + 8;
    let rest = &head[stamp_end + 1..];
    let host_end = rest.find([' ', ':']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    let hb = host.as_bytes();
    let plain = !hb.is_empty() && hb.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    let upper = hb.iter().any(u8::is_ascii_uppercase);
    let year = hb.len() == 4 && hb.iter().all(u8::is_ascii_digit);
    let zone_like = hb.len() <= 5 && hb.iter().all(u8::is_ascii_uppercase);
    let facility_like = upper && host.contains('.');
    let word = MONTHS.contains(&host) || DAYS.contains(&host);
    if !plain || host == "-" || year || zone_like || facility_like || word || is_iso(host) || !matches!(tail, " : " | ": " | " ") {
        return None;
    }
    let stamp = &head[..stamp_end];
    let stamp = if padded {
        let mut joined = String::with_capacity(stamp.len() - 1);
        joined.push_str(&stamp[..4]);
        joined.push_str(&stamp[5..]);
        Cow::Owned(joined)
    } else {
        Cow::Borrowed(stamp)
    };
    Some((stamp, host))
}

/// The timestamp and host of any header [`parse`] accepts, token by token.
fn general_head(head: &str) -> (Option<Cow<'_, str>>, Option<&str>) {
    // On the stack: a header has a handful of tokens.
    let toks: SmallVec<[&str; 16]> = head.split_whitespace().map(|t| t.trim_end_matches(':')).filter(|t| !t.is_empty()).collect();
    let mut used: SmallVec<[bool; 16]> = smallvec::smallvec![false; toks.len()];
    let mut timestamp = None;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if is_iso(t) {
            timestamp = Some(Cow::Borrowed(t));
            used[i] = true;
            i += 1;
            continue;
        }
        let mut j = i;
        if DAYS.contains(&t) && toks.get(i + 1).is_some_and(|m| MONTHS.contains(m)) {
            j += 1;
        }
        if MONTHS.contains(&toks[j]) && toks.get(j + 1).is_some_and(|d| d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit())) {
            let mut k = j + 2;
            let mut parts: SmallVec<[&str; 6]> = smallvec::smallvec![toks[j], toks[j + 1]];
            if toks.get(k).is_some_and(|y| is_year(y)) && toks.get(k + 1).is_some_and(|t| is_time(t)) {
                parts.push(toks[k]);
                parts.push(toks[k + 1]);
                k += 2;
            } else if toks.get(k).is_some_and(|t| is_time(t)) {
                parts.push(toks[k]);
                k += 1;
                if toks.get(k).is_some_and(|y| is_year(y)) {
                    parts.push(toks[k]);
                    k += 1;
                }
            } else {
                i += 1;
                continue;
            }
            if toks.get(k).is_some_and(|z| z.len() <= 5 && z.chars().all(|c| c.is_ascii_uppercase()) && logfetch_common::time::zone_abbreviation_offset(z).is_some()) {
                parts.push(toks[k]);
                k += 1;
            }
            timestamp = Some(join_in_place(head, &parts));
            for u in used.iter_mut().take(k).skip(i) {
                *u = true;
            }
            i = k;
            continue;
        }
        i += 1;
    }
    // The host: the first leftover token that is not facility text (`LOCAL4.WARNING`), a
    // program tag (`CiscoASA[999]`, `SFIMS`) or an RFC 5424 nil value.
    let host = toks.iter().zip(&used).filter(|(_, u)| !**u).map(|(t, _)| *t).find(|t| {
        let facility = t.contains('.') && t.chars().any(|c| c.is_ascii_uppercase()) && t.split('.').all(|p| p.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        *t != "-" && !t.contains('[') && !facility && *t != "SFIMS"
    });
    (timestamp, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(line: &str) -> Header<'_> {
        parse(line).unwrap_or_else(|| panic!("no header in {line}"))
    }

    #[test]
    fn header_variants_of_cisco_md_section_2() {
        let x = h("Apr 29 2013 12:59:50: %ASA-6-302013: Built");
        assert_eq!((x.timestamp.as_deref(), x.host, x.severity, x.msgid, x.body), (Some("Apr 29 2013 12:59:50"), None, 6, 302013, "Built"));
        let x = h("Dec 11 2018 08:01:31 10.1.1.1: %ASA-6-302014: Teardown");
        assert_eq!(x.host, Some("10.1.1.1"));
        let x = h("Oct 10 2018 12:34:56 localhost CiscoASA[999]: %ASA-6-302013: Built");
        assert_eq!((x.host, x.msgid), (Some("localhost"), 302013));
        let x = h("Apr 17 2020 14:08:08 SNL-ASA-VPN-A01 : %ASA-6-302016: Teardown");
        assert_eq!(x.host, Some("SNL-ASA-VPN-A01"));
        let x = h("Apr 15 2014 09:34:34 EDT: %ASA-session-5-106100: access-list");
        assert_eq!((x.timestamp.as_deref(), x.class, x.severity, x.host), (Some("Apr 15 2014 09:34:34 EDT"), Some("session"), 5, None));
        let x = h("Aug 15 2012 23:30:09 : %ASA-6-302016 Teardown UDP");
        assert_eq!((x.msgid, x.body), (302016, "Teardown UDP"));
        let x = h("2019-08-26T23:11:03Z siem-ftd  %FTD-1-430003: EventPriority: Low");
        assert_eq!((x.timestamp.as_deref(), x.host, x.product, x.msgid), (Some("2019-08-26T23:11:03Z"), Some("siem-ftd"), "FTD", 430003));
        let x = h("May  5 17:51:17 dev01: %FTD-7-710005: UDP request");
        assert_eq!((x.timestamp.as_deref(), x.host), (Some("May 5 17:51:17"), Some("dev01")));
        let x = h("<166>Aug 18 2026 18:24:29 asa-fw-01 : %ASA-6-302020: Built");
        assert_eq!((x.pri, x.host), (Some(166), Some("asa-fw-01")));
        let x = h("LOCAL4.WARNING: fw-1 %ASA-4-106023: Deny");
        assert_eq!((x.host, x.timestamp.clone()), (Some("fw-1"), None));
        let x = h("%NGIPS-1-430002: SrcIP: 1.1.1.1");
        assert_eq!((x.product, x.host, x.timestamp.clone()), ("NGIPS", None, None));
        let x = h("May  5 17:51:17 relay: Apr 29 2013 12:59:50: %ASA-6-302013: Built");
        assert_eq!(x.timestamp.as_deref(), Some("Apr 29 2013 12:59:50"), "the device's own timestamp wins");
        let x = h("<166>1 2024-05-01T10:00:00.123+02:00 fw1 - - - - %ASA-6-302013: Built");
        assert_eq!((x.timestamp.as_deref(), x.host), (Some("2024-05-01T10:00:00.123+02:00"), Some("fw1")));
        // Parts are joined by single spaces; borrowed from the line when they already are.
        let x = h("<166>Jun  5 08:00:00 asa-br-nyc : %ASA-6-302015: Built");
        assert_eq!(x.timestamp, Some(Cow::Owned("Jun 5 08:00:00".to_string())));
        let x = h("Jun\t5 08:00:00 asa-br-nyc : %ASA-6-302015: Built");
        assert_eq!(x.timestamp.as_deref(), Some("Jun 5 08:00:00"));
        let x = h("Jun 15 2026 08:00:00 asa-br-nyc : %ASA-6-302015: Built");
        assert!(matches!(x.timestamp, Some(Cow::Borrowed("Jun 15 2026 08:00:00"))), "{:?}", x.timestamp);
        assert!(parse("just some text").is_none());
    }

    #[test]
    fn the_one_pass_reading_agrees_with_the_general_one() {
        let stamps = ["Jun  5 08:00:00", "Jun 5 08:00:00", "Jun 15 08:00:00", "Jun 15 2026 08:00:00", "Jun  5 2026 08:00:00", "Jun 5 08:00:00 2026", "Dec 31 23:59:59", "Jun  15 08:00:00", "Jun 5 8:00:00", "Jun 5 08:00:00.123", "Jun 5 08:0x:00", "Jux 5 08:00:00", "Mon Jun 5 08:00:00", "Jun 5 2026  08:00:00"];
        let hosts = ["fw-1", "asa-br-nyc", "10.1.1.1", "2001", "2026", "EDT", "edt", "UTC", "SFIMS", "ABCDEF", "LOCAL4.WARNING", "host.Example", "x.y", "-", "-x", "Jun", "Mon", "CiscoASA[999]", "a_b", "é", "2019-08-26T23:11:03Z", "Z", "fw1\t"];
        let tails = [" : ", ": ", " ", "  ", " :: ", "", ":", " x "];
        let mut fast = 0;
        for s in stamps {
            for h in hosts {
                for t in tails {
                    let head = format!("{s} {h}{t}");
                    let general = general_head(&head);
                    if let Some((stamp, host)) = bsd_head(&head) {
                        fast += 1;
                        assert_eq!((Some(stamp), Some(host)), general, "{head:?}");
                    }
                }
            }
        }
        for m in MONTHS {
            assert!(is_month(m.as_bytes()), "{m}");
        }
        for m in ["jun", "JUN", "Ju", "June", "Jux", ""] {
            assert!(!is_month(m.as_bytes()), "{m}");
        }
        // 144 of the 2,576 heads are read in one pass.
        assert!(fast >= 100, "the one-pass reading took only {fast} heads");
        // Through `parse`, on the generator's lines and the samples' shapes.
        let x = h("<166>Jun  5 08:00:00 asa-br-nyc : %ASA-6-302015: Built");
        assert_eq!((x.pri, x.timestamp.as_deref(), x.host, x.msgid), (Some(166), Some("Jun 5 08:00:00"), Some("asa-br-nyc"), 302015));
        let x = h("<166>Jun 15 2026 08:00:00 fw-1: %ASA-6-302015: Built");
        assert!(matches!(x.timestamp, Some(Cow::Borrowed("Jun 15 2026 08:00:00"))), "{:?}", x.timestamp);
        assert!(parse("%ASA-x-302013: bad").is_none());
    }
}
