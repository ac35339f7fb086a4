//! Which vendors exist, chosen by `vendor = "..."` in the config.

use crate::RecordParser;

/// One registered vendor.
pub struct VendorEntry {
    pub name: &'static str,
    pub description: &'static str,
    /// The record parser, where this build has one.
    pub parser: Option<fn() -> Box<dyn RecordParser>>,
}

/// The registry: adding a vendor is one line here.
pub const VENDORS: &[VendorEntry] = &[
    VendorEntry { name: "test", description: "logfetch's own JSON-lines test format (demo and tests)", parser: Some(|| Box::new(crate::test_vendor::TestParser)) },
    VendorEntry { name: "cisco", description: "Cisco ASA / Secure Firewall (FTD) syslog", parser: None },
    VendorEntry { name: "paloalto", description: "Palo Alto Networks PAN-OS XML API and syslog", parser: None },
    VendorEntry { name: "sentinelone", description: "SentinelOne Data Lake / Deep Visibility", parser: None },
    VendorEntry { name: "zscaler", description: "Zscaler Internet Access NSS / Cloud NSS", parser: None },
];

/// Vendor names, for config validation and `--help`.
pub fn vendor_names() -> Vec<&'static str> {
    VENDORS.iter().map(|v| v.name).collect()
}

/// The parser for `vendor`, or a message saying why there is none.
pub fn parser_for(vendor: &str) -> Result<Box<dyn RecordParser>, String> {
    match VENDORS.iter().find(|v| v.name == vendor) {
        None => Err(format!("unknown vendor `{vendor}`; known: {}", vendor_names().join(", "))),
        Some(VendorEntry { parser: Some(make), .. }) => Ok(make()),
        Some(v) => Err(format!("the {} parser is not part of this build yet", v.description)),
    }
}
