//! Where `paygate-cli login` keeps the credentials: a JSON file readable by
//! its owner only (mode 0600, in a 0700 directory), under
//! `$PAYGATE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/paygate`, else
//! `~/.config/paygate`. A file that others can read is refused, as ssh does.
//! (The OS keyring was not chosen: headless servers and CI runners rarely
//! have one, and its crates pull in a D-Bus stack.)
//!
//! `PAYGATE_API_KEY` (with `PAYGATE_BASE_URL`, and optionally
//! `PAYGATE_API_SECRET`, `PAYGATE_MERCHANT_ID`, `PAYGATE_CA_FILE`) overrides
//! the file, for CI.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use paygate_sdk::Client;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Profile {
    pub base_url: String,
    #[serde(with = "exposed")]
    pub api_key: SecretString,
    #[serde(default, with = "exposed_option")]
    pub api_secret: Option<SecretString>,
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// An extra CA to trust (a sandbox server's `cert.pem`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("base_url", &self.base_url)
            .field("merchant_id", &self.merchant_id)
            .finish_non_exhaustive()
    }
}

mod exposed {
    use secrecy::{ExposeSecret as _, SecretString};
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose_secret())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        Ok(SecretString::from(String::deserialize(d)?))
    }
}

mod exposed_option {
    use secrecy::{ExposeSecret as _, SecretString};
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(v.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
    }
}

pub fn config_dir() -> Result<PathBuf, String> {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = from_env("PAYGATE_CONFIG_DIR") {
        return Ok(dir);
    }
    if let Some(dir) = from_env("XDG_CONFIG_HOME") {
        return Ok(dir.join("paygate"));
    }
    from_env("HOME")
        .map(|home| home.join(".config").join("paygate"))
        .ok_or_else(|| "no HOME: set PAYGATE_CONFIG_DIR".to_owned())
}

fn credentials_path() -> Result<PathBuf, String> {
    Ok(config_dir()?.join("credentials.json"))
}

impl Profile {
    /// The client these credentials describe.
    pub fn client(&self) -> Result<Client, String> {
        let mut builder = Client::builder(&self.base_url).api_key(self.api_key.expose_secret());
        if let Some(secret) = &self.api_secret {
            builder = builder.api_secret(secret.expose_secret());
        }
        if let Some(merchant) = &self.merchant_id {
            builder = builder.merchant_id(merchant);
        }
        if let Some(ca) = &self.ca_file {
            let pem = fs::read(ca).map_err(|e| format!("cannot read {}: {}", ca.display(), e.kind()))?;
            builder = builder.add_root_certificate_pem(pem);
        }
        builder.build().map_err(|e| e.to_string())
    }

    /// From the environment if `PAYGATE_API_KEY` is set, else from the file.
    pub fn load() -> Result<Profile, String> {
        if let Some(profile) = Self::from_env()? {
            return Ok(profile);
        }
        let path = credentials_path()?;
        let metadata = fs::metadata(&path)
            .map_err(|_| format!("not logged in ({} not found): run `paygate-cli login`", path.display()))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{} is readable by others: refusing to use it (chmod 600 it, then roll the key)",
                path.display()
            ));
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
        serde_json::from_str(&text).map_err(|_| format!("{} is not a credentials file", path.display()))
    }

    fn from_env() -> Result<Option<Profile>, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(api_key) = var("PAYGATE_API_KEY") else {
            return Ok(None);
        };
        Ok(Some(Profile {
            base_url: var("PAYGATE_BASE_URL").ok_or("PAYGATE_API_KEY is set but PAYGATE_BASE_URL is not")?,
            api_key: SecretString::from(api_key),
            api_secret: var("PAYGATE_API_SECRET").map(SecretString::from),
            merchant_id: var("PAYGATE_MERCHANT_ID"),
            ca_file: var("PAYGATE_CA_FILE").map(PathBuf::from),
        }))
    }

    /// Writes the file with mode 0600 (through a new file renamed into
    /// place, so it is never readable by others, even for a moment).
    pub fn store(&self) -> Result<PathBuf, String> {
        let dir = config_dir()?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {}", dir.display(), e.kind()))?;
        let path = dir.join("credentials.json");
        let temporary = dir.join(format!(".credentials.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .and_then(|mut file| file.write_all(text.as_bytes()).and_then(|()| file.sync_all()))
            .and_then(|()| fs::rename(&temporary, &path));
        if let Err(err) = written {
            let _ = fs::remove_file(&temporary);
            return Err(format!("cannot write {}: {}", path.display(), err.kind()));
        }
        Ok(path)
    }
}
