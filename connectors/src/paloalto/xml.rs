//! Streaming reader for PAN-OS XML API responses (paloalto.md §1–§3): the `status`/`code`
//! attributes in either quoting style, `msg` text wherever it sits, keygen keys, job ids and
//! states, and the `<entry>` elements handed out one at a time — never a tree of a whole page.

use quick_xml::events::Event as X;

use super::map::Entry;

/// What a response said besides its entries.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Response {
    pub status: Option<String>,
    pub code: Option<String>,
    /// Error or info text (`result/msg`, `msg/line`, `msg`).
    pub msg: Option<String>,
    /// `result/key` (keygen).
    pub key: Option<String>,
    /// `result/job` (enqueue) or `result/job/id` (poll).
    pub job_id: Option<String>,
    /// `result/job/status`: `FIN`, or anything else while running.
    pub job_status: Option<String>,
    pub count: Option<u64>,
    pub progress: Option<u32>,
    pub entries: u64,
}

impl Response {
    pub fn is_success(&self) -> bool {
        self.status.as_deref() == Some("success")
    }
}

fn text_of(reader_event: &X<'_>, out: &mut String) {
    match reader_event {
        X::Text(t) => out.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0)),
        X::CData(c) => out.push_str(c.as_ref()),
        X::GeneralRef(r) => match r.resolve_char_ref() {
            Ok(Some(ch)) => out.push(ch),
            _ => {
                let name: &str = r.as_ref();
                match quick_xml::escape::resolve_predefined_entity(name) {
                    Some(s) => out.push_str(s),
                    // Unknown entity (`&nbsp;`): keep it literally rather than lose the value.
                    None => {
                        out.push('&');
                        out.push_str(name);
                        out.push(';');
                    }
                }
            }
        },
        _ => {}
    }
}

/// Reads a response, calling `on_entry` for each log entry in document order.
pub fn read(xml: &str, mut on_entry: impl FnMut(Entry)) -> Result<Response, String> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut resp = Response::default();
    let mut path: Vec<String> = Vec::new();
    let mut entry: Option<Entry> = None;
    let mut field: Option<(String, String)> = None;
    let mut msg = String::new();
    let mut leaf = String::new();
    loop {
        let ev = r.read_event().map_err(|e| format!("XML error at byte {}: {e}", r.buffer_position()))?;
        match &ev {
            X::Start(s) | X::Empty(s) => {
                let name: String = s.name().as_ref().to_string();
                let empty = matches!(ev, X::Empty(_));
                if path.is_empty() && name == "response" {
                    for a in s.attributes().flatten() {
                        let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_default();
                        match a.key.as_ref() {
                            "status" => resp.status = Some(v),
                            "code" => resp.code = Some(v),
                            _ => {}
                        }
                    }
                }
                if name == "logs" {
                    for a in s.attributes().flatten() {
                        let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_default();
                        match a.key.as_ref() {
                            "count" => resp.count = v.parse().ok(),
                            "progress" => resp.progress = v.parse().ok(),
                            _ => {}
                        }
                    }
                }
                if name == "entry" && path.last().is_some_and(|p| p == "logs") {
                    let mut e = Entry::default();
                    for a in s.attributes().flatten() {
                        if a.key.as_ref() == "logid" {
                            e.fields.push(("logid".into(), a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_default()));
                        }
                    }
                    if empty {
                        resp.entries += 1;
                        on_entry(e);
                    } else {
                        entry = Some(e);
                    }
                } else if entry.is_some() && field.is_none() {
                    if empty {
                        if let Some(e) = entry.as_mut() {
                            e.fields.push((name.clone(), String::new()));
                        }
                    } else {
                        field = Some((name.clone(), String::new()));
                    }
                }
                if !empty {
                    path.push(name);
                    leaf.clear();
                }
            }
            X::End(e) => {
                let name: String = e.name().as_ref().to_string();
                if let Some(ent) = entry.as_mut() {
                    if field.as_ref().is_some_and(|(f, _)| *f == name) && path.len() >= 2 && path[path.len() - 2] == "entry" {
                        if let Some(f) = field.take() {
                            ent.fields.push(f);
                        }
                    }
                }
                if name == "entry" && entry.is_some() && path.len() >= 2 && path[path.len() - 2] == "logs" {
                    resp.entries += 1;
                    if let Some(e) = entry.take() {
                        on_entry(e);
                    }
                }
                let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).map(String::as_str);
                match (parent, name.as_str()) {
                    (Some("result"), "key") => resp.key = Some(leaf.trim().to_string()),
                    (Some("result"), "job") if !leaf.trim().is_empty() => resp.job_id = Some(leaf.trim().to_string()),
                    (Some("job"), "id") => resp.job_id = Some(leaf.trim().to_string()),
                    (Some("job"), "status") => resp.job_status = Some(leaf.trim().to_string()),
                    _ => {}
                }
                if path.iter().any(|p| p == "msg") && entry.is_none() && !leaf.trim().is_empty() {
                    if !msg.is_empty() {
                        msg.push(' ');
                    }
                    msg.push_str(leaf.trim());
                }
                path.pop();
                leaf.clear();
            }
            X::Text(_) | X::CData(_) | X::GeneralRef(_) => {
                if let Some((_, v)) = field.as_mut() {
                    text_of(&ev, v);
                } else {
                    text_of(&ev, &mut leaf);
                }
            }
            X::Eof => {
                // quick-xml reports the end of input as Eof even inside open elements: a page cut
                // short (a proxy timeout, a dropped connection) must not pass as a shorter page.
                if let Some(open) = path.last() {
                    return Err(format!("XML document ends at byte {} inside <{open}>: the answer is truncated ({} entries read)", xml.len(), resp.entries));
                }
                break;
            }
            _ => {}
        }
    }
    if !msg.is_empty() {
        resp.msg = Some(msg);
    }
    if resp.status.is_none() {
        return Err("not a PAN-OS API response (no <response status=...>)".into());
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paloalto::map::{Fields, col};

    #[test]
    fn both_quoting_styles_and_messages() {
        let r = read("<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>", |_| {}).unwrap();
        assert_eq!((r.status.as_deref(), r.code.as_deref(), r.msg.as_deref()), (Some("error"), Some("403"), Some("Invalid Credential")));
        let r = read("<response status = 'success'><result><key>LUFRPT1abc==</key></result></response>", |_| {}).unwrap();
        assert_eq!(r.key.as_deref(), Some("LUFRPT1abc=="));
        let r = read(r#"<response status="success" code="19"><result><msg><line>query job enqueued with jobid 18</line></msg><job>18</job></result></response>"#, |_| {}).unwrap();
        assert_eq!((r.job_id.as_deref(), r.code.as_deref(), r.msg.as_deref()), (Some("18"), Some("19"), Some("query job enqueued with jobid 18")));
        let r = read(r#"<response status="success"><result><job><status>ACT</status><id>18</id></job><log><logs count="0" progress="0"/></log></result></response>"#, |_| {}).unwrap();
        assert_eq!((r.job_status.as_deref(), r.job_id.as_deref(), r.progress), (Some("ACT"), Some("18"), Some(0)));
        assert!(read("<html>nope</html>", |_| {}).is_err());
    }

    #[test]
    fn entries_stream_with_entities_and_cdata() {
        let xml = r#"<response status="success"><result><job><status>FIN</status><id>1</id></job><log><logs count="2" progress="100">
            <entry logid="1"><rule>A &amp; B</rule><dstloc code="Spain" cc="ES">Spain</dstloc><misc><![CDATA[raw & <b>]]></misc><srcuser>corp&#92;alice</srcuser><bytes/></entry>
            <entry logid="2"><rule>x&nbsp;y</rule></entry></logs></log></result></response>"#;
        let mut got = Vec::new();
        let r = read(xml, |e| got.push(e)).unwrap();
        assert_eq!((r.entries, r.count, r.job_status.as_deref()), (2, Some(2), Some("FIN")));
        assert_eq!(got[0].get(col!("rule")), Some("A & B"));
        assert_eq!(got[0].get(col!("dstloc")), Some("Spain"));
        assert_eq!(got[0].get(col!("misc")), Some("raw & <b>"));
        assert_eq!(got[0].get(col!("srcuser")), Some("corp\\alice"));
        assert_eq!(got[0].get(col!("bytes")), None, "empty element reads as absent");
        assert_eq!(got[0].get(col!("logid")), Some("1"));
        assert_eq!(got[1].get(col!("rule")), Some("x&nbsp;y"));
    }

    #[test]
    fn a_page_cut_anywhere_or_with_a_wrong_closing_tag_is_an_error() {
        let xml = r#"<response status="success"><result><job><status>FIN</status><id>1</id></job><log><logs count="2" progress="100"><entry logid="1"><rule>a</rule></entry><entry logid="2"><rule>b</rule></entry></logs></log></result></response>"#;
        assert_eq!(read(xml, |_| {}).unwrap().entries, 2);
        // Every cut, including one between two entries, is refused: a shorter page would
        // otherwise end the window and move the checkpoint past the entries never received.
        for cut in 1..xml.len() {
            let err = read(&xml[..cut], |_| {}).expect_err(&format!("cut at {cut} accepted"));
            assert!(err.contains("truncated") || err.contains("XML error") || err.contains("not a PAN-OS"), "{cut}: {err}");
        }
        let err = read(&xml.replace("</entry><entry logid=\"2\">", "</entyr><entry logid=\"2\">"), |_| {}).unwrap_err();
        assert!(err.contains("XML error"), "{err}");
        assert!(read(r#"<response status="success"><result></result></response>trailing"#, |_| {}).is_ok());
    }
}
