//! The feed output formats to paste into the ZIA admin portal (zscaler.md §3.3, §4.3): JSON
//! layouts whose keys are exactly what [`super::ZscalerParser`] reads. Broken hand-edited
//! templates are the most common way Zscaler ingestion fails; this removes that step.

use super::Feed;

/// How the feed is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// NSS VM over TCP (one record per line).
    Nss,
    /// Cloud NSS over HTTPS.
    CloudNss,
}

const DNS_FIELDS: &[(&str, &str)] = &[
    ("datetime", "%s{time}"),
    ("epochtime", "%d{epochtime}"),
    ("user", "%s{elogin}"),
    ("department", "%s{edepartment}"),
    ("location", "%s{elocation}"),
    ("reqaction", "%s{reqaction}"),
    ("resaction", "%s{resaction}"),
    ("reqrulelabel", "%s{reqrulelabel}"),
    ("resrulelabel", "%s{resrulelabel}"),
    ("dns_reqtype", "%s{reqtype}"),
    ("dns_req", "%s{req}"),
    ("dns_resp", "%s{res}"),
    ("srv_dport", "%d{sport}"),
    ("durationms", "%d{durationms}"),
    ("clt_sip", "%s{cip}"),
    ("srv_dip", "%s{sip}"),
    ("category", "%s{domcat}"),
    ("deviceowner", "%s{deviceowner}"),
    ("devicehostname", "%s{devicehostname}"),
];

const FW_FIELDS: &[(&str, &str)] = &[
    ("datetime", "%s{time}"),
    ("user", "%s{elogin}"),
    ("department", "%s{edepartment}"),
    ("locationname", "%s{elocation}"),
    ("cdport", "%d{cdport}"),
    ("csport", "%d{csport}"),
    ("sdport", "%d{sdport}"),
    ("ssport", "%d{ssport}"),
    ("csip", "%s{csip}"),
    ("cdip", "%s{cdip}"),
    ("ssip", "%s{ssip}"),
    ("sdip", "%s{sdip}"),
    ("tsip", "%s{tsip}"),
    ("tunsport", "%d{tsport}"),
    ("tuntype", "%s{ttype}"),
    ("action", "%s{action}"),
    ("dnat", "%s{dnat}"),
    ("stateful", "%s{stateful}"),
    ("aggregate", "%s{aggregate}"),
    ("nwsvc", "%s{nwsvc}"),
    ("nwapp", "%s{nwapp}"),
    ("proto", "%s{ipproto}"),
    ("ipcat", "%s{ipcat}"),
    ("destcountry", "%s{destcountry}"),
    ("avgduration", "%d{avgduration}"),
    ("rulelabel", "%s{erulelabel}"),
    ("inbytes", "%ld{inbytes}"),
    ("outbytes", "%ld{outbytes}"),
    ("duration", "%d{duration}"),
    ("durationms", "%d{durationms}"),
    ("numsessions", "%d{numsessions}"),
    ("ipsrulelabel", "%s{ipsrulelabel}"),
    ("threatcat", "%s{threatcat}"),
    ("threatname", "%s{ethreatname}"),
    ("deviceowner", "%s{deviceowner}"),
    ("devicehostname", "%s{devicehostname}"),
];

/// The Feed Output Format string (literal braces written `\{` `\}` as the portal wants).
pub fn feed_output_format(feed: Feed) -> String {
    let (sourcetype, fields) = match feed {
        Feed::Dns => ("zscalernss-dns", DNS_FIELDS),
        Feed::Firewall => ("zscalernss-fw", FW_FIELDS),
    };
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    format!("\\{{ \"sourcetype\" : \"{sourcetype}\", \"event\" :\\{{{}\\}}\\}}", body.join(","))
}

/// Portal settings to choose alongside the format.
pub fn settings(feed: Feed, transport: Transport) -> Vec<(&'static str, &'static str)> {
    let mut s = vec![("Log Type", if feed == Feed::Dns { "DNS Log" } else { "Firewall Log" }), ("Feed Output Type", "Custom (JSON as below)"), ("Feed Escape Character", "\\\"")];
    match transport {
        Transport::Nss => {
            s.push(("SIEM Destination", "the logfetch host, TCP, the tenant's listen port (listen = \"tcp://0.0.0.0:PORT\")"));
        }
        Transport::CloudNss => {
            s.push(("API URL", "https://<logfetch host>:<port>/<tenant path> (the tenant's Cloud NSS listener)"));
            s.push(("HTTP Header", "the token header and value the tenant's config references"));
            s.push(("JSON Array Notation", "on or off: both are accepted"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_produce_records_the_parser_reads() {
        for feed in [Feed::Dns, Feed::Firewall] {
            let t = feed_output_format(feed);
            assert!(t.starts_with("\\{ \"sourcetype\""), "{t}");
            // Fill every variable as the portal would, unescape braces: valid JSON, right keys.
            let filled = t.replace("\\{", "{").replace("\\}", "}");
            let mut json = String::new();
            let mut rest = filled.as_str();
            while let Some(i) = rest.find('%') {
                json.push_str(&rest[..i]);
                let end = rest[i..].find('}').map(|e| i + e + 1).unwrap_or(rest.len());
                let var = &rest[i..end];
                json.push_str(match var {
                    "%s{time}" => "Mon Jun 20 15:35:48 2022",
                    "%s{req}" => "www.example.com",
                    "%s{cip}" | "%s{csip}" | "%s{sip}" | "%s{cdip}" | "%s{ssip}" | "%s{sdip}" => "192.0.2.10",
                    "%s{res}" => "192.0.2.20",
                    v if v.starts_with("%d") || v.starts_with("%ld") => "7",
                    _ => "x",
                });
                rest = &rest[end..];
            }
            json.push_str(rest);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert!(v["event"].is_object());
            let ctx = crate::ParseContext::new("z", chrono_tz::UTC);
            match crate::RecordParser::parse(&super::super::ZscalerParser, &json, &ctx) {
                crate::ParseOutcome::Events(e) => assert_eq!(e.len(), 1),
                o => panic!("{o:?} for {json}"),
            }
        }
    }
}
