//! CSV column layouts of PAN-OS syslog (paloalto.md §4.3 and §4.4, PAN-OS 10.2). Older firmware
//! sends fewer columns and newer firmware more: a column past the end of a row is simply absent,
//! and extra trailing columns are ignored, so a firmware upgrade never makes a row unparseable.

use std::sync::OnceLock;

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

/// A column layout with a name → index table, built on first use. The mapping looks up about
/// fifty names per row, so the lookup must cost less than the split: an open-addressed table
/// keyed by a hash of the name's length and three of its bytes, checked with one comparison.
pub struct Layout {
    pub names: &'static [&'static str],
    table: OnceLock<[u8; SLOTS]>,
}

const SLOTS: usize = 512;
const EMPTY: u8 = u8::MAX;

#[inline(always)]
fn slot(name: &[u8]) -> usize {
    let n = name.len();
    let (first, mid, last) = match n {
        0 => (0, 0, 0),
        _ => (name[0] as usize, name[n / 2] as usize, name[n - 1] as usize),
    };
    (n.wrapping_mul(0x9E37) ^ first.wrapping_mul(0x2F1) ^ mid.wrapping_mul(0x3D) ^ last.wrapping_mul(0x1A7)) % SLOTS
}

impl Layout {
    const fn new(names: &'static [&'static str]) -> Self {
        assert!(names.len() < EMPTY as usize && names.len() < SLOTS / 2);
        Layout { names, table: OnceLock::new() }
    }

    fn build(&self) -> [u8; SLOTS] {
        let mut table = [EMPTY; SLOTS];
        for (i, n) in self.names.iter().enumerate() {
            if self.find(&table, n).is_some() {
                continue; // a repeated name answers with its first position
            }
            let mut s = slot(n.as_bytes());
            while table[s] != EMPTY {
                s = (s + 1) % SLOTS;
            }
            table[s] = i as u8;
        }
        table
    }

    #[inline(always)]
    fn find(&self, table: &[u8; SLOTS], name: &str) -> Option<usize> {
        let mut s = slot(name.as_bytes());
        loop {
            let i = table[s];
            if i == EMPTY {
                return None;
            }
            let candidate = self.names[i as usize];
            if candidate.len() == name.len() && candidate == name {
                return Some(i as usize);
            }
            s = (s + 1) % SLOTS;
        }
    }

    /// The column index of `name`.
    #[inline]
    pub fn index(&self, name: &str) -> Option<usize> {
        self.find(self.table.get_or_init(|| self.build()), name)
    }
}

pub static TRAFFIC: Layout = Layout::new(TRAFFIC_NAMES);
pub static THREAT: Layout = Layout::new(THREAT_NAMES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_match_paloalto_md() {
        assert_eq!(TRAFFIC.names.len(), 115);
        assert_eq!(THREAT.names.len(), 121);
        assert_eq!(TRAFFIC.index("action"), Some(30));
        assert_eq!(TRAFFIC.index("bytes_sent"), Some(32));
        assert_eq!(TRAFFIC.index("seqno"), Some(39));
        assert_eq!(TRAFFIC.index("session_end_reason"), Some(46));
        assert_eq!(TRAFFIC.index("device_name"), Some(52));
        assert_eq!(TRAFFIC.index("high_res_timestamp"), Some(102));
        assert_eq!(THREAT.index("threatid"), Some(32));
        assert_eq!(THREAT.index("seqno"), Some(36));
        assert_eq!(THREAT.index("device_name"), Some(59));
        assert_eq!(THREAT.index("thr_category"), Some(69));
        assert_eq!(THREAT.index("high_res_timestamp"), Some(107));
        assert_eq!(TRAFFIC.index("no_such_column"), None);
        // Every name answers with its own position (the first, were a name ever repeated).
        for layout in [&TRAFFIC, &THREAT] {
            for (i, n) in layout.names.iter().enumerate() {
                assert_eq!(layout.names[layout.index(n).unwrap()], *n);
                assert!(layout.index(n).unwrap() <= i);
            }
        }
    }
}
