//! Secrets by reference. The config file never holds a secret value, only where to find it:
//! `keyring:<service>/<account>`, `env:VAR`, `file:/path` or `systemd:NAME`.

use std::path::{Path, PathBuf};

/// A secret value. `Debug` and `Display` never show it; the bytes are wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    /// The value, for the one place that must send it (an HTTP header, a login form).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8; the string is dropped right after.
        unsafe {
            for b in self.0.as_bytes_mut() {
                std::ptr::write_volatile(b, 0);
            }
        }
    }
}

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Keyring { service: String, account: String },
    Env(String),
    File(PathBuf),
    Systemd(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "`{0}` is not a secret reference; secrets are never written in the config file. Use `keyring:<service>/<account>`, `env:VAR`, `file:/path` or `systemd:NAME`"
    )]
    NotAReference(String),
    #[error("bad secret reference `{reference}`: {why}")]
    BadReference { reference: String, why: String },
    #[error("environment variable `{0}` is not set")]
    EnvMissing(String),
    #[error("cannot read secret file {path}: {why}")]
    FileUnreadable { path: PathBuf, why: String },
    #[error("secret file {path} is readable by group or others (mode {mode:04o}); run `chmod 600 {path}`")]
    FileTooOpen { path: PathBuf, mode: u32 },
    #[error("secret file {path} is empty")]
    FileEmpty { path: PathBuf },
    #[error(
        "`systemd:{0}` needs $CREDENTIALS_DIRECTORY, which only a service started by systemd with `LoadCredential={0}:...` (or `LoadCredentialEncrypted=`) has"
    )]
    NoCredentialsDirectory(String),
    #[error("systemd credential `{name}` not found in {dir}")]
    CredentialMissing { name: String, dir: PathBuf },
    #[error(
        "no keyring entry `{account}` in service `{service}`; store it with `logfetch secret set <tenant> --field <field>`"
    )]
    KeyringNoEntry { service: String, account: String },
    #[error(
        "the kernel keyring is not reachable ({why}). On a headless server logfetch uses the kernel keyutils store, which needs a session keyring (systemd services get one; in a shell try `keyctl session -`) and is blocked by Docker's default seccomp profile. Alternatively reference the secret as `env:VAR`, `file:/path` (mode 0600) or `systemd:NAME`"
    )]
    KeyringUnavailable { why: String },
}

impl std::str::FromStr for SecretRef {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| SecretError::BadReference { reference: s.to_string(), why: why.to_string() };
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(SecretError::NotAReference(redact_hint(s)));
        };
        match scheme {
            "keyring" => {
                let (service, account) = rest.split_once('/').ok_or_else(|| bad("expected keyring:<service>/<account>"))?;
                if service.is_empty() || account.is_empty() {
                    return Err(bad("service and account must both be non-empty"));
                }
                Ok(SecretRef::Keyring { service: service.into(), account: account.into() })
            }
            "env" => {
                if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(bad("expected env:VAR with letters, digits and _"));
                }
                Ok(SecretRef::Env(rest.into()))
            }
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad("expected an absolute path: file:/path/to/secret"));
                }
                Ok(SecretRef::File(PathBuf::from(rest)))
            }
            "systemd" => {
                if rest.is_empty() || rest.contains('/') {
                    return Err(bad("expected systemd:NAME (a credential name, no slashes)"));
                }
                Ok(SecretRef::Systemd(rest.into()))
            }
            _ => Err(SecretError::NotAReference(redact_hint(s))),
        }
    }
}

/// Never echo what might be a pasted secret back into an error message.
fn redact_hint(s: &str) -> String {
    if s.len() <= 4 { "[value hidden]".into() } else { format!("{}… (value hidden)", &s[..s.char_indices().nth(2).map_or(s.len(), |(i, _)| i)]) }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Keyring { service, account } => write!(f, "keyring:{service}/{account}"),
            SecretRef::Env(v) => write!(f, "env:{v}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
            SecretRef::Systemd(n) => write!(f, "systemd:{n}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Reads a secret file, refusing one that group or others may read.
pub fn read_secret_file(path: &Path) -> Result<Secret, SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| SecretError::FileUnreadable { path: path.into(), why: e.to_string() })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::FileTooOpen { path: path.into(), mode });
    }
    let mut text = std::fs::read_to_string(path).map_err(|e| SecretError::FileUnreadable { path: path.into(), why: e.to_string() })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(SecretError::FileEmpty { path: path.into() });
    }
    Ok(Secret(text))
}

/// Access to the OS keyring (keyring-core with the kernel keyutils store on Linux).
pub mod keyring {
    use super::{Secret, SecretError};
    use std::sync::OnceLock;

    static INIT: OnceLock<Result<(), String>> = OnceLock::new();

    /// Installs the kernel keyutils store as the default, joining a session keyring first when
    /// the process has none (without one, keyutils entries are not "possessed" and the store
    /// answers AccessDenied: `../shared/crates.md` §4.2). Idempotent. Tests install a mock store
    /// with [`use_store`] before anything calls this.
    pub fn init() -> Result<(), SecretError> {
        INIT.get_or_init(|| {
            let _ = linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, true);
            match linux_keyutils_keyring_store::Store::new() {
                Ok(store) => {
                    keyring_core::set_default_store(store);
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
        .map_err(|why| SecretError::KeyringUnavailable { why })
    }

    /// Replaces the store (tests: `keyring_core::mock::Store`).
    pub fn use_store(store: std::sync::Arc<keyring_core::CredentialStore>) {
        let _ = INIT.set(Ok(()));
        keyring_core::set_default_store(store);
    }

    fn map_err(service: &str, account: &str, e: keyring_core::Error) -> SecretError {
        match e {
            keyring_core::Error::NoEntry => SecretError::KeyringNoEntry { service: service.into(), account: account.into() },
            other => SecretError::KeyringUnavailable { why: other.to_string() },
        }
    }

    pub fn get(service: &str, account: &str) -> Result<Secret, SecretError> {
        init()?;
        let entry = keyring_core::Entry::new(service, account).map_err(|e| map_err(service, account, e))?;
        entry.get_password().map(Secret::new).map_err(|e| map_err(service, account, e))
    }

    pub fn set(service: &str, account: &str, value: &Secret) -> Result<(), SecretError> {
        init()?;
        let entry = keyring_core::Entry::new(service, account).map_err(|e| map_err(service, account, e))?;
        entry.set_password(value.expose()).map_err(|e| map_err(service, account, e))
    }
}

/// Where env lookups go: the process environment, or a fixed map in tests.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl SecretRef {
    /// Fetches the secret value.
    pub fn resolve(&self, env: &dyn Environment) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Env(var) => env.var(var).filter(|v| !v.is_empty()).map(Secret).ok_or_else(|| SecretError::EnvMissing(var.clone())),
            SecretRef::File(path) => read_secret_file(path),
            SecretRef::Systemd(name) => {
                let dir = env.var("CREDENTIALS_DIRECTORY").ok_or_else(|| SecretError::NoCredentialsDirectory(name.clone()))?;
                let path = Path::new(&dir).join(name);
                if !path.exists() {
                    return Err(SecretError::CredentialMissing { name: name.clone(), dir: dir.into() });
                }
                // systemd makes these files readable by the service only; mode is theirs to set.
                let mut text = std::fs::read_to_string(&path).map_err(|e| SecretError::FileUnreadable { path: path.clone(), why: e.to_string() })?;
                if text.ends_with('\n') {
                    text.pop();
                }
                Ok(Secret(text))
            }
            SecretRef::Keyring { service, account } => keyring::get(service, account),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn references_parse_and_literals_are_refused() {
        assert_eq!("env:PAN_KEY".parse::<SecretRef>().unwrap(), SecretRef::Env("PAN_KEY".into()));
        assert_eq!(
            "keyring:logfetch/fw1".parse::<SecretRef>().unwrap(),
            SecretRef::Keyring { service: "logfetch".into(), account: "fw1".into() }
        );
        assert_eq!("file:/etc/logfetch/k".parse::<SecretRef>().unwrap(), SecretRef::File("/etc/logfetch/k".into()));
        assert_eq!("systemd:pan".parse::<SecretRef>().unwrap(), SecretRef::Systemd("pan".into()));
        let err = "LUFRPT1234secretkey".parse::<SecretRef>().unwrap_err();
        assert!(matches!(err, SecretError::NotAReference(_)));
        assert!(!err.to_string().contains("1234secretkey"), "a pasted secret is not echoed: {err}");
        assert!("file:relative/path".parse::<SecretRef>().is_err());
        assert!("keyring:onlyservice".parse::<SecretRef>().is_err());
    }

    #[test]
    fn env_refs_resolve_through_the_given_environment() {
        let mut env = HashMap::new();
        env.insert("K".to_string(), "v1".to_string());
        assert_eq!(SecretRef::Env("K".into()).resolve(&env).unwrap().expose(), "v1");
        assert_eq!(SecretRef::Env("NOPE".into()).resolve(&env).unwrap_err(), SecretError::EnvMissing("NOPE".into()));
    }

    #[test]
    fn file_refs_refuse_group_or_world_readable_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, "s3cret").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret_file(&p).unwrap_err();
        assert!(matches!(err, SecretError::FileTooOpen { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret_file(&p).unwrap().expose(), "s3cret", "one trailing newline stripped");
    }

    #[test]
    fn systemd_refs_need_the_credentials_directory() {
        let env: HashMap<String, String> = HashMap::new();
        let err = SecretRef::Systemd("pan".into()).resolve(&env).unwrap_err();
        assert!(err.to_string().contains("LoadCredential=pan"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pan"), "abc\n").unwrap();
        let mut env = HashMap::new();
        env.insert("CREDENTIALS_DIRECTORY".to_string(), dir.path().display().to_string());
        assert_eq!(SecretRef::Systemd("pan".into()).resolve(&env).unwrap().expose(), "abc");
        assert!(matches!(SecretRef::Systemd("other".into()).resolve(&env), Err(SecretError::CredentialMissing { .. })));
    }

    #[test]
    fn keyring_refs_go_through_the_keyring_store() {
        keyring::use_store(keyring_core::mock::Store::new().unwrap());
        let r = SecretRef::Keyring { service: "logfetch-test".into(), account: "fw1".into() };
        let env: HashMap<String, String> = HashMap::new();
        assert!(matches!(r.resolve(&env), Err(SecretError::KeyringNoEntry { .. })));
        keyring::set("logfetch-test", "fw1", &Secret::new("from-keyring".into())).unwrap();
        assert_eq!(r.resolve(&env).unwrap().expose(), "from-keyring");
    }
}
