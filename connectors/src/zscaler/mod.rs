//! Zscaler Internet Access NSS / Cloud NSS DNS and firewall records (zscaler.md §2–§4): the
//! recommended JSON layouts (with or without the `sourcetype`/`event` wrapper, quoted or unquoted
//! numbers), Zscaler's default CSV and tab-separated outputs, and name=value pairs. Feed-language
//! quirks are undone here: `%HH` percent-encoding (`e`-fields), placeholders (`None`, `NA`,
//! `Unknown`, `NotFound`, `N/A`), double-space dates.

pub mod api;
pub mod cloud_nss;
pub mod template;

use std::net::IpAddr;

use logfetch_common::event::{Disposition, DnsActivity, DnsAnswer, DnsEvent, Endpoint, Envelope, Event, FlowActivity, FlowEvent, Unmapped, protocol_number};
use std::borrow::Cow;

use logfetch_common::text::NameTable;

use crate::{ParseContext, ParseOutcome, RecordParser};

#[derive(Default)]
pub struct ZscalerParser;

/// Which feed a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Dns,
    Firewall,
}

/// Column order of Zscaler's default DNS CSV (zscaler.md §3.2; the last four are inferred).
pub const DNS_COLUMNS: &[&str] = &[
    "datetime", "user", "department", "location", "reqaction", "resaction", "reqrulelabel", "resrulelabel", "dns_reqtype", "dns_req", "dns_resp", "srv_dport", "durationms", "clt_sip", "srv_dip",
    "category", "odomcat", "deviceowner", "devicehostname",
];

/// Column order of the default firewall CSV (zscaler.md §4.3, 36 columns).
pub const FW_COLUMNS: &[&str] = &[
    "datetime", "user", "department", "locationname", "cdport", "csport", "sdport", "ssport", "csip", "cdip", "ssip", "sdip", "tsip", "tunsport", "tuntype", "action", "dnat", "stateful", "aggregate",
    "nwsvc", "nwapp", "proto", "ipcat", "destcountry", "avgduration", "rulelabel", "inbytes", "outbytes", "duration", "durationms", "numsessions", "ipsrulelabel", "threatcat", "threatname",
    "deviceowner", "devicehostname",
];

/// Decodes `%HH` sequences (the feed's escape mechanism); invalid sequences stay as they are.
pub fn percent_decode(s: &str) -> String {
    percent_decode_cow(s).into_owned()
}

/// [`percent_decode`] without a copy when there is nothing to decode.
fn percent_decode_cow(s: &str) -> Cow<'_, str> {
    // Most values are short: the memchr crate's small-input path beats `str::contains` here.
    if memchr::memchr(b'%', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    // Copy up to each `%` in one go: most of a value is plain text.
    while let Some(at) = memchr::memchr(b'%', &b[i..]) {
        out.extend_from_slice(&b[i..i + at]);
        i += at;
        if let (Some(h), Some(l)) = (b.get(i + 1).and_then(|c| (*c as char).to_digit(16)), b.get(i + 2).and_then(|c| (*c as char).to_digit(16))) {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b'%');
            i += 1;
        }
    }
    out.extend_from_slice(&b[i..]);
    // Decoded bytes are almost always UTF-8: keep the buffer rather than copy it again.
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Like [`percent_decode_cow`] for a value that may already be owned (JSON with escapes).
fn decode_value(v: Cow<'_, str>) -> Cow<'_, str> {
    match v {
        Cow::Borrowed(b) => percent_decode_cow(b),
        Cow::Owned(o) => match percent_decode_cow(&o) {
            Cow::Borrowed(_) => Cow::Owned(o),
            Cow::Owned(d) => Cow::Owned(d),
        },
    }
}

/// Placeholder values the feeds write for "nothing".
pub fn is_placeholder(v: &str) -> bool {
    // Most values are not padded (`text::trim` then does nothing) and longer than the longest
    // placeholder.
    let v = logfetch_common::text::trim(v);
    v.len() <= 13 && matches!(v, "" | "None" | "NA" | "N/A" | "Unknown" | "NotFound" | "Not available" | "0.0.0.0")
}

/// Every field name the mapping reads. A record finds each of its own fields here once, as it is
/// built; the mapping then reads a field by its slot, written `k!("name")` (resolved at compile
/// time: a name missing here does not compile). Before, each of the forty-odd lookups per record,
/// many of them for absent names, cost a hash and a comparison.
const KEYS: [&str; 71] = [
    "action", "aggregate", "avgduration", "category", "cdip", "cdport", "cloudname", "clt_sip", "company", "cs5", "csip", "csport", "datacenter", "datetime", "department",
    "dept", "destcountry", "devicehostname", "deviceowner", "devicetype", "dnat", "dns_gateway_rule", "dns_gateway_status", "dns_req", "dns_reqtype", "dns_resp", "dnsapp",
    "dnsappcat", "duration", "durationms", "ecs_slot", "epochtime", "error", "inbytes", "ipcat", "ipsrulelabel", "loc", "location", "locationname", "login", "numsessions",
    "nwapp", "nwsvc", "odomcat", "outbytes", "proto", "protocol", "recordid", "req", "reqaction", "reqrulelabel", "reqtype", "res", "resaction", "respipcat",
    "respipcategory", "resrulelabel", "restype", "rulelabel", "sdip", "sdport", "srv_dip", "srv_dport", "ssip", "ssport", "stateful", "threatcat", "threatname", "tsip",
    "tuntype", "user",
];
const _: () = assert!(KEYS.len() < u8::MAX as usize);

/// A field name of [`KEYS`] and its slot; made by `k!`.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    slot: u8,
}

impl Field {
    /// The field `name`; fails to compile (in a `const`) when `name` is not in [`KEYS`].
    const fn new(name: &'static str) -> Field {
        match logfetch_common::text::const_position(&KEYS, name) {
            Some(i) => Field { name, slot: i as u8 },
            None => panic!("a field name the mapping reads must be listed in KEYS"),
        }
    }
}

/// [`Field::new`] for each name, at compile time.
const fn keys<const N: usize>(names: [&'static str; N]) -> [Field; N] {
    let mut out = [Field { name: "", slot: 0 }; N];
    let mut i = 0;
    while i < N {
        out[i] = Field::new(names[i]);
        i += 1;
    }
    out
}

/// `k!("datetime")`: the [`Field`] of a field name, resolved at compile time.
macro_rules! k {
    ($name:literal) => {
        const { Field::new($name) }
    };
}

/// Name → slot in [`KEYS`], for reading a record's names.
static KEY_TABLE: std::sync::LazyLock<NameTable<256>> = std::sync::LazyLock::new(|| NameTable::build(KEYS.len(), |i| KEYS[i].as_bytes()).expect("KEYS fit the table"));

/// A record's fields, values decoded: those the mapping reads (the names of [`KEYS`]) by slot,
/// every other one in `extra`, to be kept in `unmapped` (with `keep_raw = false` nothing else
/// would hold it). Values borrow from the line unless decoding changed them.
pub struct Record<'a> {
    /// The values, in the order read.
    values: Vec<Cow<'a, str>>,
    /// For each name of [`KEYS`], its value's position in `values`, or [`Record::ABSENT`].
    slots: [u8; KEYS.len()],
    /// The fields outside [`KEYS`], (name, decoded value), in the order read, repeats included.
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.held()).entries(self.extra.iter().map(|(k, v)| (k.as_ref(), v))).finish()
    }
}

impl<'a> Record<'a> {
    const ABSENT: u8 = u8::MAX;

    /// The fields held, by name in the order of [`KEYS`], with their values.
    fn held(&self) -> impl Iterator<Item = (&'static str, &Cow<'a, str>)> + '_ {
        KEYS.iter().zip(self.slots).filter(|(_, at)| *at != Self::ABSENT).map(|(name, at)| (*name, &self.values[at as usize]))
    }

    fn empty() -> Self {
        Record { values: Vec::with_capacity(24), slots: [Self::ABSENT; KEYS.len()], extra: Vec::new() }
    }

    /// The slot of `name`, when the mapping reads it.
    #[inline]
    fn slot_of(name: &str) -> Option<usize> {
        KEY_TABLE.find(name.as_bytes(), |j| KEYS[j].as_bytes())
    }

    /// Keeps the value `value` makes for the name of `slot`, unless the record has one already:
    /// a repeated name answers with its first value (and the later ones are not even decoded).
    #[inline]
    fn set(&mut self, slot: usize, value: impl FnOnce() -> Cow<'a, str>) {
        if self.slots[slot] == Self::ABSENT {
            // At most one value per name of `KEYS`, fewer than `ABSENT`.
            self.slots[slot] = self.values.len() as u8;
            self.values.push(value());
        }
    }

    /// The record of `fields` (name, decoded value).
    pub fn new(fields: Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Self {
        Self::collect(fields, |v| v)
    }

    /// The record of `fields` (name, value as written), `decode` applied to the values kept only.
    fn collect(fields: Vec<(Cow<'a, str>, Cow<'a, str>)>, decode: impl Fn(Cow<'a, str>) -> Cow<'a, str>) -> Self {
        let mut r = Self::empty();
        for (name, value) in fields {
            match Self::slot_of(&name) {
                Some(s) => r.set(s, || decode(value)),
                None => r.keep_other(name, || decode(value)),
            }
        }
        r
    }

    /// Keeps a field outside [`KEYS`] for `unmapped`; `sourcetype` names the feed (the Splunk
    /// template's wrapper, or a flat record's member) and is not a field of the record.
    #[inline]
    fn keep_other(&mut self, name: Cow<'a, str>, value: impl FnOnce() -> Cow<'a, str>) {
        if name != "sourcetype" {
            self.extra.push((name, value()));
        }
    }

    fn position(&self, k: Field) -> Option<usize> {
        let at = self.slots[k.slot as usize];
        (at != Self::ABSENT).then_some(at as usize)
    }

    /// Whether the record has a value for `k`, a placeholder or not.
    fn has(&self, k: Field) -> bool {
        self.position(k).is_some()
    }

    /// The value, decoded, or `None` when absent or a placeholder.
    fn get(&self, k: Field) -> Option<&str> {
        self.position(k).map(|i| self.values[i].as_ref()).filter(|v| !is_placeholder(v))
    }

    /// What [`Record::get`] answers, taken out of the record (later lookups of `k` find
    /// nothing): a value that decoding made owned moves on instead of being copied again.
    fn take(&mut self, k: Field) -> Option<Cow<'a, str>> {
        let at = self.position(k)?;
        let v = &mut self.values[at];
        (!is_placeholder(v)).then(|| std::mem::take(v))
    }
    fn any(&self, keys: &[Field]) -> Option<&str> {
        keys.iter().find_map(|&k| self.get(k))
    }
}

/// A JSON record: `{"sourcetype": .., "event": {..}}` (the Splunk template) or a flat object.
/// Strings borrow from the line; numbers and booleans keep their text; nested values other than
/// `event` are ignored.
struct JsonRecord<'a> {
    sourcetype: Option<Cow<'a, str>>,
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    event: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
}

/// One JSON value as text, or `None` for objects, arrays and null.
struct Scalar<'a>(Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar(Some(Cow::Owned(serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string())))))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar<'de>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar<'de>, A::Error> {
                while a.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed from the line unless it holds escapes. (`Cow<str>`'s own
/// `Deserialize` always copies, which cost a heap allocation per key.)
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object's scalar members (`Fields`), or `None` when the value is not an object.
struct Fields<'a>(Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Fields<'de>, A::Error> {
                let mut out = Vec::with_capacity(24);
                while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
                    if let Scalar(Some(v)) = a.next_value::<Scalar<'de>>()? {
                        out.push((k, v));
                    }
                }
                Ok(Fields(Some(out)))
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_unit<E>(self) -> Result<Fields<'de>, E> {
                Ok(Fields(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Fields<'de>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Fields(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for JsonRecord<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonRecord<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<JsonRecord<'de>, A::Error> {
                let mut r = JsonRecord { sourcetype: None, fields: Vec::new(), event: None };
                while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
                    if k == "event" {
                        match a.next_value::<Fields<'de>>()? {
                            Fields(Some(f)) => r.event = Some(f),
                            Fields(None) => {}
                        }
                        continue;
                    }
                    if let Scalar(Some(v)) = a.next_value::<Scalar<'de>>()? {
                        if k == "sourcetype" {
                            r.sourcetype = Some(v.clone());
                        }
                        r.fields.push((k, v));
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

/// The usual NSS JSON line, read without serde: string members without escapes or control
/// characters, canonical unsigned integers, `true`, `false`, `null`, and one nested `event`
/// object of those at the top level. Gives `None` for anything else (escapes, control
/// characters anywhere, other numbers, arrays, other nesting, any syntax error): the line is then
/// read by `serde_json`, which words the errors. Where it answers, the answer is serde's (a test
/// compares the two on mutated lines), with the values percent-decoded: the sourcetype and the
/// record (the `event` object's fields, read straight into it, or else the top level's).
fn read_plain_json(t: &str) -> Option<(Option<Cow<'_, str>>, Record<'_>)> {
    let b = t.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    // Lines up to 4 KiB (all but the odd one) keep their masks on the stack.
    let blocks = b.len().div_ceil(64);
    let mut stack = [0u64; 2 * 64];
    let mut heap = Vec::new();
    let masks: &mut [u64] = if blocks <= 64 {
        &mut stack[..2 * blocks]
    } else {
        heap.resize(2 * blocks, 0);
        &mut heap
    };
    let (quote, percent) = masks.split_at_mut(blocks);
    let line = Line::scan(t, quote, percent)?;
    let (mut pairs, mut sourcetype, mut event) = (Vec::new(), None, None);
    let mut i = 1;
    line.members(&mut i, Members::Top { pairs: &mut pairs, sourcetype: &mut sourcetype, event: &mut event })?;
    skip_ws(b, &mut i);
    if i != b.len() {
        return None;
    }
    Some((sourcetype, event.unwrap_or_else(|| Record::new(pairs))))
}

fn skip_ws(b: &[u8], i: &mut usize) {
    // Tabs and line ends are control characters: a line holding one is left to serde.
    while b.get(*i) == Some(&b' ') {
        *i += 1;
    }
}

/// Where [`Line::members`] puts an object's members.
enum Members<'r, 'a> {
    /// The top level's: every scalar member with its name, the sourcetype, and the `event`
    /// object's record (the last one, as serde's reading keeps).
    Top { pairs: &'r mut Vec<(Cow<'a, str>, Cow<'a, str>)>, sourcetype: &'r mut Option<Cow<'a, str>>, event: &'r mut Option<Record<'a>> },
    /// The `event` object's: straight into its record.
    Event(&'r mut Record<'a>),
}

/// A line without backslashes or control characters, with its `"` and `%` bytes as bit masks
/// (bit k of block j is byte 64j + k), found in one pass of 64 bytes at a time. In such a line
/// every string ends at the next quote, and a value needs percent-decoding only if a `%` lies
/// inside it.
struct Line<'a, 'm> {
    t: &'a str,
    quote: &'m [u64],
    percent: &'m [u64],
}

impl<'a, 'm> Line<'a, 'm> {
    /// `None` when the line holds a backslash or a control character.
    fn scan(t: &'a str, quote: &'m mut [u64], percent: &'m mut [u64]) -> Option<Self> {
        let b = t.as_bytes();
        let mut escape = 0;
        for (j, (q, p)) in quote.iter_mut().zip(percent.iter_mut()).enumerate() {
            let at = j * 64;
            let m = match b.get(at..at + 64) {
                Some(full) => logfetch_common::json::block_masks(full.try_into().expect("64 bytes"), b'%'),
                None => {
                    // The last, partial block, padded with spaces (neither class).
                    let mut tail = [b' '; 64];
                    tail[..b.len() - at].copy_from_slice(&b[at..]);
                    logfetch_common::json::block_masks(&tail, b'%')
                }
            };
            (*q, *p) = (m.quote, m.extra);
            escape |= m.escape;
        }
        (escape == 0).then_some(Line { t, quote, percent })
    }

    /// The first `"` at or after byte `from`.
    fn next_quote(&self, from: usize) -> Option<usize> {
        let mut j = from / 64;
        let mut m = *self.quote.get(j)? & (!0u64 << (from % 64));
        while m == 0 {
            j += 1;
            m = *self.quote.get(j)?;
        }
        Some(j * 64 + m.trailing_zeros() as usize)
    }

    /// Whether a `%` lies in bytes `start..end`.
    fn any_percent(&self, start: usize, end: usize) -> bool {
        if end <= start {
            return false;
        }
        let (first, last) = (start / 64, (end - 1) / 64);
        (first..=last).any(|j| {
            let mut m = self.percent[j];
            if j == first {
                m &= !0u64 << (start % 64);
            }
            if j == last && !end.is_multiple_of(64) {
                m &= (1u64 << (end % 64)) - 1;
            }
            m != 0
        })
    }

    /// The string whose `"` is at `*i`, borrowed; `*i` moves past it.
    #[inline]
    fn string(&self, i: &mut usize) -> Option<&'a str> {
        if self.t.as_bytes().get(*i) != Some(&b'"') {
            return None;
        }
        let start = *i + 1;
        let end = self.next_quote(start)?;
        *i = end + 1;
        // Both ends are ASCII quotes, so this is a whole-character slice of the line.
        Some(&self.t[start..end])
    }

    /// [`Line::string`] for a value: also whether it holds a `%` (a key's is never decoded).
    #[inline]
    fn value_string(&self, i: &mut usize) -> Option<(&'a str, bool)> {
        let s = self.string(i)?;
        let end = *i - 1;
        Some((s, self.any_percent(end - s.len(), end)))
    }

    /// The members of an object whose `{` is behind `*i`, through its `}`, into `out`; nested
    /// objects (other than the top level's `event`) give `None`.
    fn members(&self, i: &mut usize, mut out: Members<'_, 'a>) -> Option<()> {
        let (t, b) = (self.t, self.t.as_bytes());
        skip_ws(b, i);
        if b.get(*i) == Some(&b'}') {
            *i += 1;
            return Some(());
        }
        loop {
            skip_ws(b, i);
            let key = self.string(i)?;
            skip_ws(b, i);
            if b.get(*i) != Some(&b':') {
                return None;
            }
            *i += 1;
            skip_ws(b, i);
            // The value as written, and whether it needs decoding.
            let value: Option<(&'a str, bool)> = match *b.get(*i)? {
                b'"' => Some(self.value_string(i)?),
                b'{' if key == "event" && matches!(out, Members::Top { .. }) => {
                    *i += 1;
                    if let Members::Top { event, .. } = &mut out {
                        self.members(i, Members::Event(event.insert(Record::empty())))?;
                    }
                    None
                }
                b'0'..=b'9' => {
                    let start = *i;
                    while b.get(*i).is_some_and(u8::is_ascii_digit) {
                        *i += 1;
                    }
                    // Serde reads the number and writes it again: the same text only for these.
                    let digits = &t[start..*i];
                    if (digits.len() > 1 && digits.starts_with('0')) || digits.len() > 19 || matches!(b.get(*i), Some(b'.' | b'e' | b'E')) {
                        return None;
                    }
                    Some((digits, false))
                }
                b't' if b[*i..].starts_with(b"true") => {
                    *i += 4;
                    Some(("true", false))
                }
                b'f' if b[*i..].starts_with(b"false") => {
                    *i += 5;
                    Some(("false", false))
                }
                b'n' if b[*i..].starts_with(b"null") => {
                    *i += 4;
                    None
                }
                _ => return None,
            };
            if let Some((v, encoded)) = value {
                match &mut out {
                    Members::Event(rec) => match Record::slot_of(key) {
                        // One call per case: a borrowed value is then stored straight from
                        // registers. Made on the stack by either branch and copied from there, it
                        // was loaded wider than stored (a stalled store forward, a fifth of this
                        // function's time).
                        Some(s) if encoded => rec.set(s, || percent_decode_cow(v)),
                        Some(s) => rec.set(s, || Cow::Borrowed(v)),
                        None if encoded => rec.keep_other(Cow::Borrowed(key), || percent_decode_cow(v)),
                        None => rec.keep_other(Cow::Borrowed(key), || Cow::Borrowed(v)),
                    },
                    // A top-level `event` that is not an object is left out, as serde's reading does.
                    Members::Top { .. } if key == "event" => {}
                    Members::Top { pairs, sourcetype, .. } => {
                        if key == "sourcetype" {
                            **sourcetype = Some(Cow::Borrowed(v));
                        }
                        pairs.push((Cow::Borrowed(key), if encoded { percent_decode_cow(v) } else { Cow::Borrowed(v) }));
                    }
                }
            }
            skip_ws(b, i);
            match b.get(*i)? {
                b',' => *i += 1,
                b'}' => {
                    *i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The feed a JSON record's `sourcetype` names.
fn feed_of(sourcetype: Option<&str>) -> Option<Feed> {
    match sourcetype {
        Some(s) if s.contains("dns") => Some(Feed::Dns),
        Some(s) if s.contains("fw") || s.contains("firewall") => Some(Feed::Firewall),
        _ => None,
    }
}

/// The record of what `serde_json` read: the `event` object's fields, or else the top level's,
/// the ones the mapping reads percent-decoded.
fn from_json(r: JsonRecord<'_>) -> (Option<Feed>, Record<'_>) {
    (feed_of(r.sourcetype.as_deref()), Record::collect(r.event.unwrap_or(r.fields), decode_value))
}

fn guess_feed(r: &Record) -> Option<Feed> {
    if r.has(k!("dns_req")) || r.has(k!("dns_reqtype")) {
        Some(Feed::Dns)
    } else if r.has(k!("cdip")) || r.has(k!("csip")) || r.has(k!("nwsvc")) {
        Some(Feed::Firewall)
    } else {
        None
    }
}

/// Reads any of the supported record shapes.
pub fn read(line: &str) -> Result<(Feed, Record<'_>), String> {
    let t = line.trim();
    let (feed, rec) = if t.starts_with('{') {
        match read_plain_json(t) {
            Some((sourcetype, rec)) => (feed_of(sourcetype.as_deref()), rec),
            None => from_json(serde_json::from_str(t).map_err(|e| format!("not JSON: {e}"))?),
        }
    } else if t.contains('\t') && t.split('\t').next().is_some_and(|f| !f.contains('=')) {
        let cols = logfetch_common::text::split_delimited(t, '\t');
        delimited(cols)?
    } else if t.starts_with('"') || t.matches(',').count() >= 10 {
        delimited(logfetch_common::text::split_delimited(t, ','))?
    } else if t.contains('=') {
        // Name-value pairs, tab or space separated.
        let sep = if t.contains('\t') { '\t' } else { ' ' };
        let fields = t.split(sep).filter_map(|p| p.split_once('=')).map(|(k, v)| (Cow::Borrowed(k.trim()), percent_decode_cow(v.trim().trim_matches('"')))).collect();
        (None, Record::new(fields))
    } else {
        return Err("not a Zscaler NSS record (JSON, CSV, tab-separated or name=value)".into());
    };
    let feed = feed.or_else(|| guess_feed(&rec)).ok_or("cannot tell whether this is a DNS or a firewall record (no dns_req or csip/cdip)")?;
    Ok((feed, rec))
}

fn delimited(cols: Vec<String>) -> Result<(Option<Feed>, Record<'static>), String> {
    let (feed, names) = match cols.len() {
        36 => (Feed::Firewall, FW_COLUMNS),
        19 => (Feed::Dns, DNS_COLUMNS),
        15..=18 => (Feed::Dns, DNS_COLUMNS),
        n => return Err(format!("{n} columns match neither the default DNS (19) nor firewall (36) layout")),
    };
    let fields = names.iter().zip(cols).map(|(k, v)| (Cow::Borrowed(*k), Cow::Owned(percent_decode(&v)))).collect();
    Ok((Some(feed), Record::new(fields)))
}

fn ip(r: &Record, k: Field) -> Result<Option<IpAddr>, String> {
    r.get(k).map(|v| logfetch_common::text::parse_ip(v).ok_or_else(|| format!("field `{}`: `{v}` is not an IP address", k.name))).transpose()
}
fn port(r: &Record, k: Field) -> Result<Option<u16>, String> {
    r.get(k).filter(|v| *v != "0").map(|v| v.parse().map_err(|_| format!("field `{}`: `{v}` is not a port", k.name))).transpose()
}
fn num(r: &Record, k: Field) -> Result<Option<u64>, String> {
    r.get(k).map(|v| v.parse().map_err(|_| format!("field `{}`: `{v}` is not a number", k.name))).transpose()
}

fn envelope(r: &Record, raw: &str, ctx: &ParseContext, feed: Feed) -> Result<Envelope, String> {
    let time = match (r.get(k!("epochtime")), r.get(k!("datetime"))) {
        (_, Some(dt)) => logfetch_common::time::parse_vendor_time(dt, ctx.tz, ctx.now).map_err(|e| format!("field `datetime`: {e}"))?,
        (Some(ep), None) => logfetch_common::time::parse_vendor_time(ep, ctx.tz, ctx.now).map_err(|e| format!("field `epochtime`: {e}"))?,
        (None, None) => return Err("field `datetime` is missing".into()),
    };
    // `recordid` is not documented as unique (the fixtures repeat it), so the stable id is the
    // hash of the record itself: a replayed record gets the same id, a different one does not.
    let mut env = Envelope::new(&ctx.tenant, "Zscaler", "Internet Access", "zscaler", time, None, raw, ctx.keep_raw);
    env.original_time = r.get(k!("datetime")).map(str::to_string);
    env.event_code = Some(match feed {
        Feed::Dns => "zscalernss-dns".into(),
        Feed::Firewall => "zscalernss-fw".into(),
    });
    Ok(env)
}

/// Fields of [`KEYS`] kept in `unmapped` as the feed wrote them: the envelope's (user and device
/// context), the DNS feed's own (the common ones listed here so that their names are not copied
/// per record), and the alternatives the mapping may not have used (`epochtime`
/// beside `datetime`, `login` beside `user`), in name order, so each lands at the end of the
/// sorted list. Fields outside [`KEYS`] follow them ([`keep_unmapped`]).
const DNS_UNMAPPED: [Field; 30] = keys([
    "category", "cloudname", "company", "datacenter", "department", "dept", "devicehostname", "deviceowner", "devicetype", "dns_gateway_rule", "dns_gateway_status",
    "dnsapp", "dnsappcat", "durationms", "ecs_slot", "epochtime", "error", "loc", "location", "locationname", "login", "odomcat", "recordid", "reqaction", "reqrulelabel",
    "resaction", "respipcat", "respipcategory", "resrulelabel", "restype",
]);
/// The same for the firewall feed.
const FW_UNMAPPED: [Field; 23] = keys([
    "category", "cloudname", "company", "datacenter", "department", "dept", "destcountry", "devicehostname", "deviceowner", "devicetype", "epochtime", "ipcat", "ipsrulelabel", "loc", "location", "locationname", "nwsvc", "recordid",
    "stateful", "threatcat", "threatname", "tsip", "tuntype",
]);

/// Moves the `names` fields into `um`, placeholders left out.
fn keep_fields(r: &mut Record, names: &[Field], um: &mut Unmapped) {
    for &k in names {
        if let Some(v) = r.take(k) {
            um.insert(k.name, serde_json::Value::String(v.into_owned()));
        }
    }
}

/// Moves the `names` fields and every field outside [`KEYS`] into `um`, placeholders left out;
/// the mapping's last look at them. Of a repeated name the first value stays, as for the others.
fn keep_unmapped(r: &mut Record, names: &[Field], um: &mut Unmapped) {
    keep_fields(r, names, um);
    for (name, v) in r.extra.drain(..) {
        if !is_placeholder(&v) {
            um.insert_new(name.into_owned(), || serde_json::Value::String(v.into_owned()));
        }
    }
}

fn action(a: Option<&str>) -> Disposition {
    // Case-insensitive, without a lower-cased copy (two per DNS record).
    let a = a.unwrap_or("").as_bytes();
    let has = |word: &str| a.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()));
    if has("allow") {
        Disposition::Allowed
    } else if has("block") || has("deny") {
        Disposition::Blocked
    } else if has("drop") {
        Disposition::Dropped
    } else if has("reset") {
        Disposition::Reset
    } else {
        Disposition::Unknown
    }
}

/// `A record` → `A`, `AAAA` → `AAAA`.
fn rr_type(t: &str) -> String {
    let mut t = t.trim();
    // As `trim_end_matches(" record")`, without building a substring searcher per record.
    while let Some(rest) = t.strip_suffix(" record") {
        t = rest;
    }
    t.trim().to_ascii_uppercase()
}

/// The event is built where it ends up, in the one-element vector the parser returns: moving a
/// finished event (about 1 KB) into place, two or three times, showed in the profile.
fn map_dns(r: &mut Record, raw: &str, ctx: &ParseContext) -> Result<Vec<Event>, String> {
    let q = r.any(&[k!("dns_req"), k!("req"), k!("cs5")]).ok_or("field `dns_req` is missing or a placeholder")?;
    let env = envelope(r, raw, ctx, Feed::Dns)?;
    let client = ip(r, k!("clt_sip"))?;
    let (server, server_port) = (ip(r, k!("srv_dip"))?, port(r, k!("srv_dport"))?);
    let mut out = Vec::with_capacity(1);
    out.push(Event::Dns(DnsEvent::new(env, DnsActivity::Traffic, q)));
    if let Some(Event::Dns(d)) = out.last_mut() {
        fill_dns(r, d, client, server, server_port);
    }
    Ok(out)
}

fn fill_dns(r: &mut Record, d: &mut DnsEvent, client: Option<IpAddr>, server: Option<IpAddr>, server_port: Option<u16>) {
    d.client = Endpoint { ip: client, ..Endpoint::default() };
    d.server = Endpoint { ip: server, port: server_port, ..Endpoint::default() };
    d.query_type = r.any(&[k!("dns_reqtype"), k!("reqtype")]).map(rr_type);
    if let Some(resp) = r.any(&[k!("dns_resp"), k!("res")]) {
        // The response is an address, a name, or an error text such as `NXDOMAIN`.
        if let Some(code) = logfetch_common::event::rcode_from_text(resp).filter(|_| !resp.chars().all(|c| c.is_ascii_digit())) {
            d.rcode = Some(code);
        } else {
            let rtype = match logfetch_common::text::parse_ip(resp) {
                Some(IpAddr::V4(_)) => Some("A".into()),
                Some(IpAddr::V6(_)) => Some("AAAA".into()),
                None => d.query_type.clone().map(Into::into),
            };
            d.answers.push(DnsAnswer { rtype, class: Some("IN".into()), data: resp.to_string(), ttl: None });
            d.rcode = Some(0);
        }
    }
    let (req, res) = (r.get(k!("reqaction")), r.get(k!("resaction")));
    d.disposition = match (action(req), action(res)) {
        (Disposition::Unknown, x) => x,
        (x, Disposition::Allowed) | (x, Disposition::Unknown) => x,
        (_, x) => x,
    };
    d.rule = r.any(&[k!("resrulelabel"), k!("reqrulelabel")]).map(str::to_string);
    d.user = r.any(&[k!("user"), k!("login")]).map(str::to_string);
    d.protocol_num = r.get(k!("protocol")).and_then(protocol_number);
    keep_unmapped(r, &DNS_UNMAPPED, &mut d.envelope.unmapped);
}

fn map_fw(r: &mut Record, raw: &str, ctx: &ParseContext) -> Result<Event, String> {
    let env = envelope(r, raw, ctx, Feed::Firewall)?;
    let disp = action(r.get(k!("action")));
    // Aggregated records (zscaler.md §4.2) summarise several sessions: a traffic report, not one
    // connection's open or close.
    let aggregate = r.get(k!("aggregate")).is_some_and(|a| a.eq_ignore_ascii_case("yes"));
    let activity = if disp.is_denied() { FlowActivity::Refuse } else { FlowActivity::Traffic };
    let mut f = FlowEvent::new(env, activity);
    f.src = Endpoint { ip: ip(r, k!("csip"))?, port: port(r, k!("csport"))?, nat_ip: ip(r, k!("ssip"))?, nat_port: port(r, k!("ssport"))?, user: r.get(k!("user")).map(str::to_string), ..Endpoint::default() };
    let dnat = r.get(k!("dnat")).is_some_and(|d| d.eq_ignore_ascii_case("yes"));
    f.dst = Endpoint {
        ip: ip(r, k!("cdip"))?,
        port: port(r, k!("cdport"))?,
        nat_ip: if dnat { ip(r, k!("sdip"))? } else { None },
        nat_port: if dnat { port(r, k!("sdport"))? } else { None },
        ..Endpoint::default()
    };
    // The server side's address: the NAT target with DNAT, or what was reached when the client's
    // destination is unknown (0.0.0.0); else kept in `unmapped` below.
    let server_side_mapped = dnat || f.dst.ip.is_none();
    if f.dst.ip.is_none() {
        f.dst.ip = ip(r, k!("sdip"))?;
        f.dst.port = f.dst.port.or(port(r, k!("sdport"))?);
    }
    f.protocol_num = r.get(k!("proto")).and_then(protocol_number);
    // CEF `out` / `in` (zscaler.md §4.1): client → server and back.
    f.bytes_out = num(r, k!("outbytes"))?;
    f.bytes_in = num(r, k!("inbytes"))?;
    f.disposition = disp;
    f.rule = r.get(k!("rulelabel")).map(str::to_string);
    f.application = r.any(&[k!("nwapp"), k!("nwsvc")]).map(str::to_string);
    f.user = r.get(k!("user")).map(str::to_string);
    f.duration_ms = num(r, k!("durationms"))?.or(num(r, k!("duration"))?.and_then(|s| s.checked_mul(1000)));
    let um = &mut f.envelope.unmapped;
    if !server_side_mapped {
        keep_fields(r, &[k!("sdip"), k!("sdport")], um);
    }
    keep_unmapped(r, &FW_UNMAPPED, um);
    um.insert("aggregated", aggregate.into());
    if let Some(n) = num(r, k!("numsessions"))? {
        um.insert("numsessions", n.into());
    }
    if let Some(v) = num(r, k!("avgduration"))? {
        um.insert("avgduration_ms", v.into());
    }
    // Addresses can all be `0.0.0.0` (sanitised exports, some tunnel types): the record still
    // carries ports, bytes, user and action, so it is kept rather than rejected.
    Ok(Event::Flow(f))
}

impl RecordParser for ZscalerParser {
    fn vendor(&self) -> &'static str {
        "zscaler"
    }

    fn parse(&self, record: &str, ctx: &ParseContext) -> ParseOutcome {
        let line = record.trim_end_matches(['\r', '\n']);
        let result = read(line).and_then(|(feed, mut rec)| match feed {
            Feed::Dns => map_dns(&mut rec, line, ctx),
            Feed::Firewall => map_fw(&mut rec, line, ctx).map(|ev| vec![ev]),
        });
        match result {
            Ok(events) => ParseOutcome::Events(events),
            Err(reason) => ParseOutcome::Rejected { reason },
        }
    }
}

#[cfg(test)]
mod tests;
