//! The caller registry (`config/callers.toml`): who may call, with which attributes the rules see
//! (organisation, roles, tier, jurisdiction, accepted terms, human oversight, licences), and the
//! API keys that authenticate them — stored only as SHA-256 hashes.
//!
//! An API key is `vk_<credential id>_<secret>`: the credential id is 16 lowercase hex digits (it
//! is not secret: the ledger records it), the secret 64 lowercase hex digits (32 random bytes).
//! The file stores SHA-256 of the whole key, in hex. [`CallerRegistry::authenticate`] looks the
//! credential id up and compares the hashes in constant time.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{CallerProblem, PolicyError};

const KEY_PREFIX: &str = "vk_";
/// Largest caller file read (a guard).
const MAX_FILE_BYTES: u64 = 16 << 20;

pub use crate::ids::{CallerId, CredentialId};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May run models (`infer`).
    Caller,
    /// May read the ledger through the regulator API (`audit`).
    Regulator,
    /// Operates the service.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Regulator => "regulator",
            Self::Admin => "admin",
        }
    }
}

/// One caller as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerRecord {
    pub id: String,
    pub organisation: String,
    pub roles: Vec<Role>,
    #[serde(default = "default_tier")]
    pub tier: String,
    /// ISO 3166-1 alpha-2 code, upper case.
    pub jurisdiction: String,
    /// The version of the terms of use the caller has accepted.
    pub terms_version: String,
    #[serde(default)]
    pub human_oversight: bool,
    #[serde(default)]
    pub licences: Vec<String>,
    #[serde(default)]
    pub credentials: Vec<CredentialRecord>,
}

fn default_tier() -> String {
    "standard".to_owned()
}

/// One API key of a caller, as written in the file: its id and the SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRecord {
    pub id: String,
    pub sha256: String,
    /// When the key was created (RFC 3339), for the operator's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallersFile {
    #[serde(default)]
    callers: Vec<CallerRecord>,
}

/// A caller, checked: what the rules see about it (its Cedar entity is built here, once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    entity: Option<cedar_policy::Entity>,
    token: super::facts::FactsToken,
    id: CallerId,
    organisation: String,
    roles: BTreeSet<Role>,
    tier: String,
    jurisdiction: String,
    terms_version: String,
    human_oversight: bool,
    licences: BTreeSet<String>,
}

impl Caller {
    /// Checks a record (credentials are the registry's business and are not looked at here).
    pub fn from_record(record: &CallerRecord) -> Result<Self, CallerProblem> {
        let id = CallerId::parse(&record.id)
            .ok_or_else(|| CallerProblem::BadCallerId(record.id.clone()))?;
        let j = &record.jurisdiction;
        if !super::jurisdiction::is_assigned(j) {
            return Err(CallerProblem::BadJurisdiction(record.id.clone(), j.clone()));
        }
        if !super::context::is_token(&record.terms_version) {
            return Err(CallerProblem::BadTermsVersion(
                record.id.clone(),
                record.terms_version.clone(),
            ));
        }
        for (what, value) in [
            ("organisation", &record.organisation),
            ("tier", &record.tier),
        ] {
            if value.trim().is_empty() {
                return Err(CallerProblem::Empty(record.id.clone(), what));
            }
        }
        if record.roles.is_empty() {
            return Err(CallerProblem::NoRoles(record.id.clone()));
        }
        let mut caller = Self {
            entity: None,
            token: super::facts::FactsToken::new(),
            id,
            organisation: record.organisation.clone(),
            roles: record.roles.iter().copied().collect(),
            tier: record.tier.clone(),
            jurisdiction: j.clone(),
            terms_version: record.terms_version.clone(),
            human_oversight: record.human_oversight,
            licences: record.licences.iter().cloned().collect(),
        };
        let entity = super::facts::caller_entity(&caller)
            .map_err(|e| CallerProblem::Entity(record.id.clone(), Arc::from(e)))?;
        caller.entity = Some(entity);
        Ok(caller)
    }

    pub(crate) fn token(&self) -> super::facts::FactsToken {
        self.token
    }

    /// The caller's Cedar entity (always present once constructed by [`Caller::from_record`]).
    pub(crate) fn entity(&self) -> Option<&cedar_policy::Entity> {
        self.entity.as_ref()
    }

    pub fn id(&self) -> &CallerId {
        &self.id
    }
    pub fn organisation(&self) -> &str {
        &self.organisation
    }
    pub fn roles(&self) -> &BTreeSet<Role> {
        &self.roles
    }
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    pub fn tier(&self) -> &str {
        &self.tier
    }
    pub fn jurisdiction(&self) -> &str {
        &self.jurisdiction
    }
    pub fn terms_version(&self) -> &str {
        &self.terms_version
    }
    pub fn human_oversight(&self) -> bool {
        self.human_oversight
    }
    pub fn licences(&self) -> &BTreeSet<String> {
        &self.licences
    }
}

/// A freshly created API key. Shown once; only its hash is stored.
pub struct ApiKey {
    credential: CredentialId,
    key: String,
}

impl ApiKey {
    /// A new random key (32 bytes from the operating system's generator).
    pub fn generate() -> Self {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let credential = CredentialId::from_random(id);
        let key = format!("{KEY_PREFIX}{credential}_{}", hex::encode(secret));
        Self { credential, key }
    }

    pub fn credential(&self) -> &CredentialId {
        &self.credential
    }

    /// The key itself, to hand to the caller.
    pub fn expose(&self) -> &str {
        &self.key
    }

    /// SHA-256 of the key, lowercase hex: what the file stores.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.key.as_bytes()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// What [`CallerRegistry::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new caller with its first key.
    Caller,
    /// A new key for a caller already in the file (its other attributes were left as they are).
    Credential,
}

/// The loaded caller registry.
#[derive(Debug, Default)]
pub struct CallerRegistry {
    callers: Vec<std::sync::Arc<Caller>>,
    by_id: HashMap<CallerId, usize>,
    credentials: HashMap<CredentialId, (usize, [u8; 32])>,
}

impl CallerRegistry {
    /// Reads and checks the caller file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let file = read_file(path)?;
        Self::from_records(&file.callers).map_err(|problem| PolicyError::CallersInvalid {
            path: path.to_owned(),
            problem,
        })
    }

    /// Builds a registry from records (the file's content).
    pub fn from_records(records: &[CallerRecord]) -> Result<Self, CallerProblem> {
        let mut registry = Self::default();
        for record in records {
            let caller = Caller::from_record(record)?;
            let index = registry.callers.len();
            if registry.by_id.insert(caller.id.clone(), index).is_some() {
                return Err(CallerProblem::DuplicateCaller(record.id.clone()));
            }
            for cred in &record.credentials {
                let id = CredentialId::parse(&cred.id)
                    .ok_or_else(|| CallerProblem::BadCredentialId(cred.id.clone()))?;
                let hash = parse_hash(&cred.sha256)
                    .ok_or_else(|| CallerProblem::BadHash(cred.id.clone()))?;
                if registry.credentials.insert(id, (index, hash)).is_some() {
                    return Err(CallerProblem::DuplicateCredential(cred.id.clone()));
                }
            }
            registry.callers.push(std::sync::Arc::new(caller));
        }
        Ok(registry)
    }

    pub fn get(&self, id: &str) -> Option<&Caller> {
        let id = CallerId::parse(id)?;
        self.by_id
            .get(&id)
            .and_then(|&i| self.callers.get(i))
            .map(|c| &**c)
    }

    pub fn callers(&self) -> impl Iterator<Item = &Caller> {
        self.callers.iter().map(|c| &**c)
    }

    /// The caller a presented API key belongs to, and the key's credential id; `None` for a
    /// malformed, unknown or wrong key. The hash comparison runs in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<(std::sync::Arc<Caller>, CredentialId)> {
        let rest = presented.strip_prefix(KEY_PREFIX)?;
        let (id, _secret) = rest.split_once('_')?;
        let id = CredentialId::parse(id)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let (index, stored) = self.credentials.get(&id)?;
        if bool::from(digest.ct_eq(stored)) {
            self.callers
                .get(*index)
                .map(|c| (std::sync::Arc::clone(c), id))
        } else {
            None
        }
    }

    /// Creates a key for `record.id`: a new caller (with the record's attributes) if the file
    /// has none of that id, else a new credential for the existing caller. Creates the file if
    /// it does not exist. Returns the key, to be shown once.
    pub fn add(path: &Path, record: CallerRecord) -> Result<(ApiKey, Added), PolicyError> {
        let mut file = if path.exists() {
            read_file(path)?
        } else {
            CallersFile::default()
        };
        let key = ApiKey::generate();
        let credential = CredentialRecord {
            id: key.credential().as_str().to_owned(),
            sha256: key.sha256_hex(),
            created: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        let invalid = |problem| PolicyError::CallersInvalid {
            path: path.to_owned(),
            problem,
        };
        if let Some(existing) = file.callers.iter_mut().find(|c| c.id == record.id) {
            existing.credentials.push(credential);
            Self::from_records(&file.callers).map_err(invalid)?;
            let text = toml::to_string(&file)?;
            write_atomically(path, text.as_bytes())?;
            return Ok((key, Added::Credential));
        }
        let mut record = record;
        record.credentials = vec![credential];
        Caller::from_record(&record).map_err(invalid)?;
        file.callers.push(record.clone());
        Self::from_records(&file.callers).map_err(invalid)?;
        // Append the new caller so the comments and layout of the file are kept.
        let block = toml::to_string(&CallersFile {
            callers: vec![record],
        })?;
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&block);
        write_atomically(path, text.as_bytes())?;
        Ok((key, Added::Caller))
    }
}

fn read_file(path: &Path) -> Result<CallersFile, PolicyError> {
    let io = |source| PolicyError::Io {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 16 MiB",
        )));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    toml::from_str(&text).map_err(|source| PolicyError::CallersParse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PolicyError> {
    let err = |source| PolicyError::CallersWrite {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    std::fs::create_dir_all(&dir).map_err(err)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> CallerRecord {
        CallerRecord {
            id: id.into(),
            organisation: "Org".into(),
            roles: vec![Role::Caller],
            tier: "standard".into(),
            jurisdiction: "DE".into(),
            terms_version: "2026-01".into(),
            human_oversight: false,
            licences: vec![],
            credentials: vec![],
        }
    }

    #[test]
    fn key_authenticates_only_itself() {
        let key = ApiKey::generate();
        let mut r = record("a");
        r.credentials.push(CredentialRecord {
            id: key.credential().as_str().into(),
            sha256: key.sha256_hex(),
            created: None,
        });
        let reg = CallerRegistry::from_records(&[r]).unwrap();
        let (caller, cred) = reg.authenticate(key.expose()).unwrap();
        assert_eq!(caller.id().as_str(), "a");
        assert_eq!(&cred, key.credential());
        let mut wrong = key.expose().to_owned();
        wrong.pop();
        wrong.push('0');
        let wrong = if wrong == key.expose() {
            wrong.replace("0", "1")
        } else {
            wrong
        };
        assert!(reg.authenticate(&wrong).is_none());
        assert!(reg.authenticate("vk_").is_none());
        assert!(reg.authenticate("").is_none());
    }

    #[test]
    fn rejects_bad_records() {
        let mut r = record("a");
        r.jurisdiction = "de".into();
        assert!(matches!(
            CallerRegistry::from_records(&[r]),
            Err(CallerProblem::BadJurisdiction(..))
        ));
        assert!(matches!(
            CallerRegistry::from_records(&[record("a"), record("a")]),
            Err(CallerProblem::DuplicateCaller(_))
        ));
        assert!(matches!(
            CallerRegistry::from_records(&[record("A b")]),
            Err(CallerProblem::BadCallerId(_))
        ));
        let mut r = record("a");
        r.jurisdiction = "XX".into();
        assert!(matches!(
            CallerRegistry::from_records(&[r]),
            Err(CallerProblem::BadJurisdiction(..))
        ));
        for terms in ["2099 !!", "", "A-1", "-1"] {
            let mut r = record("a");
            r.terms_version = terms.into();
            assert!(
                matches!(
                    CallerRegistry::from_records(&[r]),
                    Err(CallerProblem::BadTermsVersion(..))
                ),
                "{terms}"
            );
        }
        let mut r = record("a");
        r.organisation = " ".into();
        assert!(matches!(
            CallerRegistry::from_records(&[r]),
            Err(CallerProblem::Empty(_, "organisation"))
        ));
        let mut r = record("a");
        r.tier = String::new();
        assert!(matches!(
            CallerRegistry::from_records(&[r]),
            Err(CallerProblem::Empty(_, "tier"))
        ));
    }
}
