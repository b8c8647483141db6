//! Who may do what through the API of `nzj serve`: named tokens, each with a role (README, "Roles
//! and tokens"). A viewer reads; an operator also runs, retries and syncs jobs, redrives
//! dead letters and edits maintenance windows; an admin also changes settings and the schedule,
//! releases or discards held deletions and purges dead letters. A token's name is the `user` of
//! the jobs it starts.
//!
//! Tokens are kept as their SHA-256 only (`NZJ_API_TOKENS_FILE`, one `name role sha256:<hex>` per
//! line, written by `nzj tokens new`): the file gives no one a way in. A plain hash is enough
//! because the tokens are 256 random bits, not passwords a person chose. `NZJ_API_TOKEN` keeps
//! working as an admin token named `admin`.

use crate::Secret;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

/// What a caller may do; each role may do what the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| format!("{s:?} is not a role (viewer, operator, admin)"))
    }
}

/// One token: its name, its role and the SHA-256 of the token.
#[derive(Clone)]
pub struct NamedToken {
    pub name: String,
    pub role: Role,
    digest: [u8; 32],
}

impl fmt::Debug for NamedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedToken").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

/// The name `NZJ_API_TOKEN` goes by.
pub const ENV_TOKEN_NAME: &str = "admin";

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// A token's name: what a job's `user` shows, so letters, digits and `.-_@` only.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok { Ok(()) } else { Err(format!("{name:?}: a token's name is 1 to 64 letters, digits or .-_@")) }
}

/// The tokens `nzj serve` takes.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    tokens: Vec<NamedToken>,
}

impl Tokens {
    /// Reads a tokens file: one `name role sha256:<hex>` per line; blank lines and `#` comments
    /// pass. An error names the line and never repeats a hash.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut tokens = Tokens::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", n + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, hash] = fields[..] else {
                return Err(at("expected `name role sha256:<hex>` (nzj tokens new writes it)".into()));
            };
            check_name(name).map_err(at)?;
            let role: Role = role.parse().map_err(at)?;
            let hex = hash.strip_prefix("sha256:").unwrap_or_default();
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex, &mut digest)
                .map_err(|_| at("the hash is not sha256: and 64 hex digits".into()))?;
            tokens.add(NamedToken { name: name.to_string(), role, digest }).map_err(at)?;
        }
        Ok(tokens)
    }

    /// Adds `NZJ_API_TOKEN` as the admin token.
    pub fn with_env_token(mut self, token: &Secret) -> Result<Tokens, String> {
        let named = NamedToken { name: ENV_TOKEN_NAME.into(), role: Role::Admin, digest: digest(token.expose()) };
        self.add(named).map_err(|e| format!("NZJ_API_TOKEN: {e}"))?;
        Ok(self)
    }

    fn add(&mut self, token: NamedToken) -> Result<(), String> {
        if self.tokens.iter().any(|t| t.name == token.name) {
            return Err(format!("two tokens are named {:?}", token.name));
        }
        if self.tokens.iter().any(|t| t.digest == token.digest) {
            return Err(format!("token {:?} is the same token as another one", token.name));
        }
        self.tokens.push(token);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The token presented, if it is one of these: compared by its hash, every hash looked at,
    /// each in constant time.
    pub fn find(&self, presented: &str) -> Option<&NamedToken> {
        let presented = digest(presented);
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.digest.ct_eq(&presented)) {
                found = Some(token);
            }
        }
        found
    }
}

/// A new token (256 random bits as hex, prefixed `nzj_` so scanners can spot a leaked one) and
/// its line for the tokens file.
pub fn new_token_line(name: &str, role: Role, random: [u8; 32]) -> Result<(Secret, String), String> {
    check_name(name)?;
    let token = format!("nzj_{}", hex::encode(random));
    let line = format!("{name} {role} sha256:{}", hex::encode(digest(&token)));
    Ok((Secret::new(token), line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_by_its_hash_with_its_name_and_role() {
        let (token, line) = new_token_line("alice", Role::Operator, [7; 32]).unwrap();
        assert!(!line.contains(token.expose()), "the file holds the hash, never the token");
        let tokens = Tokens::parse(&format!("# ops\n\n{line}\n")).unwrap();
        let found = tokens.find(token.expose()).unwrap();
        assert_eq!((found.name.as_str(), found.role), ("alice", Role::Operator));
        assert!(tokens.find("nzj_0000").is_none());
        assert!(tokens.find("").is_none());
    }

    #[test]
    fn the_env_token_is_an_admin_named_admin() {
        let tokens = Tokens::default().with_env_token(&Secret::new("0123456789abcdef")).unwrap();
        let found = tokens.find("0123456789abcdef").unwrap();
        assert_eq!((found.name.as_str(), found.role), (ENV_TOKEN_NAME, Role::Admin));
    }

    #[test]
    fn a_bad_tokens_file_is_refused_naming_the_line() {
        let (_, good) = new_token_line("bob", Role::Viewer, [1; 32]).unwrap();
        for (text, expected) in [
            ("bob viewer", "line 1: expected"),
            ("bob reader sha256:00", "line 1: \"reader\" is not a role"),
            ("bob viewer sha256:xyz", "line 1: the hash"),
            ("bob viewer 0123", "line 1: the hash"),
            ("b/b viewer sha256:00", "line 1: \"b/b\""),
            (&format!("{good}\n{good}"), "line 2: two tokens are named \"bob\""),
        ] {
            let error = Tokens::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let (_, other) = new_token_line("carol", Role::Viewer, [1; 32]).unwrap();
        let error = Tokens::parse(&format!("{good}\n{other}")).unwrap_err();
        assert!(error.contains("same token"), "{error}");
    }

    #[test]
    fn roles_are_ordered_and_read_as_typed() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(" admin ".parse::<Role>().unwrap(), Role::Admin);
        assert!("Admin".parse::<Role>().is_err());
    }
}
