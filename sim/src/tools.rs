//! External programs polympc drives (Verilator here; yosys, nextpnr and friends in
//! `bitstreams`): found on PATH, with their version, or an error that says how to
//! install them.

use std::path::PathBuf;
use std::process::Command;

/// An external program found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalTool {
    /// Command name.
    pub name: &'static str,
    /// Where it was found.
    pub path: PathBuf,
    /// First line of its version output.
    pub version: String,
}

/// A program is missing or does not run.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Not on PATH.
    #[error("`{name}` was not found on PATH; install it with `scripts/setup` (Debian package `{package}`)")]
    Missing {
        /// Command name.
        name: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// Found but its version query failed.
    #[error("`{}` did not run: {message}", path.display())]
    Broken {
        /// Where it was found.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ExternalTool {
    /// Finds `name` on PATH and asks it for its version with `version_arg`.
    pub fn find(
        name: &'static str,
        package: &'static str,
        version_arg: &str,
    ) -> Result<ExternalTool, ToolError> {
        let path = which(name).ok_or(ToolError::Missing { name, package })?;
        let out = Command::new(&path)
            .arg(version_arg)
            .output()
            .map_err(|e| ToolError::Broken {
                path: path.clone(),
                message: e.to_string(),
            })?;
        // Some tools print their version on stderr, some exit non-zero for it.
        let text = [out.stdout, out.stderr].concat();
        let version = String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ToolError::Broken {
                path: path.clone(),
                message: format!("`{version_arg}` printed nothing"),
            })?;
        Ok(ExternalTool {
            name,
            path,
            version,
        })
    }

    /// The first `major.minor` number in the version line, e.g. `(5, 6)`.
    pub fn version_number(&self) -> Option<(u32, u32)> {
        self.version
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find_map(|w| {
                let mut it = w.split('.');
                let major = it.next()?.parse().ok()?;
                let minor = it.next()?.parse().ok()?;
                Some((major, minor))
            })
    }
}

/// The first executable called `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Verilator, which the harness builds generated Verilog with.
pub fn verilator() -> Result<ExternalTool, ToolError> {
    ExternalTool::find("verilator", "verilator", "--version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_says_how_to_install() {
        let e = ExternalTool::find("polympc-no-such-tool", "no-such-package", "--version")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("scripts/setup") && e.contains("no-such-package"),
            "{e}"
        );
    }

    #[test]
    fn parses_version_numbers() {
        let t = ExternalTool {
            name: "verilator",
            path: "/usr/bin/verilator".into(),
            version: "Verilator 5.006 2023-01-22 rev (Debian 5.006-3)".into(),
        };
        assert_eq!(t.version_number(), Some((5, 6)));
    }

    #[test]
    fn finds_installed_verilator() {
        let v = verilator().expect("scripts/setup installs Verilator");
        let (major, _) = v.version_number().expect("a version number");
        assert!(major >= 5, "{}", v.version);
    }
}
