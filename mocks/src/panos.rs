//! A PAN-OS XML API mock (paloalto.md §6): `/api/` over GET and form POST; `type=keygen`; the
//! three key transports (header, parameter, Basic); 403 bodies in both quoting styles and a
//! mode that reports errors with HTTP 200; asynchronous log jobs (enqueue → non-FIN polls in both
//! pending shapes → FIN → finish); the `receive_time`/`time_generated`/`seqno`/`serial`/
//! `subtype` filter grammar joined by `and`; `dir`, `nlogs`, `skip`; single-entry answers;
//! Panorama data from several serials; THREAT entries with DNS; a concurrency cap; and injected
//! faults (5xx, slow answers, expired keys, proxy HTML, truncated/malformed/cut log pages).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::test_source::Rng;

const LOG_TYPES: &[&str] = &[
    "traffic", "threat", "config", "system", "hipmatch", "globalprotect", "wildfire", "url", "data", "corr", "corr-detail", "corr-categ", "userid", "auth", "gtp", "external", "iptag", "decryption",
];

/// The mock's knobs and state.
pub struct PanMock {
    pub user: String,
    pub password: String,
    /// Firewall: one serial. Panorama: several.
    pub serials: Vec<(String, String)>,
    pub panorama: bool,
    pub tz: Tz,
    /// One TRAFFIC entry per serial every this many ms; one THREAT entry every 10x that.
    pub interval_ms: i64,
    /// Data starts here.
    pub start: DateTime<Utc>,
    pub seed: u64,
    /// Non-FIN polls before a job finishes.
    pub pending_polls: u32,
    /// Report errors with HTTP 200 instead of 403/400.
    pub errors_as_200: AtomicBool,
    keys: std::sync::Mutex<Vec<String>>,
    next_job: AtomicU64,
    jobs: std::sync::Mutex<HashMap<u64, Job>>,
    /// (serial, seqno, log-type) of every entry served, in order.
    pub served: std::sync::Mutex<Vec<(String, u64, String)>>,
    pub requests: AtomicU64,
    pub keygens: AtomicU32,
    limit: tokio::sync::Semaphore,
    /// Entries loaded from a file, served instead of generated ones.
    loaded: Option<Vec<MockEntry>>,
    /// Faults for the next requests, in order (see [`PanFault`]).
    pub faults: std::sync::Mutex<std::collections::VecDeque<PanFault>>,
    /// Faults injected so far.
    pub faults_injected: AtomicU64,
}

/// One injected fault. `truncated`, `malformed` and `reset` wait for the next finished log page
/// (the answer whose loss would cost data); the others hit the next request of any kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanFault {
    /// HTTP 500.
    ServerError,
    /// HTTP 503.
    Unavailable,
    /// Answer after this many milliseconds.
    Slow(u64),
    /// Every API key stops working before this request (a password change, a key lifetime
    /// ending); the request then gets 403 Invalid Credential.
    Expire,
    /// A 200 HTML page from a proxy in front of the firewall.
    Html,
    /// The next finished log page stops half-way (the XML document is not closed).
    Truncated,
    /// The next finished log page has a mismatched closing tag.
    Malformed,
    /// The next finished log page is cut by a connection reset half-way.
    Reset,
}

impl PanFault {
    fn on_page(self) -> bool {
        matches!(self, PanFault::Truncated | PanFault::Malformed | PanFault::Reset)
    }
}

impl std::str::FromStr for PanFault {
    type Err = String;
    fn from_str(s: &str) -> Result<PanFault, String> {
        Ok(match s.trim() {
            "500" => PanFault::ServerError,
            "503" => PanFault::Unavailable,
            "expire" => PanFault::Expire,
            "html" => PanFault::Html,
            "truncated" => PanFault::Truncated,
            "malformed" => PanFault::Malformed,
            "reset" => PanFault::Reset,
            other => match other.strip_prefix("slow:").and_then(|ms| ms.parse().ok()) {
                Some(ms) => PanFault::Slow(ms),
                None => return Err(format!("unknown fault `{other}` (500, 503, slow:MS, expire, html, truncated, malformed, reset)")),
            },
        })
    }
}

/// Parses `500,expire,truncated,...`.
pub fn parse_faults(spec: &str) -> Result<Vec<PanFault>, String> {
    crate::parse_fault_plan(spec)
}

#[derive(Debug, Clone)]
struct Job {
    log_type: String,
    query: Vec<Cond>,
    nlogs: usize,
    skip: usize,
    forward: bool,
    polls: u32,
    finished: bool,
}

#[derive(Debug, Clone)]
struct Cond {
    field: String,
    op: String,
    value: String,
}

/// One generated log entry.
#[derive(Debug, Clone)]
pub struct MockEntry {
    pub serial: String,
    pub device: String,
    pub seqno: u64,
    pub log_type: &'static str,
    pub subtype: &'static str,
    pub time: DateTime<Utc>,
    pub fields: Vec<(String, String)>,
}

impl PanMock {
    pub fn new(panorama: bool, tz: Tz, start: DateTime<Utc>, interval_ms: i64) -> PanMock {
        let serials: Vec<(String, String)> = if panorama {
            vec![("007051000111".into(), "fw-berlin".into()), ("007051000222".into(), "fw-munich".into()), ("007051000333".into(), "fw-hamburg".into())]
        } else {
            vec![("012801096514".into(), "PA-220".into())]
        };
        PanMock {
            user: "admin".into(),
            password: "pan-secret".into(),
            serials,
            panorama,
            tz,
            interval_ms,
            start,
            seed: 11,
            pending_polls: 2,
            errors_as_200: AtomicBool::new(false),
            keys: std::sync::Mutex::new(vec!["LUFRPT1-static-test-key==".into()]),
            next_job: AtomicU64::new(17),
            jobs: std::sync::Mutex::new(HashMap::new()),
            served: std::sync::Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            keygens: AtomicU32::new(0),
            limit: tokio::sync::Semaphore::new(5),
            loaded: None,
            faults: std::sync::Mutex::new(std::collections::VecDeque::new()),
            faults_injected: AtomicU64::new(0),
        }
    }

    /// Takes the next fault if it is of the wanted sort (page faults only for a finished page).
    fn take_fault(&self, page: bool) -> Option<PanFault> {
        let mut q = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let f = *q.front()?;
        if f.on_page() != page {
            return None;
        }
        q.pop_front();
        self.faults_injected.fetch_add(1, Ordering::SeqCst);
        Some(f)
    }

    /// Invalidates every key (as a password change does).
    pub fn expire_keys(&self) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz).format("%Y/%m/%d %H:%M:%S").to_string()
    }

    /// Serves these entries (from a saved XML answer) instead of generated data.
    pub fn load_entries(&mut self, xml: &str) -> Result<usize, String> {
        use quick_xml::events::Event as X;
        let mut r = quick_xml::Reader::from_str(xml);
        let mut out = Vec::new();
        let mut cur: Option<Vec<(String, String)>> = None;
        let mut field: Option<String> = None;
        let mut text = String::new();
        loop {
            match r.read_event().map_err(|e| e.to_string())? {
                X::Start(s) if s.name().as_ref() == "entry" => cur = Some(Vec::new()),
                X::Start(s) if cur.is_some() && field.is_none() => {
                    field = Some(s.name().as_ref().to_string());
                    text.clear();
                }
                X::Text(t) if field.is_some() => text.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0)),
                X::GeneralRef(g) if field.is_some() => {
                    let n: &str = g.as_ref();
                    text.push_str(quick_xml::escape::resolve_predefined_entity(n).unwrap_or(""));
                }
                X::End(e) if e.name().as_ref() == "entry" => {
                    if let Some(fields) = cur.take() {
                        let get = |k: &str| fields.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
                        let naive = chrono::NaiveDateTime::parse_from_str(&get("receive_time"), "%Y/%m/%d %H:%M:%S").map_err(|e| format!("receive_time: {e}"))?;
                        let time = self.tz.from_local_datetime(&naive).earliest().ok_or("receive_time in a DST gap")?.with_timezone(&Utc);
                        let lt: &'static str = if get("type") == "THREAT" { "threat" } else { "traffic" };
                        let st = get("subtype");
                        let subtype: &'static str = ["end", "start", "drop", "deny", "spyware", "url", "virus"].into_iter().find(|x| *x == st).unwrap_or("end");
                        out.push(MockEntry { serial: get("serial"), device: get("device_name"), seqno: get("seqno").parse().unwrap_or(0), log_type: lt, subtype, time, fields });
                    }
                }
                X::End(_) if field.is_some() => {
                    if let (Some(f), Some(c)) = (field.take(), cur.as_mut()) {
                        c.push((f, std::mem::take(&mut text)));
                    }
                }
                X::Eof => break,
                _ => {}
            }
        }
        let n = out.len();
        self.loaded = Some(out);
        Ok(n)
    }

    /// All entries of a log type that exist by `now`, oldest first.
    pub fn entries(&self, log_type: &str, now: DateTime<Utc>) -> Vec<MockEntry> {
        if let Some(l) = &self.loaded {
            return l.iter().filter(|e| e.log_type == log_type && e.time <= now).cloned().collect();
        }
        let step = if log_type == "threat" { self.interval_ms * 10 } else { self.interval_ms };
        let n = ((now - self.start).num_milliseconds() / step.max(1)).max(0);
        let mut out = Vec::with_capacity(n as usize * self.serials.len());
        for i in 0..n {
            let t = self.start + chrono::Duration::milliseconds(i * step);
            for (si, (serial, device)) in self.serials.iter().enumerate() {
                let seqno = 1000 + i as u64 * if log_type == "threat" { 1 } else { 2 } + if log_type == "threat" { 1 } else { 0 };
                let mut rng = Rng::new(self.seed ^ (i as u64) << 8 ^ si as u64 ^ if log_type == "threat" { 0xABC } else { 0 });
                out.push(self.entry(serial, device, seqno, log_type, t, &mut rng));
            }
        }
        out
    }

    fn entry(&self, serial: &str, device: &str, seqno: u64, log_type: &str, t: DateTime<Utc>, rng: &mut Rng) -> MockEntry {
        let src = format!("10.20.{}.{}", rng.below(8), 2 + rng.below(200));
        let dst = format!("198.51.100.{}", 1 + rng.below(250));
        let sport = (1024 + rng.below(60000)).to_string();
        let hi = t.with_timezone(&self.tz).to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        let mut f: Vec<(String, String)> = [
            ("domain", "1".into()),
            ("receive_time", self.local(t)),
            ("serial", serial.into()),
            ("seqno", seqno.to_string()),
            ("type", if log_type == "threat" { "THREAT".into() } else { "TRAFFIC".into() }),
            ("time_generated", self.local(t)),
            ("high_res_timestamp", hi),
            ("src", src),
            ("dst", dst.clone()),
            ("rule", "allow-out & log".into()),
            ("vsys", "vsys1".into()),
            ("from", "trust".into()),
            ("to", "untrust".into()),
            ("inbound_if", "ethernet1/2".into()),
            ("outbound_if", "ethernet1/1".into()),
            ("sessionid", (100_000 + rng.below(900_000)).to_string()),
            ("sport", sport),
            ("device_name", device.into()),
            ("dg_hier_level_1", if self.panorama { "17".into() } else { "0".into() }),
        ]
        .into_iter()
        .map(|(k, v): (&str, String)| (k.to_string(), v))
        .collect();
        let subtype: &'static str = if log_type == "threat" {
            f.extend([
                ("subtype", "spyware".to_string()),
                ("app", "dns".into()),
                ("dport", "53".into()),
                ("proto", "udp".into()),
                ("action", "sinkhole".into()),
                ("misc", String::new()),
                ("threatid", format!("Suspicious DNS Query (generic:c2-{}.bad.example)(320511141)", rng.below(1000))),
                ("severity", "medium".into()),
                ("direction", "client-to-server".into()),
                ("thr_category", "dns-c2".into()),
            ].into_iter().map(|(k, v): (&str, String)| (k.to_string(), v)));
            "spyware"
        } else {
            let sent = rng.below(100_000);
            let recv = rng.below(1_000_000);
            let st = ["end", "end", "end", "start", "drop", "deny"][rng.below(6) as usize];
            f.extend([
                ("subtype", st.to_string()),
                ("natsrc", "203.0.113.7".into()),
                ("natdst", "0.0.0.0".into()),
                ("app", "ssl".into()),
                ("dport", "443".into()),
                ("natsport", (2000 + rng.below(60000)).to_string()),
                ("natdport", "0".into()),
                ("proto", "tcp".into()),
                ("action", if st == "deny" { "deny".into() } else if st == "drop" { "drop".into() } else { "allow".into() }),
                ("bytes", (sent + recv).to_string()),
                ("bytes_sent", sent.to_string()),
                ("bytes_received", recv.to_string()),
                ("packets", "30".into()),
                ("pkts_sent", "12".into()),
                ("pkts_received", "18".into()),
                ("start", self.local(t - chrono::Duration::seconds(30))),
                ("elapsed", "30".into()),
                ("session_end_reason", "tcp-fin".into()),
            ].into_iter().map(|(k, v): (&str, String)| (k.to_string(), v)));
            if rng.below(3) == 0 {
                f.push(("srcuser".into(), "corp\\alice".into()));
            }
            st
        };
        let subtype = if log_type == "threat" { subtype } else { match subtype { "end" => "end", "start" => "start", "drop" => "drop", _ => "deny" } };
        MockEntry { serial: serial.into(), device: device.into(), seqno, log_type: if log_type == "threat" { "threat" } else { "traffic" }, subtype, time: t, fields: f }
    }

    fn matches(&self, e: &MockEntry, conds: &[Cond]) -> bool {
        conds.iter().all(|c| {
            let ord = match c.field.as_str() {
                "receive_time" | "time_generated" => {
                    let Ok(naive) = chrono::NaiveDateTime::parse_from_str(&c.value, "%Y/%m/%d %H:%M:%S") else { return false };
                    let Some(v) = self.tz.from_local_datetime(&naive).earliest() else { return false };
                    // Entries carry second precision in these fields.
                    let t = e.time.timestamp();
                    t.cmp(&v.timestamp())
                }
                "seqno" => e.seqno.cmp(&c.value.parse::<u64>().unwrap_or(0)),
                "serial" => e.serial.as_str().cmp(c.value.as_str()),
                "subtype" => e.subtype.cmp(c.value.as_str()),
                _ => return false,
            };
            match c.op.as_str() {
                "geq" => ord.is_ge(),
                "leq" => ord.is_le(),
                "gt" => ord.is_gt(),
                "lt" => ord.is_lt(),
                "eq" => ord.is_eq(),
                _ => false,
            }
        })
    }
}

/// `(field op 'value') and (field op 'value')`.
fn parse_query(q: &str) -> Result<Vec<Cond>, String> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in q.split(" and ") {
        let p = part.trim().strip_prefix('(').and_then(|p| p.strip_suffix(')')).ok_or_else(|| format!("bad clause `{part}`"))?;
        let mut it = p.splitn(3, ' ');
        let (field, op, value) = (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""));
        if !["receive_time", "time_generated", "seqno", "serial", "subtype"].contains(&field) || !["geq", "leq", "eq", "gt", "lt"].contains(&op) {
            return Err(format!("unsupported clause `{part}`"));
        }
        let value = value.trim().trim_matches('\'').to_string();
        out.push(Cond { field: field.into(), op: op.into(), value });
    }
    Ok(out)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn error(st: &PanMock, http: StatusCode, code: &str, msg: &str) -> Response {
    let body = format!("<response status = 'error' code = '{code}'><result><msg>{}</msg></result></response>", xml_escape(msg));
    let status = if st.errors_as_200.load(Ordering::SeqCst) { StatusCode::OK } else { http };
    (status, [("content-type", "application/xml")], body).into_response()
}

fn ok(body: String) -> Response {
    (StatusCode::OK, [("content-type", "application/xml")], body).into_response()
}

async fn api(State(st): State<Arc<PanMock>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>, body: String) -> Response {
    let _permit = st.limit.acquire().await; // at most 5 at once: others wait
    st.requests.fetch_add(1, Ordering::SeqCst);
    match st.take_fault(false) {
        Some(PanFault::ServerError) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        Some(PanFault::Unavailable) => return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response(),
        Some(PanFault::Slow(ms)) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
        Some(PanFault::Expire) => st.expire_keys(),
        Some(PanFault::Html) => return (StatusCode::OK, [("content-type", "text/html")], "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response(),
        _ => {}
    }
    let mut p: BTreeMap<String, String> = q.into_iter().collect();
    for (k, v) in url_decode_form(&body) {
        p.insert(k, v);
    }
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")).map(str::to_string);
    let typ = p.get("type").cloned().unwrap_or_default();
    if typ == "keygen" {
        if basic.is_some() {
            return error(&st, StatusCode::FORBIDDEN, "403", "Basic authentication is not accepted for keygen");
        }
        if p.get("user") != Some(&st.user) || p.get("password") != Some(&st.password) {
            return error(&st, StatusCode::FORBIDDEN, "403", "Invalid Credential");
        }
        let n = st.keygens.fetch_add(1, Ordering::SeqCst);
        let key = format!("LUFRPT1{:016x}{n}==", st.seed.wrapping_mul(0x9E37_79B9).wrapping_add(n as u64));
        st.keys.lock().unwrap_or_else(|e| e.into_inner()).push(key.clone());
        return ok(format!("<response status = 'success'><result><key>{key}</key></result></response>"));
    }
    // Key by header, parameter, or Basic auth with the admin's credentials.
    let key = headers.get("x-pan-key").and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| p.get("key").cloned());
    let authed = match (key, basic) {
        (Some(k), _) => st.keys.lock().unwrap_or_else(|e| e.into_inner()).contains(&k),
        (None, Some(b)) => {
            use base64_lite::decode;
            decode(&b).is_some_and(|d| d == format!("{}:{}", st.user, st.password))
        }
        (None, None) => false,
    };
    if !authed {
        return error(&st, StatusCode::FORBIDDEN, "403", "Invalid Credential");
    }
    let job_id_from_op = || -> Option<String> {
        let cmd = p.get("cmd")?;
        let inner = cmd.split("<id>").nth(1)?.split("</id>").next()?;
        Some(inner.to_string())
    };
    match (typ.as_str(), p.get("action").map(String::as_str)) {
        ("log", None) => {
            let lt = p.get("log-type").cloned().unwrap_or_default();
            if !LOG_TYPES.contains(&lt.as_str()) {
                return error(&st, StatusCode::BAD_REQUEST, "400", &format!("Invalid log type: {lt}"));
            }
            let nlogs = match p.get("nlogs").map(|n| n.parse::<usize>()) {
                None => 20,
                Some(Ok(n)) if (1..=5000).contains(&n) => n,
                _ => return error(&st, StatusCode::BAD_REQUEST, "400", "nlogs must be between 1 and 5000"),
            };
            let skip = match p.get("skip").map(|n| n.parse::<usize>()) {
                None => 0,
                Some(Ok(n)) => n,
                _ => return error(&st, StatusCode::BAD_REQUEST, "400", "skip must be a number >= 0"),
            };
            let forward = match p.get("dir").map(String::as_str) {
                None | Some("backward") => false,
                Some("forward") => true,
                Some(d) => return error(&st, StatusCode::BAD_REQUEST, "400", &format!("Invalid dir: {d}")),
            };
            let query = match parse_query(p.get("query").map(String::as_str).unwrap_or("")) {
                Ok(q) => q,
                Err(e) => return error(&st, StatusCode::BAD_REQUEST, "400", &format!("Invalid query: {e}")),
            };
            let id = st.next_job.fetch_add(1, Ordering::SeqCst);
            st.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(id, Job { log_type: lt, query, nlogs, skip, forward, polls: 0, finished: false });
            ok(format!(r#"<response status="success" code="19"><result><msg><line>query job enqueued with jobid {id}</line></msg><job>{id}</job></result></response>"#))
        }
        ("log", Some("get")) | ("op", _) => {
            let id = if typ == "op" { job_id_from_op() } else { p.get("job-id").cloned() };
            let Some(id) = id.and_then(|i| i.parse::<u64>().ok()) else { return error(&st, StatusCode::BAD_REQUEST, "400", "job-id is required") };
            let job = {
                let mut jobs = st.jobs.lock().unwrap_or_else(|e| e.into_inner());
                match jobs.get_mut(&id) {
                    Some(j) if !j.finished => {
                        j.polls += 1;
                        j.clone()
                    }
                    _ => return error(&st, StatusCode::BAD_REQUEST, "13", &format!("Job {id} not found")),
                }
            };
            if job.polls <= st.pending_polls {
                // Both pending shapes: no <log>, or an empty <logs>.
                let state = if job.polls % 2 == 1 { "ACT" } else { "PEND" };
                let log = if job.polls % 2 == 1 { String::new() } else { r#"<log><logs count="0" progress="40"/></log>"#.to_string() };
                return ok(format!(r#"<response status="success"><result><job><tenq>10:00:00</tenq><status>{state}</status><id>{id}</id></job>{log}</result></response>"#));
            }
            let mut all: Vec<MockEntry> = st.entries(&job.log_type, Utc::now()).into_iter().filter(|e| st.matches(e, &job.query)).collect();
            all.sort_by_key(|e| (e.time, e.serial.clone(), e.seqno));
            if !job.forward {
                all.reverse();
            }
            let page: Vec<MockEntry> = all.into_iter().skip(job.skip).take(job.nlogs).collect();
            let mut body = format!(r#"<response status="success"><result><job><tenq>10:00:00</tenq><tdeq>10:00:00</tdeq><tlast>10:00:01</tlast><status>FIN</status><id>{id}</id></job><log><logs count="{}" progress="100">"#, page.len());
            let fault = st.take_fault(true);
            let mut served = st.served.lock().unwrap_or_else(|e| e.into_inner());
            for e in &page {
                body.push_str(&format!(r#"<entry logid="{}">"#, e.seqno));
                for (k, v) in &e.fields {
                    if v.is_empty() {
                        body.push_str(&format!("<{k}/>"));
                    } else {
                        body.push_str(&format!("<{k}>{}</{k}>", xml_escape(v)));
                    }
                }
                body.push_str("</entry>");
                if fault.is_none() {
                    served.push((e.serial.clone(), e.seqno, e.log_type.to_string()));
                }
            }
            body.push_str("</logs></log></result></response>");
            match fault {
                Some(PanFault::Truncated) => {
                    let cut = body.len() / 2;
                    body.truncate((0..=cut).rev().find(|i| body.is_char_boundary(*i)).unwrap_or(0));
                }
                Some(PanFault::Malformed) => match body.rfind("</entry>") {
                    Some(at) => body.replace_range(at..at + "</entry>".len(), "</entyr>"),
                    None => body = body.replacen("</logs>", "</log>", 1),
                },
                Some(PanFault::Reset) => {
                    let half = body.as_bytes()[..body.len() / 2].to_vec();
                    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))];
                    return (StatusCode::OK, [("content-type", "application/xml")], axum::body::Body::from_stream(futures_util::stream::iter(chunks))).into_response();
                }
                _ => {}
            }
            ok(body)
        }
        ("log", Some("finish")) => {
            let Some(id) = p.get("job-id").and_then(|i| i.parse::<u64>().ok()) else { return error(&st, StatusCode::BAD_REQUEST, "400", "job-id is required") };
            match st.jobs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
                Some(j) => {
                    j.finished = true;
                    ok(format!(r#"<response status="success"><result>Job {id} finished</result></response>"#))
                }
                None => error(&st, StatusCode::BAD_REQUEST, "13", &format!("Job {id} not found")),
            }
        }
        _ => error(&st, StatusCode::BAD_REQUEST, "17", &format!("Invalid command: type={typ}")),
    }
}

fn url_decode_form(body: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                        out.push(v);
                        i += 2;
                    } else {
                        out.push(b'%');
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')).map(|(k, v)| (dec(k), dec(v))).collect()
}

/// Minimal base64 for Basic auth in the mock.
mod base64_lite {
    pub fn decode(s: &str) -> Option<String> {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.trim().bytes().filter(|c| *c != b'=') {
            let v = T.iter().position(|t| *t == c)? as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        String::from_utf8(out).ok()
    }
}

async fn faults_left(State(st): State<Arc<PanMock>>) -> Response {
    let left = st.faults.lock().unwrap_or_else(|e| e.into_inner()).len();
    axum::Json(serde_json::json!({"left": left, "injected": st.faults_injected.load(Ordering::SeqCst)})).into_response()
}

async fn add_faults(State(st): State<Arc<PanMock>>, body: String) -> Response {
    match parse_faults(&body) {
        Ok(f) => {
            st.faults.lock().unwrap_or_else(|e| e.into_inner()).extend(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn served(State(st): State<Arc<PanMock>>) -> Response {
    let list: Vec<String> = st.served.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(s, n, t)| format!("{s}:{n}:{t}")).collect();
    axum::Json(list).into_response()
}

/// Starts the mock on 127.0.0.1 with an OS-chosen port.
pub async fn start(state: Arc<PanMock>) -> std::io::Result<SocketAddr> {
    let app = axum::Router::new()
        .route("/api/", axum::routing::get(api).post(api))
        // Test-only: what was served, as `serial:seqno:type` (not part of PAN-OS).
        .route("/mock/served", axum::routing::get(served))
        // Test-only: queue faults (`POST`, e.g. `expire,truncated`) and count them (`GET`).
        .route("/mock/faults", axum::routing::get(faults_left).post(add_faults))
        .with_state(state);
    crate::serve(app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_grammar() {
        let q = parse_query("(receive_time geq '2024/03/08 00:00:00') and (seqno geq '1001')").unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].field.as_str(), q[0].op.as_str(), q[0].value.as_str()), ("receive_time", "geq", "2024/03/08 00:00:00"));
        assert!(parse_query("(bogus eq 1)").is_err());
        assert!(parse_query("receive_time geq 1").is_err());
        assert_eq!(base64_lite::decode("YWRtaW46cGFuLXNlY3JldA==").as_deref(), Some("admin:pan-secret"));
    }

    #[test]
    fn entries_are_coherent() {
        let m = PanMock::new(true, chrono_tz::Europe::Berlin, Utc::now() - chrono::Duration::minutes(10), 1000);
        let e = m.entries("traffic", Utc::now());
        assert!(e.len() >= 3 * 590);
        // seqno increases per serial.
        for (s, _) in &m.serials {
            let seq: Vec<u64> = e.iter().filter(|x| &x.serial == s).map(|x| x.seqno).collect();
            assert!(seq.windows(2).all(|w| w[1] > w[0]));
        }
        let t = m.entries("threat", Utc::now());
        assert!(t.iter().all(|x| x.fields.iter().any(|(k, v)| k == "threatid" && v.contains("generic:"))));
    }

    #[test]
    fn serves_entries_loaded_from_a_saved_answer() {
        let xml = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/panos_xml/content__query_logs.xml")).unwrap();
        let mut m = PanMock::new(false, chrono_tz::UTC, Utc::now(), 1000);
        assert_eq!(m.load_entries(&xml).unwrap(), 1);
        let e = m.entries("traffic", Utc::now());
        assert_eq!((e.len(), e[0].serial.as_str(), e[0].seqno), (1, "1234", 1234));
        assert!(e[0].fields.iter().any(|(k, v)| k == "rule" && v == "LAN to Internet - Default Applications"));
    }
}
