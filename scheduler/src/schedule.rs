//! Cron schedules as people expect them, on top of the `cron` crate.
//!
//! The `cron` crate wants 6–7 fields with Quartz weekdays (1 = Sunday), ANDs day-of-month with
//! day-of-week, skips jobs in a spring-forward gap and runs them twice in a fall-back overlap
//! (`../shared/crates.md` §6). This wrapper accepts ordinary 5-field crontab lines (0/7 = Sunday,
//! 1 = Monday) and 6-field lines with seconds, ORs restricted day fields as Vixie cron does, and
//! evaluates on wall-clock time in the tenant's zone: a fixed-time job runs once in an overlap
//! and at the first valid time after a gap; jobs with a wildcard hour run in both passes of an
//! overlap and skip the gap, as croner documents.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule `{expr}`: {why}")]
pub struct ScheduleError {
    pub expr: String,
    pub why: String,
}

/// A parsed schedule in a zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    tz: Tz,
    /// One schedule, or two when both day fields are restricted (Vixie OR semantics).
    inner: Vec<cron::Schedule>,
    /// The hour field is `*` or a step over all hours: an interval job.
    hour_wildcard: bool,
}

/// Maps one Unix day-of-week item (`1`, `1-5`, `0-6/2`, `MON`) to Quartz numbers.
fn convert_dow(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().map_err(|_| format!("bad step in day-of-week `{item}`"))?)),
            None => (item, None),
        };
        let numeric = |s: &str| s.parse::<u32>().ok();
        let (lo, hi) = match range.split_once('-') {
            _ if range == "*" => (0, 6),
            Some((a, b)) => match (numeric(a), numeric(b)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    out.push(item.to_string()); // names (MON-FRI): same in both dialects
                    continue;
                }
            },
            None => match numeric(range) {
                Some(a) => (a, if step.is_some() { 6 } else { a }),
                None => {
                    out.push(item.to_string());
                    continue;
                }
            },
        };
        if lo > 7 || hi > 7 || lo > hi {
            return Err(format!("day-of-week `{item}` is out of range (0-7, 0 and 7 = Sunday)"));
        }
        let mut d = lo;
        while d <= hi {
            out.push(((d % 7) + 1).to_string());
            d += step.unwrap_or(1).max(1);
        }
    }
    out.sort();
    out.dedup();
    Ok(out.join(","))
}

fn restricted(f: &str) -> bool {
    f != "*" && f != "?"
}

impl CronSchedule {
    /// Parses a 5-field (crontab) or 6-field (with seconds) expression, or `@hourly`/`@daily`/...
    pub fn parse(expr: &str, tz: Tz) -> Result<CronSchedule, ScheduleError> {
        let err = |why: String| ScheduleError { expr: expr.to_string(), why };
        let expanded = match expr.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => return Err(err(format!("expected 5 fields (min hour day month weekday) or 6 (with seconds first), found {n}"))),
        };
        let (min, hour, dom, mon, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);
        let dow_q = convert_dow(dow).map_err(err)?;
        let build = |dom: &str, dow: &str| -> Result<cron::Schedule, ScheduleError> {
            let q = format!("{sec} {min} {hour} {dom} {mon} {dow}");
            cron::Schedule::from_str(&q).map_err(|e| err(e.to_string()))
        };
        let inner = if restricted(dom) && restricted(dow) {
            vec![build(dom, "*")?, build("*", &dow_q)?]
        } else {
            vec![build(dom, &dow_q)?]
        };
        let hour_wildcard = hour == "*" || hour.starts_with("*/");
        Ok(CronSchedule { expr: expr.to_string(), tz, inner, hour_wildcard })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Wall-clock candidates (naive local times) after `from`, in order.
    fn naive_after(&self, from: NaiveDateTime, n: usize) -> Vec<NaiveDateTime> {
        let start = Utc.from_utc_datetime(&from);
        let mut all: Vec<NaiveDateTime> = self.inner.iter().flat_map(|s| s.after(&start).take(n).map(|t| t.naive_utc()).collect::<Vec<_>>()).collect();
        all.sort();
        all.dedup();
        all.truncate(n);
        all
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Near a DST change wall time repeats or jumps, so start a little before `after` in
        // wall-clock terms; elsewhere wall time is monotonic and we can start right at it.
        use chrono::Offset;
        let offset_at = |t: DateTime<Utc>| t.with_timezone(&self.tz).offset().fix();
        let transition_near = offset_at(after - Duration::hours(3)) != offset_at(after + Duration::hours(3));
        let local = after.with_timezone(&self.tz).naive_local();
        let from = if transition_near { local - Duration::hours(3) } else { local - Duration::seconds(1) };
        let mut instants: Vec<DateTime<Utc>> = Vec::new();
        let mut cursor = from;
        // Enough candidates to cross 3 hours of a per-second schedule, or years of a yearly one.
        for _ in 0..64 {
            let cands = self.naive_after(cursor, 1024);
            let Some(last) = cands.last().copied() else { break };
            for t in cands {
                match self.tz.from_local_datetime(&t) {
                    LocalResult::Single(x) => instants.push(x.with_timezone(&Utc)),
                    LocalResult::Ambiguous(a, b) => {
                        instants.push(a.with_timezone(&Utc));
                        if self.hour_wildcard {
                            instants.push(b.with_timezone(&Utc));
                        }
                    }
                    LocalResult::None => {
                        if !self.hour_wildcard {
                            // First valid wall time after the gap.
                            if let Some(x) = (1..=240).find_map(|m| self.tz.from_local_datetime(&(t + Duration::minutes(m))).earliest()) {
                                let x = x.with_timezone(&Utc);
                                // The gap's end, not t+m: back off to the transition minute.
                                instants.push(x);
                            }
                        }
                    }
                }
            }
            if let Some(best) = instants.iter().filter(|i| **i > after).min() {
                return Some(*best);
            }
            cursor = last;
        }
        None
    }

    /// The next `n` runs after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t) {
                Some(x) => {
                    out.push(x);
                    t = x;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: Tz = chrono_tz::America::New_York;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn local(v: &[DateTime<Utc>]) -> Vec<String> {
        v.iter().map(|t| t.with_timezone(&NY).to_rfc3339()).collect()
    }

    #[test]
    fn five_field_lines_with_unix_weekdays() {
        let s = CronSchedule::parse("0 9 * * 1", NY).unwrap();
        // 2026-03-09 is a Monday.
        assert_eq!(local(&s.upcoming(at("2026-03-07T12:00:00Z"), 1)), ["2026-03-09T09:00:00-04:00"]);
        let s = CronSchedule::parse("0 9 * * 0", chrono_tz::UTC).unwrap();
        assert_eq!(s.next_after(at("2026-03-09T00:00:00Z")).unwrap(), at("2026-03-15T09:00:00Z"), "0 = Sunday");
        let s = CronSchedule::parse("0 9 * * 7", chrono_tz::UTC).unwrap();
        assert_eq!(s.next_after(at("2026-03-09T00:00:00Z")).unwrap(), at("2026-03-15T09:00:00Z"), "7 = Sunday");
        let s = CronSchedule::parse("0 9 * * 1-5", chrono_tz::UTC).unwrap();
        assert_eq!(s.upcoming(at("2026-03-13T10:00:00Z"), 2), [at("2026-03-16T09:00:00Z"), at("2026-03-17T09:00:00Z")], "Fri 10:00 -> Mon, Tue");
        let s = CronSchedule::parse("*/15 * * * *", chrono_tz::UTC).unwrap();
        assert_eq!(s.next_after(at("2026-03-13T10:07:00Z")).unwrap(), at("2026-03-13T10:15:00Z"));
    }

    #[test]
    fn frequent_schedules_find_the_next_tick() {
        let s = CronSchedule::parse("*/5 * * * * *", NY).unwrap();
        let t = at("2026-03-13T10:00:01Z");
        assert_eq!(s.upcoming(t, 3), [at("2026-03-13T10:00:05Z"), at("2026-03-13T10:00:10Z"), at("2026-03-13T10:00:15Z")]);
        // Also right next to a DST change.
        assert_eq!(s.next_after(at("2026-03-08T06:59:58Z")).unwrap(), at("2026-03-08T07:00:00Z"));
        let s = CronSchedule::parse("* * * * *", NY).unwrap();
        assert_eq!(s.next_after(at("2026-11-01T05:30:10Z")).unwrap(), at("2026-11-01T05:31:00Z"));
    }

    #[test]
    fn six_field_lines_and_macros() {
        let s = CronSchedule::parse("30 */5 * * * *", chrono_tz::UTC).unwrap();
        assert_eq!(s.next_after(at("2026-03-13T10:00:00Z")).unwrap(), at("2026-03-13T10:00:30Z"));
        let s = CronSchedule::parse("@hourly", chrono_tz::UTC).unwrap();
        assert_eq!(s.next_after(at("2026-03-13T10:00:00Z")).unwrap(), at("2026-03-13T11:00:00Z"));
        assert!(CronSchedule::parse("* * *", chrono_tz::UTC).unwrap_err().to_string().contains("expected 5 fields"));
        assert!(CronSchedule::parse("0 9 * * 8", chrono_tz::UTC).is_err());
        assert!(CronSchedule::parse("61 * * * *", chrono_tz::UTC).is_err());
    }

    #[test]
    fn restricted_day_fields_are_ored_like_vixie_cron() {
        let s = CronSchedule::parse("0 9 1 * 1", NY).unwrap();
        // From 2026-03-02: Mondays 03-09, 03-16 ... and the 1st of April.
        assert_eq!(local(&s.upcoming(at("2026-03-02T20:00:00Z"), 2)), ["2026-03-09T09:00:00-04:00", "2026-03-16T09:00:00-04:00"]);
    }

    #[test]
    fn fixed_time_job_in_spring_forward_gap_runs_at_first_valid_time() {
        // 2026-03-08 02:30 does not exist in New York.
        let s = CronSchedule::parse("30 2 * * *", NY).unwrap();
        assert_eq!(
            local(&s.upcoming(at("2026-03-07T17:00:00Z"), 3)),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]
        );
    }

    #[test]
    fn fixed_time_job_runs_once_in_fall_back_overlap() {
        let s = CronSchedule::parse("30 1 * * *", NY).unwrap();
        assert_eq!(
            local(&s.upcoming(at("2026-10-31T16:00:00Z"), 3)),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"]
        );
    }

    #[test]
    fn interval_job_runs_in_both_passes_of_the_overlap() {
        let s = CronSchedule::parse("0 * * * *", NY).unwrap();
        assert_eq!(
            local(&s.upcoming(at("2026-11-01T04:30:00Z"), 4)),
            ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"]
        );
    }
}
