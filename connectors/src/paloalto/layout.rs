//! CSV column layouts of PAN-OS syslog (paloalto.md §4.3 and §4.4, PAN-OS 10.2). Older firmware
//! sends fewer columns and newer firmware more: a column past the end of a row is simply absent,
//! and extra trailing columns are ignored, so a firmware upgrade never makes a row unparseable.

/// TRAFFIC columns, 1-based position = index + 1.
const TRAFFIC_NAMES: &[&str] = &[
    "future_use1", "receive_time", "serial", "type", "subtype", "config_ver", "time_generated", "src", "dst", "natsrc", "natdst", "rule", "srcuser", "dstuser", "app", "vsys", "from", "to",
    "inbound_if", "outbound_if", "logset", "time_received", "sessionid", "repeatcnt", "sport", "dport", "natsport", "natdport", "flags", "proto", "action", "bytes", "bytes_sent", "bytes_received",
    "packets", "start", "elapsed", "category", "future_use39", "seqno", "actionflags", "srcloc", "dstloc", "future_use44", "pkts_sent", "pkts_received", "session_end_reason", "dg_hier_level_1",
    "dg_hier_level_2", "dg_hier_level_3", "dg_hier_level_4", "vsys_name", "device_name", "action_source", "src_uuid", "dst_uuid", "tunnelid", "monitortag", "parent_session_id", "parent_start_time",
    "tunnel", "assoc_id", "chunks", "chunks_sent", "chunks_received", "rule_uuid", "http2_connection", "link_change_count", "policy_id", "link_switches", "sdwan_cluster", "sdwan_device_type",
    "sdwan_cluster_type", "sdwan_site", "dynusergroup_name", "xff_ip", "src_category", "src_profile", "src_model", "src_vendor", "src_osfamily", "src_osversion", "src_host", "src_mac", "dst_category",
    "dst_profile", "dst_model", "dst_vendor", "dst_osfamily", "dst_osversion", "dst_host", "dst_mac", "container_id", "pod_namespace", "pod_name", "src_edl", "dst_edl", "hostid", "serialnumber",
    "src_dag", "dst_dag", "session_owner", "high_res_timestamp", "nssai_sst", "nssai_sd", "subcategory_of_app", "category_of_app", "technology_of_app", "risk_of_app", "characteristic_of_app",
    "container_of_app", "tunneled_app", "is_saas_of_app", "sanctioned_state_of_app", "offloaded",
];

/// THREAT columns.
const THREAT_NAMES: &[&str] = &[
    "future_use1", "receive_time", "serial", "type", "subtype", "config_ver", "time_generated", "src", "dst", "natsrc", "natdst", "rule", "srcuser", "dstuser", "app", "vsys", "from", "to",
    "inbound_if", "outbound_if", "logset", "time_received", "sessionid", "repeatcnt", "sport", "dport", "natsport", "natdport", "flags", "proto", "action", "misc", "threatid", "category", "severity",
    "direction", "seqno", "actionflags", "srcloc", "dstloc", "future_use41", "contenttype", "pcap_id", "filedigest", "cloud", "url_idx", "user_agent", "filetype", "xff", "referer", "sender", "subject",
    "recipient", "reportid", "dg_hier_level_1", "dg_hier_level_2", "dg_hier_level_3", "dg_hier_level_4", "vsys_name", "device_name", "future_use61", "src_uuid", "dst_uuid", "http_method", "tunnelid",
    "monitortag", "parent_session_id", "parent_start_time", "tunnel", "thr_category", "contentver", "future_use72", "assoc_id", "ppid", "http_headers", "url_category_list", "rule_uuid",
    "http2_connection", "dynusergroup_name", "xff_ip", "src_category", "src_profile", "src_model", "src_vendor", "src_osfamily", "src_osversion", "src_host", "src_mac", "dst_category", "dst_profile",
    "dst_model", "dst_vendor", "dst_osfamily", "dst_osversion", "dst_host", "dst_mac", "container_id", "pod_namespace", "pod_name", "src_edl", "dst_edl", "hostid", "serialnumber", "domain_edl",
    "src_dag", "dst_dag", "partial_hash", "high_res_timestamp", "reason", "justification", "nssai_sst", "subcategory_of_app", "category_of_app", "technology_of_app", "risk_of_app",
    "characteristic_of_app", "container_of_app", "tunneled_app", "is_saas_of_app", "sanctioned_state_of_app", "cloud_reportid",
];

/// A column layout: the names by position, and which one it is, so that a [`Col`] knows its
/// column in it.
pub struct Layout {
    pub names: &'static [&'static str],
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Traffic,
    Threat,
}

impl Layout {
    const fn new(names: &'static [&'static str], kind: Kind) -> Self {
        assert!(names.len() < ABSENT as usize, "positions are kept in a u8");
        Layout { names, kind }
    }
}

pub static TRAFFIC: Layout = Layout::new(TRAFFIC_NAMES, Kind::Traffic);
pub static THREAT: Layout = Layout::new(THREAT_NAMES, Kind::Threat);

/// A field name with its column in each layout, found at compile time when built in a `const`
/// (the `col!` macro of `map`): the mapping reads about fifty fields a row by name, and a
/// position known ahead costs nothing to look up. The XML, JSON and CEF shapes use the name.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    pub name: &'static str,
    traffic: u8,
    threat: u8,
}

const ABSENT: u8 = u8::MAX;

impl Col {
    pub const fn new(name: &'static str) -> Col {
        Col { name, traffic: position(TRAFFIC_NAMES, name), threat: position(THREAT_NAMES, name) }
    }

    /// The column in `layout`, if it has one.
    #[inline(always)]
    pub fn position(&self, layout: &Layout) -> Option<usize> {
        let p = match layout.kind {
            Kind::Traffic => self.traffic,
            Kind::Threat => self.threat,
        };
        (p != ABSENT).then_some(p as usize)
    }
}

/// The first position of `name` in `names`, `ABSENT` if none.
const fn position(names: &[&str], name: &str) -> u8 {
    match logfetch_common::text::const_position(names, name) {
        Some(i) => i as u8,
        None => ABSENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(layout: &Layout, name: &'static str) -> Option<usize> {
        Col::new(name).position(layout)
    }

    #[test]
    fn positions_match_paloalto_md() {
        assert_eq!(TRAFFIC.names.len(), 115);
        assert_eq!(THREAT.names.len(), 121);
        assert_eq!(at(&TRAFFIC, "action"), Some(30));
        assert_eq!(at(&TRAFFIC, "bytes_sent"), Some(32));
        assert_eq!(at(&TRAFFIC, "seqno"), Some(39));
        assert_eq!(at(&TRAFFIC, "session_end_reason"), Some(46));
        assert_eq!(at(&TRAFFIC, "device_name"), Some(52));
        assert_eq!(at(&TRAFFIC, "high_res_timestamp"), Some(102));
        assert_eq!(at(&THREAT, "threatid"), Some(32));
        assert_eq!(at(&THREAT, "seqno"), Some(36));
        assert_eq!(at(&THREAT, "device_name"), Some(59));
        assert_eq!(at(&THREAT, "thr_category"), Some(69));
        assert_eq!(at(&THREAT, "high_res_timestamp"), Some(107));
        assert_eq!(at(&TRAFFIC, "no_such_column"), None);
    }

    #[test]
    fn compile_time_columns_agree_with_a_scan_of_the_names() {
        for name in TRAFFIC.names.iter().chain(THREAT.names).copied().chain(["no_such_column", "category-of-threatid", ""]) {
            // Built at run time here; `col!` builds the same value in a const.
            let c = Col::new(name);
            for layout in [&TRAFFIC, &THREAT] {
                assert_eq!(c.position(layout), layout.names.iter().position(|n| *n == name), "{name}");
            }
        }
        const SRC: Col = Col::new("src");
        assert_eq!((SRC.position(&TRAFFIC), SRC.position(&THREAT)), (Some(7), Some(7)));
        const THREATID: Col = Col::new("threatid");
        assert_eq!((THREATID.position(&TRAFFIC), THREATID.position(&THREAT)), (None, Some(32)));
    }
}
