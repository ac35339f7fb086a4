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
