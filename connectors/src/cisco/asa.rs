//! ASA (and FTD `%FTD-` ASA-style) connection, ACL, NAT and DNS-inspection messages
//! (cisco.md §3), parsed into a borrowed [`AsaFlow`]: one pure function per message family.

use std::net::IpAddr;

use super::lexer::{Tok, Token, duration_ms, host_port, ifc_ip_port, ifc_slash_ip, ip_port, tokens, user_of};

/// One side of a connection as the message states it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Side<'a> {
    pub ifc: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub mapped_ip: Option<IpAddr>,
    pub mapped_port: Option<u16>,
    pub user: Option<&'a str>,
    /// A host name where the device logged one instead of an address.
    pub host: Option<&'a str>,
}

/// What the message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Built,
    Teardown,
    Denied,
    Permitted,
    Dropped,
    Monitored,
}

/// A flow-shaped ASA message, sides already oriented initiator → responder.
#[derive(Debug, Clone, PartialEq)]
pub struct AsaFlow<'a> {
    pub verb: Verb,
    /// `inbound`/`outbound` where the message says.
    pub direction: Option<&'a str>,
    pub protocol: Option<u8>,
    pub conn_id: Option<&'a str>,
    pub src: Side<'a>,
    pub dst: Side<'a>,
    pub duration_ms: Option<u64>,
    pub bytes: Option<u64>,
    pub reason: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub hit_count: Option<u64>,
    pub icmp: Option<(u16, u16)>,
    /// Botnet-filter domain (338xxx).
    pub domain: Option<&'a str>,
    /// NAT translation message (305011/305012): `src` holds the real address, its `mapped_*` the
    /// translated one.
    pub nat_only: bool,
}

impl<'a> AsaFlow<'a> {
    fn new(verb: Verb) -> AsaFlow<'a> {
        AsaFlow {
            verb,
            direction: None,
            protocol: None,
            conn_id: None,
            src: Side::default(),
            dst: Side::default(),
            duration_ms: None,
            bytes: None,
            reason: None,
            rule: None,
            hit_count: None,
            icmp: None,
            domain: None,
            nat_only: false,
        }
    }
}

fn proto(word: &str) -> Option<u8> {
    logfetch_common::event::protocol_number(word)
}

/// Reads `ifc:ip/port` followed by optional `(mapped/port)` and `(user)` groups.
fn side<'a>(body: &'a str, toks: &[Token<'a>], i: &mut usize) -> Result<Side<'a>, String> {
    let w = toks.get(*i).and_then(Token::word).ok_or("expected interface:address/port")?;
    // Interface names may contain spaces (`NP Identity Ifc:255.255.255.255/68`).
    let (n, (ifc, ip, port)) = (1..=4)
        .filter(|n| *i + n <= toks.len() && toks[*i..*i + n].iter().all(|t| t.word().is_some()))
        .find_map(|n| ifc_ip_port(&body[toks[*i].start..toks[*i + n - 1].end]).filter(|r| !r.0.contains('/')).map(|r| (n, (r.0, Ok(r.1), r.2))))
        // Or a named object where the address would be (`fw111:SDC_Proxy/63986`).
        .or_else(|| {
            let (ifc, rest) = w.rsplit_once(':')?;
            let (host, port) = host_port(rest).or_else(|| {
                let (h, p) = rest.split_once('/')?;
                (h.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) && h.chars().any(|c| c.is_ascii_alphabetic())).then_some((h, p.parse().ok()))
            })?;
            Some((1, (ifc, Err(host), port)))
        })
        .ok_or_else(|| format!("`{w}` is not interface:address/port"))?;
    *i += n;
    let mut s = Side { ifc: Some(ifc), ip: ip.ok(), host: ip.err(), port, ..Side::default() };
    while let Some(p) = toks.get(*i).and_then(Token::paren) {
        if let Some((mip, mport)) = ip_port(p.trim()) {
            s.mapped_ip = Some(mip);
            s.mapped_port = mport;
        } else if let Some(u) = user_of(p) {
            s.user.get_or_insert(u);
        }
        *i += 1;
    }
    Ok(s)
}

fn expect(toks: &[Token<'_>], i: &mut usize, w: &str) -> Result<(), String> {
    if toks.get(*i).is_some_and(|t| t.is(w)) {
        *i += 1;
        Ok(())
    } else {
        Err(format!("expected `{w}` at token {}", *i + 1))
    }
}

fn word<'a>(toks: &[Token<'a>], i: &mut usize, what: &str) -> Result<&'a str, String> {
    let w = toks.get(*i).and_then(Token::word).ok_or_else(|| format!("missing {what}"))?;
    *i += 1;
    Ok(w)
}

fn slice<'a>(body: &'a str, toks: &[Token<'a>], from: usize, to: usize) -> Option<&'a str> {
    (from < to && to <= toks.len()).then(|| body[toks[from].start..toks[to - 1].end].trim())
}

/// 302013/302015 (Built TCP/UDP), 302022 (stub), 302014/302016 (Teardown), 302023.
pub fn connection(body: &str) -> Result<AsaFlow<'_>, String> {
    let toks = tokens(body);
    let mut i = 0;
    let built = match word(&toks, &mut i, "verb")? {
        "Built" => true,
        "Teardown" => false,
        v => return Err(format!("unexpected verb `{v}`")),
    };
    let mut f = AsaFlow::new(if built { Verb::Built } else { Verb::Teardown });
    // Built {inbound|outbound} [Probe] TCP connection ID | Built <role> stub TCP connection
    while let Some(w) = toks.get(i).and_then(Token::word) {
        if let Some(p) = proto(w) {
            f.protocol = Some(p);
            i += 1;
            break;
        }
        if w == "inbound" || w == "outbound" {
            f.direction = Some(w);
        }
        i += 1;
    }
    f.protocol.ok_or("no protocol")?;
    expect(&toks, &mut i, "connection")?;
    if !toks.get(i).is_some_and(|t| t.is("for")) {
        f.conn_id = Some(word(&toks, &mut i, "connection id")?);
    }
    expect(&toks, &mut i, "for")?;
    let mut a = side(body, &toks, &mut i)?;
    // Some devices write a bare user name after an address (`outside:1.2.3.4/53 user1 to ...`).
    if let Some(u) = toks.get(i).and_then(Token::word).filter(|w| *w != "to") {
        a.user.get_or_insert(u);
        i += 1;
    }
    expect(&toks, &mut i, "to")?;
    let mut b = side(body, &toks, &mut i)?;
    if let Some(u) = toks.get(i).and_then(Token::word).filter(|w| !["duration", "forwarded", "bytes", "from"].contains(w)) {
        b.user.get_or_insert(u);
        i += 1;
    }
    // Cisco: for `outbound` the `for` side is the responder (Elastic's pipeline swaps too).
    (f.src, f.dst) = if f.direction == Some("outbound") { (b, a) } else { (a, b) };
    // A trailing (user) after both sides belongs to the initiator.
    while let Some(p) = toks.get(i).and_then(Token::paren) {
        if let Some(u) = user_of(p) {
            f.src.user.get_or_insert(u);
        }
        i += 1;
    }
    if !built {
        if toks.get(i).is_some_and(|t| t.is("duration")) {
            i += 1;
            let d = word(&toks, &mut i, "duration")?;
            f.duration_ms = Some(duration_ms(d).ok_or_else(|| format!("bad duration `{d}`"))?);
        }
        if toks.get(i).is_some_and(|t| t.is("forwarded")) {
            i += 1;
        }
        if toks.get(i).is_some_and(|t| t.is("bytes")) {
            i += 1;
            let b = word(&toks, &mut i, "bytes")?;
            f.bytes = Some(b.parse().map_err(|_| format!("bad byte count `{b}`"))?);
        }
        // Reason words, then `from <ifc>`, then `(user)`.
        let start = i;
        while i < toks.len() && !toks[i].is("from") && toks[i].paren().is_none() {
            i += 1;
        }
        f.reason = slice(body, &toks, start, i);
        if toks.get(i).is_some_and(|t| t.is("from")) {
            i += 2;
        }
        while let Some(p) = toks.get(i).and_then(Token::paren) {
            if let Some(u) = user_of(p) {
                f.src.user.get_or_insert(u);
            }
            i += 1;
        }
    }
    Ok(f)
}

/// 302020/302021: ICMP with faddr / gaddr / laddr.
pub fn icmp(body: &str) -> Result<AsaFlow<'_>, String> {
    let toks = tokens(body);
    let mut i = 0;
    let built = word(&toks, &mut i, "verb")? == "Built";
    let mut f = AsaFlow::new(if built { Verb::Built } else { Verb::Teardown });
    let mut addrs: [(Option<IpAddr>, Option<u16>, Option<&str>); 3] = [(None, None, None); 3];
    while i < toks.len() {
        let w = toks[i].word().unwrap_or("");
        match w {
            "inbound" | "outbound" => f.direction = Some(w),
            "faddr" | "gaddr" | "laddr" => {
                let slot = ["faddr", "gaddr", "laddr"].iter().position(|x| *x == w).unwrap_or(0);
                i += 1;
                let v = word(&toks, &mut i, w)?;
                let (ip, id) = ip_port(v).ok_or_else(|| format!("bad {w} `{v}`"))?;
                let mut user = None;
                while let Some(p) = toks.get(i).and_then(Token::paren) {
                    user = user.or(user_of(p));
                    i += 1;
                }
                addrs[slot] = (Some(ip), id, user);
                continue;
            }
            "type" => {
                let t = toks.get(i + 1).and_then(Token::word).and_then(|x| x.trim_end_matches(',').parse().ok());
                let c = toks.get(i + 3).and_then(Token::word).and_then(|x| x.trim_end_matches(',').parse().ok());
                if let (Some(t), Some(c)) = (t, c) {
                    f.icmp = Some((t, c));
                }
                i += 4;
                continue;
            }
            _ => {}
        }
        if let Tok::Paren(p) = toks[i].tok {
            if let Some(u) = user_of(p) {
                f.src.user.get_or_insert(u);
            }
        }
        i += 1;
    }
    let (fa, ga, la) = (addrs[0], addrs[1], addrs[2]);
    if fa.0.is_none() {
        // Older form: `Teardown ICMP connection N from ifc:ip/id (mapped) to ifc:ip/id (mapped)`.
        let mut j = toks.iter().position(|t| t.is("from") || t.is("for")).ok_or("missing faddr (or from)")? + 1;
        f.src = side(body, &toks, &mut j)?;
        expect(&toks, &mut j, "to")?;
        f.dst = side(body, &toks, &mut j)?;
        f.protocol = Some(if f.src.ip.is_some_and(|i| i.is_ipv6()) { 58 } else { 1 });
        f.conn_id = toks.iter().position(|t| t.is("connection")).and_then(|p| toks.get(p + 1)).and_then(Token::word).filter(|w| w.bytes().all(|b| b.is_ascii_digit()));
        return Ok(f);
    }
    let fa_ip = fa.0.ok_or("missing faddr")?;
    let la_ip = la.0.ok_or("missing laddr")?;
    f.protocol = Some(if fa_ip.is_ipv6() { 58 } else { 1 });
    let nat = ga.0.filter(|g| *g != la_ip);
    if f.direction == Some("outbound") {
        f.src = Side { ip: Some(la_ip), mapped_ip: nat, user: la.2, ..Side::default() };
        f.dst = Side { ip: Some(fa_ip), user: fa.2, ..Side::default() };
    } else {
        f.src = Side { ip: Some(fa_ip), user: fa.2.or(f.src.user), ..Side::default() };
        f.dst = Side { ip: Some(la_ip), mapped_ip: nat, user: la.2, ..Side::default() };
    }
    Ok(f)
}

/// 106023, 106010, 106014: `Deny <proto> src ifc:ip[/port] [(user)] dst ifc:ip[/port] ... [by access-group "acl"]`.
pub fn deny_src_dst(body: &str) -> Result<AsaFlow<'_>, String> {
    let toks = tokens(body);
    let mut i = 0;
    expect(&toks, &mut i, "Deny")?;
    let mut f = AsaFlow::new(Verb::Denied);
    if toks.get(i).is_some_and(|t| t.is("inbound") || t.is("outbound")) {
        f.direction = toks[i].word();
        i += 1;
    }
    let p = word(&toks, &mut i, "protocol")?;
    f.protocol = if p.eq_ignore_ascii_case("protocol") { word(&toks, &mut i, "protocol number")?.parse().ok() } else { proto(p) };
    expect(&toks, &mut i, "src")?;
    f.src = side(body, &toks, &mut i)?;
    expect(&toks, &mut i, "dst")?;
    // 106014 glues `(type 8, code 0)` to the address.
    f.dst = side(body, &toks, &mut i)?;
    let rest = slice(body, &toks, i, toks.len()).unwrap_or("");
    if let Some(q) = rest.split_once("access-group \"").and_then(|(_, r)| r.split_once('"')).map(|(acl, _)| acl) {
        f.rule = Some(q);
    }
    if let Some(t) = body.split_once("type ").and_then(|(_, r)| {
        let (t, r) = r.split_once(',')?;
        let c = r.trim_start().strip_prefix("code ")?;
        let c: String = c.chars().take_while(char::is_ascii_digit).collect();
        Some((t.trim().parse().ok()?, c.parse().ok()?))
    }) {
        f.icmp = Some(t);
    }
    Ok(f)
}

/// 106100: `access-list ACL {permitted|denied|est-allowed} proto ifc/ip(port)[(user)] -> ifc/ip(port)[(user)] hit-cnt N ...`.
pub fn acl_log(body: &str) -> Result<AsaFlow<'_>, String> {
    let toks = tokens(body);
    let mut i = 0;
    expect(&toks, &mut i, "access-list")?;
    let acl = word(&toks, &mut i, "access-list name")?;
    let verb = word(&toks, &mut i, "action")?;
    let mut f = AsaFlow::new(if verb == "denied" { Verb::Denied } else { Verb::Permitted });
    f.rule = Some(acl);
    let p = word(&toks, &mut i, "protocol")?;
    f.protocol = proto(p).or_else(|| if p == "protocol" { None } else { p.parse().ok() });
    let read_side = |i: &mut usize| -> Result<Side<'_>, String> {
        let w = toks.get(*i).and_then(Token::word).ok_or("expected interface/address")?;
        let (ifc, addr) = ifc_slash_ip(w).ok_or_else(|| format!("`{w}` is not interface/address"))?;
        *i += 1;
        let mut s = Side { ifc: Some(ifc), ip: addr.ok(), host: addr.err(), ..Side::default() };
        while let Some(g) = toks.get(*i).and_then(Token::paren) {
            if s.port.is_none() && g.bytes().all(|b| b.is_ascii_digit()) {
                s.port = g.parse().ok();
            } else if let Some(u) = user_of(g) {
                s.user.get_or_insert(u);
            }
            *i += 1;
        }
        Ok(s)
    };
    f.src = read_side(&mut i)?;
    expect(&toks, &mut i, "->")?;
    f.dst = read_side(&mut i)?;
    if toks.get(i).is_some_and(|t| t.is("hit-cnt")) {
        i += 1;
        f.hit_count = word(&toks, &mut i, "hit count")?.parse().ok();
        let start = i;
        while i < toks.len() && !toks[i].word().is_some_and(|w| w.starts_with('[')) {
            i += 1;
        }
        f.reason = slice(body, &toks, start, i);
    }
    Ok(f)
}

/// 106001, 106006, 106007, 106015, 106016, 106021, 710003, 710005, 410001: the `from A to B`
/// family, with the interface after `on interface` or on the `to` side.
pub fn from_to(msgid: u32, body: &str) -> Result<AsaFlow<'_>, String> {
    fn addr<'a>(t: &Token<'a>) -> Option<Side<'a>> {
        match t.tok {
            Tok::Word(w) => {
                let w = w.trim_end_matches([';', ',']);
                if let Some((ifc, ip, port)) = ifc_ip_port(w) {
                    Some(Side { ifc: Some(ifc), ip: Some(ip), port, ..Side::default() })
                } else if let Some((ip, port)) = ip_port(w) {
                    Some(Side { ip: Some(ip), port, ..Side::default() })
                } else {
                    host_port(w).map(|(host, port)| Side { host: Some(host), port, ..Side::default() })
                }
            }
            Tok::Paren(p) => ip_port(p).map(|(ip, port)| Side { ip: Some(ip), port, ..Side::default() }),
        }
    }
    let toks = tokens(body);
    let mut f = AsaFlow::new(match msgid {
        710005 | 410001 => Verb::Dropped,
        _ => Verb::Denied,
    });
    let from = toks.iter().position(|t| t.is("from")).ok_or("no `from`")?;
    for t in &toks[..from] {
        if let Some(w) = t.word() {
            if w == "inbound" || w == "outbound" || w == "Inbound" {
                f.direction = Some(if w == "outbound" { "outbound" } else { "inbound" });
            } else if f.protocol.is_none() {
                f.protocol = proto(w).filter(|_| !w.eq_ignore_ascii_case("IP") || msgid == 106016);
            }
        }
    }
    f.src = toks.get(from + 1).and_then(addr).ok_or("no source address after `from`")?;
    let to = toks.iter().skip(from + 1).position(|t| t.is("to")).map(|p| p + from + 1).ok_or("no `to`")?;
    f.dst = toks.get(to + 1).and_then(addr).ok_or("no destination address after `to`")?;
    if let Some(on) = toks.iter().position(|t| t.is("interface")) {
        if let Some(ifc) = toks.get(on + 1).and_then(Token::word) {
            f.src.ifc.get_or_insert(ifc);
        }
    }
    if let Some(flags) = toks.iter().position(|t| t.is("flags")) {
        let end = toks.iter().position(|t| t.is("on")).unwrap_or(toks.len());
        f.reason = slice(body, &toks, flags, end);
    }
    if msgid == 106007 {
        f.reason = Some("due to DNS Query");
    }
    if msgid == 410001 {
        f.reason = body.split_once("; ").map(|(_, r)| r.trim());
        f.protocol = f.protocol.or(Some(17));
    }
    if msgid == 106016 {
        f.reason = Some("IP spoof");
    }
    if msgid == 106021 {
        f.reason = Some("reverse path check");
    }
    Ok(f)
}

/// 305011/305012: NAT translation built / torn down.
pub fn nat(body: &str) -> Result<AsaFlow<'_>, String> {
    let toks = tokens(body);
    let mut i = 0;
    let built = word(&toks, &mut i, "verb")? == "Built";
    let mut f = AsaFlow::new(if built { Verb::Built } else { Verb::Teardown });
    f.nat_only = true;
    while let Some(w) = toks.get(i).and_then(Token::word) {
        i += 1;
        if w == "from" {
            break;
        }
        if let Some(p) = proto(w) {
            f.protocol = Some(p);
        }
    }
    let real = side(body, &toks, &mut i)?;
    expect(&toks, &mut i, "to")?;
    let mapped = side(body, &toks, &mut i)?;
    f.src = Side { mapped_ip: mapped.ip, mapped_port: mapped.port, ..real };
    f.dst = Side { ifc: mapped.ifc, ..Side::default() };
    if toks.get(i).is_some_and(|t| t.is("duration")) {
        i += 1;
        f.duration_ms = word(&toks, &mut i, "duration").ok().and_then(duration_ms);
    }
    Ok(f)
}

/// 338xxx: botnet traffic filter hits, with the domain resolved from DNS snooping.
pub fn dynamic_filter(body: &str) -> Result<AsaFlow<'_>, String> {
    let toks = tokens(body);
    let verb = if body.contains(" dropped ") {
        Verb::Dropped
    } else if body.contains(" monitored ") {
        Verb::Monitored
    } else {
        Verb::Permitted
    };
    let mut f = AsaFlow::new(verb);
    let from = toks.iter().position(|t| t.is("from")).ok_or("no `from`")?;
    f.protocol = toks[..from].iter().filter_map(Token::word).find_map(proto);
    let mut i = from + 1;
    f.src = side(body, &toks, &mut i)?;
    expect(&toks, &mut i, "to")?;
    // The `to` side ends with a comma: `outside:1.2.3.4/80 (1.2.3.4/80),`.
    let w = toks.get(i).and_then(Token::word).ok_or("no destination")?;
    let (ifc, ip, port) = ifc_ip_port(w.trim_end_matches(',')).ok_or_else(|| format!("bad destination `{w}`"))?;
    f.dst = Side { ifc: Some(ifc), ip: Some(ip), port, ..Side::default() };
    f.domain = body.split_once("dynamic list: ").map(|(_, r)| r.split(',').next().unwrap_or(r).trim());
    f.reason = body.split_once("category: ").map(|(_, r)| r.trim());
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn built_outbound_swaps_sides() {
        let f = connection("Built outbound UDP connection 11758 for outside:100.66.80.32/53 (100.66.80.32/53) to inside:172.31.98.44/56132 (172.31.98.44/56132)").unwrap();
        assert_eq!(f.src.ip, ip("172.31.98.44"));
        assert_eq!(f.src.port, Some(56132));
        assert_eq!(f.src.ifc, Some("inside"));
        assert_eq!(f.dst.ip, ip("100.66.80.32"));
        assert_eq!(f.dst.port, Some(53));
        assert_eq!(f.conn_id, Some("11758"));
        assert_eq!(f.protocol, Some(17));
    }

    #[test]
    fn built_inbound_with_users_and_nat() {
        let f = connection("Built inbound UDP connection 261311655 for OUTSIDE:67.43.156.15/63790 (81.2.69.193/63790)(LOCAL\\domain\\USER001) to INSIDE:192.168.0.1/53 (192.168.0.1/53) (domain\\USER001)").unwrap();
        assert_eq!(f.src.ip, ip("67.43.156.15"));
        assert_eq!(f.src.mapped_ip, ip("81.2.69.193"));
        assert_eq!(f.src.user, Some("domain\\USER001"));
        assert_eq!(f.dst.ip, ip("192.168.0.1"));
    }

    #[test]
    fn teardown_with_reason_from_and_user() {
        let f = connection("Teardown TCP connection 261246338 for OUTSIDE:67.43.156.15/50120(LOCAL\\domain\\USER001) to OUTSIDE:1.128.3.4/443 duration 0:02:05 bytes 9610 TCP FINs from OUTSIDE (domain\\USER001)").unwrap();
        assert_eq!(f.duration_ms, Some(125_000));
        assert_eq!(f.bytes, Some(9610));
        assert_eq!(f.reason, Some("TCP FINs"));
        assert_eq!(f.src.user, Some("domain\\USER001"));
        let f = connection("Teardown TCP connection 3642851852 for outside:1.1.1.1/63677 to Pika:2.2.2.2/443 duration 10:10:06 bytes 4666 FIN Timeout from Pika").unwrap();
        assert_eq!(f.duration_ms, Some((10 * 3600 + 10 * 60 + 6) * 1000));
        assert_eq!(f.reason, Some("FIN Timeout"));
        let f = connection("Teardown TCP connection 1 for outside:2001:db8::1/443 to inside:2001:db8::2/50000 duration 0:00:01 bytes 10 TCP Reset-I").unwrap();
        assert_eq!(f.src.ip, ip("2001:db8::1"));
    }

    #[test]
    fn icmp_orientation_and_nat() {
        let f = icmp("Built inbound ICMP connection for faddr 203.0.113.20/28416 gaddr 198.51.100.10/0 laddr 192.0.2.30/0 type 8 code 0").unwrap();
        assert_eq!((f.src.ip, f.dst.ip, f.dst.mapped_ip, f.icmp), (ip("203.0.113.20"), ip("192.0.2.30"), ip("198.51.100.10"), Some((8, 0))));
        let f = icmp("Built outbound ICMP connection for faddr 203.0.113.20/0 gaddr 198.51.100.10/0 laddr 192.0.2.30/0 type 8 code 0").unwrap();
        assert_eq!((f.src.ip, f.src.mapped_ip, f.dst.ip), (ip("192.0.2.30"), ip("198.51.100.10"), ip("203.0.113.20")));
        let f = icmp("Teardown ICMP connection for faddr ff02::1/0 gaddr fe80::2205:baff:fe9d:f637/0 laddr fe80::2205:baff:fe9d:f637/0 type 134 code 0").unwrap();
        assert_eq!((f.protocol, f.icmp), (Some(58), Some((134, 0))));
    }

    #[test]
    fn denies_and_acl_logs() {
        let f = deny_src_dst("Deny tcp src dmz:10.1.2.30/63016 dst outside:192.168.0.8/53 by access-group \"acl_dmz\" [0xe3aab522, 0x0]").unwrap();
        assert_eq!((f.src.ifc, f.src.port, f.dst.port, f.rule, f.protocol), (Some("dmz"), Some(63016), Some(53), Some("acl_dmz"), Some(6)));
        let f = deny_src_dst("Deny icmp src Inside:10.123.123.123 dst Outside:10.123.123.123 (type 11, code 0) by access-group \"Inside_access_in\" [0x0, 0x0]").unwrap();
        assert_eq!((f.icmp, f.src.port), (Some((11, 0)), None));
        let f = deny_src_dst("Deny inbound protocol 103 src inside:172.31.98.44 dst inside:192.168.2.2").unwrap();
        assert_eq!(f.protocol, Some(103));
        let f = acl_log("access-list incoming permitted udp dmz2/127.2.3.4(56575)(LOCAL\\\\username) -> inside/127.3.4.5(53) hit-cnt 1 first hit [0x93d0e533, 0x578ef52f]").unwrap();
        assert_eq!((f.verb, f.src.port, f.src.user, f.dst.port, f.hit_count, f.reason), (Verb::Permitted, Some(56575), Some("\\username"), Some(53), Some(1), Some("first hit")));
        let f = from_to(106015, "Deny TCP (no connection) from 192.168.2.222/1234 to 192.168.1.34/5679 flags RST  on interface outside").unwrap();
        assert_eq!((f.src.port, f.dst.port, f.src.ifc, f.reason, f.protocol), (Some(1234), Some(5679), Some("outside"), Some("flags RST"), Some(6)));
        let f = from_to(710003, "TCP access denied by ACL from 81.2.69.144/6370 to outside:192.168.157.61/23").unwrap();
        assert_eq!((f.dst.ifc, f.dst.port), (Some("outside"), Some(23)));
        let f = from_to(410001, "Dropped UDP DNS request from outside:139.162.126.103/46951 to DMZ-SSLVPN:143.35.126.146/53; label length 46 bytes exceeds remaining packet length limit of 17 bytes").unwrap();
        assert_eq!((f.dst.ifc, f.dst.port, f.verb), (Some("DMZ-SSLVPN"), Some(53), Verb::Dropped));
        assert!(f.reason.unwrap().starts_with("label length 46"));
        let f = from_to(106016, "Deny IP spoof from (0.0.0.0) to 192.168.99.47 on interface Mobile_Traffic").unwrap();
        assert_eq!((f.src.ip, f.dst.ip), (ip("0.0.0.0"), ip("192.168.99.47")));
    }

    #[test]
    fn nat_and_dynamic_filter() {
        let f = nat("Built dynamic TCP translation from inside:172.31.98.44/1772 to outside:100.66.98.44/8256").unwrap();
        assert_eq!((f.src.ip, f.src.mapped_ip, f.src.mapped_port, f.nat_only), (ip("172.31.98.44"), ip("100.66.98.44"), Some(8256), true));
        let f = dynamic_filter("Dynamic Filter dropped blacklisted TCP traffic from inside:10.1.1.1/33340 (10.2.1.1/33340) to outsidet:192.168.2.223/80 (192.168.2.223/80), destination 192.168.2.223 resolved from dynamic list: bad.example.com, threat-level: very-high, category: Malware").unwrap();
        assert_eq!((f.verb, f.domain, f.dst.port, f.reason), (Verb::Dropped, Some("bad.example.com"), Some(80), Some("Malware")));
    }
}
