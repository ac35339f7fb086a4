//! The other forwarding formats: Strata Logging Service / HTTPS JSON records (including the DNS
//! Security log, paloalto.md §4.5), and CEF / LEEF key=value records.

use std::net::IpAddr;

use logfetch_common::event::{DnsActivity, DnsAnswer, DnsEvent, Endpoint, Envelope, Event};
use serde_json::Value;

use super::layout::Col;
use super::map::{Fields, Origin};
use crate::ParseContext;

/// JSON records seen through [`Fields`] with the CSV/XML field names.
pub struct JsonFields<'a>(pub &'a serde_json::Map<String, Value>);

/// SLS HTTPS names for the CSV/XML names the mapping uses.
const JSON_NAMES: &[(&str, &[&str])] = &[
    ("type", &["LogType", "Type"]),
    ("subtype", &["SubType", "Subtype"]),
    ("src", &["SourceAddress", "SourceIP"]),
    ("dst", &["DestinationAddress", "DestinationIP"]),
    ("natsrc", &["NATSource"]),
    ("natdst", &["NATDestination"]),
    ("sport", &["SourcePort"]),
    ("dport", &["DestinationPort"]),
    ("natsport", &["NATSourcePort"]),
    ("natdport", &["NATDestinationPort"]),
    ("proto", &["Protocol"]),
    ("action", &["Action"]),
    ("rule", &["Rule"]),
    ("app", &["Application"]),
    ("from", &["FromZone"]),
    ("to", &["ToZone"]),
    ("inbound_if", &["InboundInterface"]),
    ("outbound_if", &["OutboundInterface"]),
    ("srcuser", &["SourceUser"]),
    ("dstuser", &["DestinationUser"]),
    ("bytes", &["Bytes"]),
    ("bytes_sent", &["BytesSent"]),
    ("bytes_received", &["BytesReceived"]),
    ("packets", &["Packets"]),
    ("pkts_sent", &["PacketsSent"]),
    ("pkts_received", &["PacketsReceived"]),
    ("sessionid", &["SessionID"]),
    ("seqno", &["SequenceNo"]),
    ("serial", &["DeviceSN", "LogSourceID"]),
    ("device_name", &["DeviceName", "LogSourceName"]),
    ("time_generated", &["TimeGenerated"]),
    ("receive_time", &["TimeReceived"]),
    ("elapsed", &["SessionDuration"]),
    ("session_end_reason", &["SessionEndReason"]),
    ("start", &["SessionStartTime"]),
];

impl Fields for JsonFields<'_> {
    fn raw(&self, c: Col) -> Option<&str> {
        let name = c.name;
        let keys = JSON_NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).unwrap_or(&[]);
        keys.iter().find_map(|k| match self.0.get(*k) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        })
    }
}

fn json_num(m: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A JSON record: DNS Security → DNS event; TRAFFIC → flow event; else `None`.
pub fn json(line: &str, o: Origin<'_>, ctx: &ParseContext) -> Result<Option<Event>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let m = v.as_object().ok_or("a JSON record must be an object")?;
    // An XML API entry the pull client handed on as JSON (XML field names).
    if m.get("_panos_entry") == Some(&Value::Bool(true)) {
        let entry = super::map::Entry { fields: m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect() };
        let kind = entry.get(super::map::col!("type")).unwrap_or("").to_string();
        return match kind.as_str() {
            "TRAFFIC" => super::map::traffic(&entry, o, ctx).map(Some),
            "THREAT" => super::map::threat(&entry, o, ctx),
            _ => Ok(None),
        };
    }
    let log_type = m.get("LogType").or(m.get("Type")).and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
    // Numbers may come as JSON numbers: normalise into strings the shared mapping can read.
    let mut norm = m.clone();
    for k in ["SourcePort", "DestinationPort", "NATSourcePort", "NATDestinationPort", "Bytes", "BytesSent", "BytesReceived", "Packets", "PacketsSent", "PacketsReceived", "SessionID", "SequenceNo", "SessionDuration"] {
        if let Some(s) = json_num(m, k) {
            norm.insert(k.into(), Value::String(s));
        }
    }
    let f = JsonFields(&norm);
    match log_type.as_str() {
        "TRAFFIC" => super::map::traffic(&f, o, ctx).map(Some),
        "DNS" => dns_security(m, o, ctx).map(Some),
        "THREAT" => super::map::threat(&f, o, ctx),
        _ => Ok(None),
    }
}

fn dns_security(m: &serde_json::Map<String, Value>, o: Origin<'_>, ctx: &ParseContext) -> Result<Event, String> {
    let s = |k: &str| m.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let t = s("TimeGenerated").or(s("TimeReceived")).ok_or("field `TimeGenerated` is missing")?;
    let time = logfetch_common::time::parse_vendor_time(t, ctx.tz, ctx.now).map_err(|e| format!("field `TimeGenerated`: {e}"))?;
    let query = s("DNSRequestName").or(s("FQDN")).ok_or("field `FQDN` (or `DNSRequestName`) is missing")?;
    let mut env = Envelope::new(&ctx.tenant, "Palo Alto Networks", "PAN-OS", "paloalto", time, None, o.raw, ctx.keep_raw);
    env.original_time = Some(t.to_string());
    env.event_code = Some(format!("DNS/{}", s("SubType").or(s("Subtype")).unwrap_or("")).into());
    env.observer.serial = s("DeviceSN").map(str::to_string);
    env.observer.name = s("DeviceName").map(str::to_string);
    let mut d = DnsEvent::new(env, DnsActivity::Traffic, query);
    let ip = |k: &str| -> Result<Option<IpAddr>, String> { s(k).map(|v| v.parse().map_err(|_| format!("field `{k}`: `{v}` is not an IP address"))).transpose() };
    d.client = Endpoint { ip: ip("SourceAddress")?, zone: s("FromZone").map(str::to_string), user: s("SourceUser").map(str::to_string), ..Endpoint::default() };
    d.server = Endpoint { ip: ip("DNSResolverIP")?, zone: s("ToZone").map(str::to_string), ..Endpoint::default() };
    // RecordType lists one type per answer ("cname,cname,a"); DNSResponse holds the answers.
    let types: Vec<String> = s("RecordType").map(|r| r.split(',').map(|x| x.trim().to_ascii_uppercase()).collect()).unwrap_or_default();
    let answers: Vec<String> = match m.get("DNSResponse").or(m.get("DNSRdata")) {
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        Some(Value::String(x)) if !x.is_empty() => vec![x.clone()],
        _ => Vec::new(),
    };
    d.query_type = types.last().cloned().or_else(|| s("DNSResponseType").map(str::to_string));
    d.answers = answers
        .iter()
        .enumerate()
        .map(|(i, a)| DnsAnswer { rtype: types.get(i).map(|t| t.clone().into()), class: Some("IN".into()), data: a.clone(), ttl: None })
        .collect();
    d.rcode = match m.get("DNSResponseCode") {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u16),
        Some(Value::String(x)) => logfetch_common::event::rcode_from_text(x),
        _ => None,
    };
    d.disposition = match s("Action").map(logfetch_common::text::ascii_lower).as_deref() {
        Some("allow") => logfetch_common::event::Disposition::Allowed,
        Some("sinkhole") | Some("block") | Some("drop") => logfetch_common::event::Disposition::Blocked,
        Some("alert") => logfetch_common::event::Disposition::Alert,
        _ => logfetch_common::event::Disposition::Unknown,
    };
    for k in ["DNSCategory", "ThreatName", "ThreatID", "SubType"] {
        if let Some(v) = m.get(k) {
            d.envelope.unmapped.insert(k, v.clone());
        }
    }
    Ok(Event::Dns(d))
}

/// CEF (`CEF:0|Palo Alto Networks|PAN-OS|ver|type|name|sev|k=v ...`) and LEEF
/// (`LEEF:1.0|Palo Alto Networks|PAN-OS|ver|type|k=v<TAB>...`) extensions, read with the
/// standard CEF keys mapped onto the CSV names.
pub struct KvFields {
    pub header_type: String,
    pub kv: Vec<(String, String)>,
}

const CEF_NAMES: &[(&str, &[&str])] = &[
    ("src", &["src"]),
    ("dst", &["dst"]),
    ("natsrc", &["sourceTranslatedAddress"]),
    ("natdst", &["destinationTranslatedAddress"]),
    ("sport", &["spt", "srcPort"]),
    ("dport", &["dpt", "dstPort"]),
    ("natsport", &["sourceTranslatedPort"]),
    ("natdport", &["destinationTranslatedPort"]),
    ("proto", &["proto"]),
    ("action", &["act", "action"]),
    ("rule", &["cs1", "RuleName"]),
    ("app", &["app", "Application"]),
    ("from", &["cs4", "SrcZone"]),
    ("to", &["cs5", "DstZone"]),
    ("inbound_if", &["deviceInboundInterface", "IngressInterface"]),
    ("outbound_if", &["deviceOutboundInterface", "EgressInterface"]),
    ("srcuser", &["suser", "usrName"]),
    ("dstuser", &["duser"]),
    ("bytes_sent", &["out", "srcBytes"]),
    ("bytes_received", &["in", "dstBytes"]),
    ("bytes", &["cn1", "totalBytes"]),
    ("sessionid", &["cn1", "SessionID"]),
    ("seqno", &["externalId", "SequenceNumber"]),
    ("serial", &["deviceExternalId", "SerialNumber"]),
    ("device_name", &["dvchost", "DeviceName"]),
    ("time_generated", &["rt", "devTime"]),
    ("receive_time", &["ReceiveTime"]),
    ("subtype", &["cat", "Subtype"]),
    ("threatid", &["threatid", "ThreatID"]),
    ("pkts_sent", &["cfp3", "PacketsSent"]),
    ("pkts_received", &["cfp4", "PacketsReceived"]),
];

impl Fields for KvFields {
    fn raw(&self, c: Col) -> Option<&str> {
        let name = c.name;
        if name == "type" {
            return Some(&self.header_type);
        }
        let keys = CEF_NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).unwrap_or(&[]);
        keys.iter().find_map(|k| self.kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str()))
    }
}

/// Splits a CEF extension (`k=v k2=v with spaces`), honouring `\=` and `\\` escapes.
pub fn cef_extension(ext: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut key = String::new();
    let mut val = String::new();
    let mut in_val = false;
    let chars: Vec<char> = ext.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_val {
            if c == '\\' && i + 1 < chars.len() {
                val.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == '=' {
                // The last word of `val` was the next key.
                let (v, k) = match val.trim_end().rsplit_once(' ') {
                    Some((v, k)) => (v.to_string(), k.to_string()),
                    None => (String::new(), val.trim().to_string()),
                };
                out.push((std::mem::take(&mut key), v.trim().to_string()));
                key = k;
                val.clear();
            } else {
                val.push(c);
            }
        } else if c == '=' {
            in_val = true;
        } else {
            key.push(c);
        }
        i += 1;
    }
    if !key.is_empty() {
        out.push((key.trim().to_string(), val.trim().to_string()));
    }
    out
}

/// Parses a CEF or LEEF record; `None` for log types that are not flow or DNS.
pub fn cef_or_leef(rec: &str, o: Origin<'_>, ctx: &ParseContext) -> Result<Option<Event>, String> {
    let (is_cef, body) = match (rec.find("CEF:"), rec.find("LEEF:")) {
        (Some(i), _) => (true, &rec[i..]),
        (None, Some(i)) => (false, &rec[i..]),
        _ => return Err("neither CEF nor LEEF".into()),
    };
    let parts: Vec<&str> = body.splitn(if is_cef { 8 } else { 6 }, '|').collect();
    let need = if is_cef { 8 } else { 6 };
    if parts.len() < need {
        return Err(format!("{} header has {} of {need} fields", if is_cef { "CEF" } else { "LEEF" }, parts.len()));
    }
    // PAN-OS puts `subtype|type` in CEF's event-class-id|name and the type in LEEF's event id.
    const TYPES: [&str; 6] = ["TRAFFIC", "THREAT", "SYSTEM", "CONFIG", "URL", "DNS"];
    let header_type = [parts[4], parts.get(5).copied().unwrap_or("")]
        .iter()
        .map(|p| p.trim().to_ascii_uppercase())
        .find(|p| TYPES.contains(&p.as_str()))
        .unwrap_or_else(|| parts[4].trim().to_ascii_uppercase());
    let header_subtype = if is_cef && parts[5].trim().eq_ignore_ascii_case(&header_type) { Some(parts[4].trim().to_string()) } else { None };
    let ext = parts[need - 1];
    let kv = if is_cef {
        cef_extension(ext)
    } else {
        // LEEF 1.0 separates with TAB; LEEF 2.0 names its delimiter in an extra header field.
        let (delim, ext) = if body.starts_with("LEEF:2.0") {
            let mut p = ext.splitn(2, '|');
            let d = p.next().unwrap_or("\t");
            let d = if let Some(hex) = d.strip_prefix("0x").or(d.strip_prefix("x")) { u8::from_str_radix(hex, 16).map(|b| (b as char).to_string()).unwrap_or_else(|_| "\t".into()) } else { d.to_string() };
            (d, p.next().unwrap_or(""))
        } else {
            ("\t".to_string(), ext)
        };
        ext.split(delim.as_str()).filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
    };
    let mut kv = kv;
    if let Some(st) = header_subtype {
        if !kv.iter().any(|(k, _)| k == "cat" || k == "Subtype") {
            kv.push(("cat".into(), st));
        }
    }
    let f = KvFields { header_type: header_type.clone(), kv };
    match header_type.as_str() {
        "TRAFFIC" => super::map::traffic(&f, o, ctx).map(Some),
        "THREAT" => super::map::threat(&f, o, ctx),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cef_extension_with_spaces_and_escapes() {
        let kv = cef_extension("src=10.0.0.1 dst=192.0.2.1 cs1=Allow web out spt=5000 msg=a\\=b");
        assert_eq!(kv, [("src".into(), "10.0.0.1".into()), ("dst".into(), "192.0.2.1".into()), ("cs1".into(), "Allow web out".into()), ("spt".into(), "5000".into()), ("msg".into(), "a=b".into())]);
    }
}
