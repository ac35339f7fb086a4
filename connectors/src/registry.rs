//! Which vendors exist, chosen by `vendor = "..."` in the config.

use crate::RecordParser;
use crate::pull::{PullError, PullSettings, PullSource};

/// Builds a vendor's push listener.
pub type PushFactory = fn(&crate::push::PushSettings) -> Result<Box<dyn crate::push::PushSource>, crate::push::PushError>;

/// Builds a vendor's pull source from resolved settings.
pub type PullFactory = fn(&PullSettings) -> Result<Box<dyn PullSource>, PullError>;

/// One registered vendor.
pub struct VendorEntry {
    pub name: &'static str,
    pub description: &'static str,
    /// The record parser, where this build has one.
    pub parser: Option<fn() -> Box<dyn RecordParser>>,
    /// The API pull transport, for vendors that have one.
    pub pull: Option<PullFactory>,
    /// The push listener, for vendors that send (syslog, NSS).
    pub push: Option<PushFactory>,
    /// How far each pull window reaches back into the previous one by default (vendors whose
    /// API shows records late); the tenant's `overlap` overrides it.
    pub default_overlap_secs: u64,
}

/// The registry: adding a vendor is one line here.
pub const VENDORS: &[VendorEntry] = &[
    VendorEntry { name: "test", description: "logfetch's own JSON-lines test format (demo and tests)", parser: Some(|| Box::new(crate::test_vendor::TestParser)), pull: Some(crate::test_vendor::api::build), push: Some(crate::test_vendor::receiver::build), default_overlap_secs: 0 },
    VendorEntry { name: "cisco", description: "Cisco ASA / Secure Firewall (FTD) syslog", parser: Some(|| Box::new(crate::cisco::CiscoParser::default())), pull: None, push: Some(crate::syslog::build), default_overlap_secs: 0 },
    VendorEntry { name: "paloalto", description: "Palo Alto Networks PAN-OS XML API and syslog", parser: Some(|| Box::new(crate::paloalto::PanParser)), pull: Some(crate::paloalto::api::build), push: Some(crate::syslog::build), default_overlap_secs: 0 },
    VendorEntry { name: "sentinelone", description: "SentinelOne Data Lake / Deep Visibility", parser: Some(|| Box::new(crate::sentinelone::SentinelOneParser)), pull: Some(crate::sentinelone::build_pull), push: None, default_overlap_secs: 120 },
    VendorEntry { name: "zscaler", description: "Zscaler Internet Access NSS / Cloud NSS", parser: Some(|| Box::new(crate::zscaler::ZscalerParser)), pull: None, push: Some(crate::zscaler::cloud_nss::build_push), default_overlap_secs: 0 },
];

/// The default pull-window overlap for `vendor`.
pub fn default_overlap(vendor: &str) -> std::time::Duration {
    std::time::Duration::from_secs(VENDORS.iter().find(|v| v.name == vendor).map_or(0, |v| v.default_overlap_secs))
}

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

/// The pull source for `vendor`, or why there is none.
pub fn pull_source_for(vendor: &str, settings: &PullSettings) -> Result<Box<dyn PullSource>, PullError> {
    match VENDORS.iter().find(|v| v.name == vendor) {
        Some(VendorEntry { pull: Some(make), .. }) => make(settings),
        Some(v) => Err(PullError::Config { tenant: settings.tenant.clone(), why: format!("the {} pull transport is not part of this build yet", v.description) }),
        None => Err(PullError::Config { tenant: settings.tenant.clone(), why: format!("unknown vendor `{vendor}`") }),
    }
}

/// The push listener for `vendor`, or why there is none.
pub fn push_source_for(vendor: &str, settings: &crate::push::PushSettings) -> Result<Box<dyn crate::push::PushSource>, crate::push::PushError> {
    match VENDORS.iter().find(|v| v.name == vendor) {
        Some(VendorEntry { push: Some(make), .. }) => make(settings),
        Some(v) => Err(crate::push::PushError::Config { tenant: settings.tenant.clone(), why: format!("the {} push listener is not part of this build yet", v.description) }),
        None => Err(crate::push::PushError::Config { tenant: settings.tenant.clone(), why: format!("unknown vendor `{vendor}`") }),
    }
}
