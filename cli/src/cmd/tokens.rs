//! `nzj tokens new NAME --role ROLE [--file PATH]`: a new API token for `nzj serve`. The token is
//! printed once; what `NZJ_API_TOKENS_FILE` keeps is its name, role and SHA-256 (`nzj_core::tokens`),
//! appended to the file with `--file` (created readable by its owner only). Local: no API call.

use anyhow::{Context, bail};
use nzj_core::tokens::{Role, Tokens, new_token_line};
use std::io::Write as _;
use std::path::Path;

pub fn tokens_new(name: &str, role: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("cannot generate a token: {e}"))?;
    let (token, line) = new_token_line(name, role, random).map_err(anyhow::Error::msg)?;
    match file {
        Some(path) => {
            let existing = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            // The file as it would be must still be read by `nzj serve`: a second `alice` is refused here.
            let mut text = existing.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
            if let Err(e) = Tokens::parse(&text) {
                bail!("{}: {e}", path.display());
            }
            append_private(path, &text[existing.len()..])
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("nzj: token {name:?} ({role}) added to {}; restart nzj serve to use it", path.display());
        }
        None => {
            eprintln!("nzj: add this line to the file NZJ_API_TOKENS_FILE names, then restart nzj serve:");
            eprintln!("{line}");
        }
    }
    eprintln!("nzj: the token (shown once, kept nowhere):");
    outln!("{}", token.expose());
    Ok(())
}

/// Appends to a file only its owner can read (created so).
fn append_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
