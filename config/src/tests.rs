use super::*;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

const VENDORS: &[&str] = &["cisco", "paloalto", "sentinelone", "zscaler", "test"];

fn parse_err(text: &str) -> String {
    Config::parse(text, Path::new("logfetch.toml")).unwrap_err().to_string()
}

fn check_errs(text: &str) -> Vec<String> {
    let cfg = Config::parse(text, Path::new("logfetch.toml")).unwrap();
    cfg.check(text, Path::new("logfetch.toml"), VENDORS).unwrap_err().iter().map(|e| e.to_string()).collect()
}

const GOOD: &str = r#"
[service]
data_dir = "/var/lib/logfetch"

[[tenant]]
id = "pan-fw1"
vendor = "paloalto"
kinds = ["flow", "dns"]
timezone = "Europe/Berlin"
schedule = "*/5 * * * *"
sinks = ["files"]
[tenant.connection]
url = "https://fw1.example.net"
api_key = "env:PAN_KEY"

[[sink]]
name = "files"
type = "file"
path = "/var/lib/logfetch/out"
format = "ecs"
"#;

#[test]
fn a_complete_config_parses_with_defaults() {
    let cfg = Config::parse(GOOD, Path::new("x.toml")).unwrap();
    cfg.check(GOOD, Path::new("x.toml"), VENDORS).unwrap();
    let t = &cfg.tenants[0];
    assert_eq!(t.id(), "pan-fw1");
    assert_eq!(t.tz(), chrono_tz::Europe::Berlin);
    assert_eq!(t.initial_lookback.0, Duration::from_secs(3600));
    assert_eq!(t.max_lookback.0, Duration::from_secs(7 * 86400));
    assert!(t.connection.tls_verify, "TLS verification is on unless turned off");
    assert_eq!(t.connection.api_key, Some(SecretRef::Env("PAN_KEY".into())));
    assert_eq!(cfg.sinks[0].format, Format::Ecs);
    assert_eq!(cfg.service.admin_listen.to_string(), "127.0.0.1:8686");
    assert_eq!(t.routes(&cfg).len(), 1);
}

#[test]
fn unknown_key_names_file_line_column_and_the_expected_keys() {
    let text = "[service]\ndata_dir = \"/x\"\nadmin_lisen = \"127.0.0.1:1\"\n";
    let err = parse_err(text);
    assert!(err.starts_with("logfetch.toml:3:1: "), "{err}");
    assert!(err.contains("unknown field `admin_lisen`"), "{err}");
    assert!(err.contains("admin_listen"), "lists the expected keys: {err}");
    // Also inside a nested table.
    let text = GOOD.replace("api_key = \"env:PAN_KEY\"", "api_kee = \"env:PAN_KEY\"");
    let err = parse_err(&text);
    assert!(err.contains(":14:1: ") && err.contains("unknown field `api_kee`"), "{err}");
}

#[test]
fn bad_type_is_precise() {
    let text = GOOD.replace("kinds = [\"flow\", \"dns\"]", "kinds = \"flow\"");
    let err = parse_err(&text);
    assert!(err.starts_with("logfetch.toml:8:9: "), "{err}");
    assert!(err.contains("expected a sequence"), "{err}");
    let text = GOOD.replace("path = \"/var/lib/logfetch/out\"", "path = \"/o\"\nbatch_max_events = \"many\"");
    let err = parse_err(&text);
    assert!(err.contains("invalid type: string \"many\", expected usize"), "{err}");
    let text = GOOD.replace("kinds = [\"flow\", \"dns\"]", "kinds = [\"flow\", \"netflow\"]");
    let err = parse_err(&text);
    assert!(err.contains("unknown variant `netflow`, expected one of `flow`, `dns`, `finding`"), "{err}");
    let text = GOOD.replace("data_dir = \"/var/lib/logfetch\"", "shutdown_timeout = \"10 minutes\"");
    let err = parse_err(&text);
    assert!(err.contains("logfetch.toml:3:") && err.contains("unknown unit"), "{err}");
}

#[test]
fn a_literal_secret_in_the_file_is_refused() {
    let text = GOOD.replace("api_key = \"env:PAN_KEY\"", "api_key = \"LUFRPT14MW5xOEo1R09KVlBZNnpnemh0VHRBOWl6TGM9\"");
    let err = parse_err(&text);
    assert!(err.contains("logfetch.toml:14:11") && err.contains("not a secret reference"), "{err}");
    assert!(!err.contains("MW5xOEo1R09KVlBZ"), "the secret is not echoed: {err}");
}

#[test]
fn semantic_errors_point_at_the_value() {
    let text = GOOD.replace("vendor = \"paloalto\"", "vendor = \"fortinet\"").replace("Europe/Berlin", "Europe/Berlinn").replace("sinks = [\"files\"]", "sinks = [\"splunk\"]");
    let errs = check_errs(&text);
    assert!(errs.iter().any(|e| e.starts_with("logfetch.toml:7:10: ") && e.contains("unknown vendor `fortinet`")), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("logfetch.toml:9:12: ") && e.contains("unknown time zone `Europe/Berlinn`")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains(":11:10: ") && e.contains("no sink named `splunk`")), "{errs:?}");
    let dup = format!("{GOOD}\n[[tenant]]\nid = \"pan-fw1\"\nvendor = \"cisco\"\n");
    let errs = check_errs(&dup);
    assert!(errs.iter().any(|e| e.contains(":23:6: ") && e.contains("used twice")), "{errs:?}");
    let open = GOOD.replace("data_dir = \"/var/lib/logfetch\"", "admin_listen = \"0.0.0.0:8686\"");
    let errs = check_errs(&open);
    assert!(errs.iter().any(|e| e.contains("admin_token")), "{errs:?}");
}

#[test]
fn missing_secret_names_tenant_field_and_cause() {
    let cfg = Config::parse(GOOD, Path::new("x.toml")).unwrap();
    let env: HashMap<String, String> = HashMap::new();
    let errs = cfg.check_secrets(&env);
    assert_eq!(errs, ["tenant `pan-fw1`, connection.api_key (env:PAN_KEY): environment variable `PAN_KEY` is not set"]);
    let mut env = HashMap::new();
    env.insert("PAN_KEY".to_string(), "x".to_string());
    assert!(cfg.check_secrets(&env).is_empty());
}

#[test]
fn world_readable_secret_file_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("pan.key");
    std::fs::write(&key, "secret\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = GOOD.replace("env:PAN_KEY", &format!("file:{}", key.display()));
    let cfg = Config::parse(&text, Path::new("x.toml")).unwrap();
    let errs = cfg.check_secrets(&HashMap::new());
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("tenant `pan-fw1`, connection.api_key"), "{}", errs[0]);
    assert!(errs[0].contains("readable by group or others (mode 0644)"), "{}", errs[0]);
    assert!(errs[0].contains(&format!("chmod 600 {}", key.display())), "{}", errs[0]);
}

#[test]
fn debug_output_of_a_config_holds_no_secret_values() {
    let cfg = Config::parse(GOOD, Path::new("x.toml")).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(dbg.contains("PAN_KEY"), "references are fine to show");
}

#[test]
fn every_hunting_threshold_is_set_per_tenant_and_checked() {
    let text = GOOD.replace(
        "[tenant.connection]",
        r#"[tenant.hunt]
window = "5m"
tunnel_min_unique = 20
tunnel_unique_alone = 300
tunnel_mean_length = 24.5
tunnel_mean_entropy = 3.5
nx_dga_min = 8
dga_threshold = 0.97
txt_per_minute = 120
spike_sigmas = 6.0
spike_min_queries = 500
spike_warmup = "30m"
nx_ratio = 0.8
nx_ratio_min_queries = 200
new_domain_age = "2h"
new_domain_queries = 1000
max_domains = 20000
max_clients = 5000
brands = ["example.com"]
[tenant.connection]"#,
    );
    let cfg = Config::parse(&text, Path::new("x.toml")).unwrap();
    cfg.check(&text, Path::new("x.toml"), VENDORS).unwrap();
    let h = cfg.tenants[0].hunt.as_ref().unwrap();
    assert_eq!((h.tunnel_min_unique, h.tunnel_unique_alone, h.nx_dga_min, h.txt_per_minute), (20, 300, 8, 120));
    assert_eq!((h.tunnel_mean_length, h.tunnel_mean_entropy, h.dga_threshold, h.spike_sigmas, h.nx_ratio), (24.5, 3.5, Some(0.97), 6.0, 0.8));
    assert_eq!((h.spike_min_queries, h.nx_ratio_min_queries, h.new_domain_queries, h.max_domains, h.max_clients), (500, 200, 1000, 20000, 5000));
    assert_eq!((h.window.get().as_secs(), h.spike_warmup.get().as_secs(), h.new_domain_age.get().as_secs()), (300, 1800, 7200));
    // Defaults when only the table is there.
    let text = GOOD.replace("[tenant.connection]", "[tenant.hunt]\n[tenant.connection]");
    let h = Config::parse(&text, Path::new("x.toml")).unwrap().tenants[0].hunt.clone().unwrap();
    assert_eq!((h.tunnel_min_unique, h.tunnel_unique_alone, h.nx_dga_min, h.txt_per_minute, h.dga_threshold), (10, 100, 5, 50, None));
    // Out of range: each named, with the tenant.
    let text = GOOD.replace("[tenant.connection]", "[tenant.hunt]\nnx_ratio = 1.5\ndga_threshold = 0\nmax_domains = 0\nbrands = [\"nodot\"]\n[tenant.connection]");
    let errs = check_errs(&text).join("\n");
    for want in ["tenant `pan-fw1`: hunt.nx_ratio = 1.5 must be above 0 and at most 1", "hunt.dga_threshold = 0 must be", "hunt.max_domains must be above 0", "`nodot` is not a domain name"] {
        assert!(errs.contains(want), "{want} missing from: {errs}");
    }
    assert!(parse_err(&GOOD.replace("[tenant.connection]", "[tenant.hunt]\ntxt_rate = 5\n[tenant.connection]")).contains("txt_rate"));
}
