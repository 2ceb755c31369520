//! Programming a board: the commands that write a bitstream to its configuration
//! flash (openFPGALoader, or iceprog), a check that the board is attached, and clear
//! errors when it is not.

use crate::board::Board;
use crate::tools::{self, ToolError};
use std::path::Path;
use std::process::Command;

/// Why programming failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The bitstream is not there.
    #[error("bitstream {0}: no such file")]
    NoBitstream(String),
    /// The programmer is not installed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// No board answers.
    #[error("no {board} attached: {tool} found no programming cable ({said})")]
    NotAttached {
        /// The board.
        board: String,
        /// The programmer.
        tool: String,
        /// What it said.
        said: String,
    },
    /// The programmer failed otherwise.
    #[error("{tool} failed programming the {board}: {said}")]
    Failed {
        /// The board.
        board: String,
        /// The programmer.
        tool: String,
        /// What it said.
        said: String,
    },
}

/// Which program writes the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Programmer {
    /// openFPGALoader.
    OpenFpgaLoader,
    /// iceprog (fpga-icestorm).
    Iceprog,
}

impl Programmer {
    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            Programmer::OpenFpgaLoader => "openFPGALoader",
            Programmer::Iceprog => "iceprog",
        }
    }

    fn find(self) -> Result<std::path::PathBuf, ToolError> {
        Ok(match self {
            Programmer::OpenFpgaLoader => tools::openfpgaloader()?.path,
            Programmer::Iceprog => tools::iceprog()?.path,
        })
    }
}

/// The argument lists that detect the board and write `bitstream` to its flash.
pub fn commands(board: &Board, p: Programmer, bitstream: &Path) -> (Vec<String>, Vec<String>) {
    let file = bitstream.display().to_string();
    match p {
        Programmer::OpenFpgaLoader => (
            vec![
                "-b".into(),
                board.openfpgaloader_board.clone(),
                "--detect".into(),
            ],
            vec!["-b".into(), board.openfpgaloader_board.clone(), file],
        ),
        Programmer::Iceprog => (vec!["-t".into()], vec![file]),
    }
}

/// What the programmer said, on one line.
fn said(o: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn looks_absent(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "device not found",
        "can't find",
        "no device",
        "unable to open",
        "failed to claim",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// Checks that the board answers; with `program`, then writes `bitstream` to it.
pub fn deploy(
    board: &Board,
    p: Programmer,
    bitstream: &Path,
    program: bool,
) -> Result<(), DeployError> {
    if program && !bitstream.is_file() {
        return Err(DeployError::NoBitstream(bitstream.display().to_string()));
    }
    let tool = p.find()?;
    let (detect, write) = commands(board, p, bitstream);
    let run = |args: &[String]| -> Result<(), DeployError> {
        let o = Command::new(&tool)
            .args(args)
            .output()
            .map_err(|e| DeployError::Failed {
                board: board.name.clone(),
                tool: p.name().into(),
                said: e.to_string(),
            })?;
        let text = said(&o);
        if o.status.success() {
            Ok(())
        } else if looks_absent(&text) {
            Err(DeployError::NotAttached {
                board: board.name.clone(),
                tool: p.name().into(),
                said: text,
            })
        } else {
            Err(DeployError::Failed {
                board: board.name.clone(),
                tool: p.name().into(),
                said: text,
            })
        }
    };
    run(&detect)?;
    if program {
        run(&write)?;
    }
    Ok(())
}
