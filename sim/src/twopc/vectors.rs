//! Test vectors of a private inference: what each party's hardware blocks took and gave
//! at every node (operand shares, Beaver triples and openings, masks, garbling offsets,
//! input labels and tables, output shares), recorded during a real two-party run so
//! that the Verilator tests of the blocks, and of whole accelerators, replay the
//! protocol's own numbers.
//!
//! On disk a vector set is a folder: `manifest.json` (the network, its spec hash, the
//! ring, the seed, the image, and one entry per array) and one text file per array
//! under `server/` and `client/`, one hexadecimal word per line, zero-padded to the
//! array's width: the format Verilog's `$readmemh` loads. The folder is written under
//! a temporary name and renamed into place, so a reader never sees half of one.

use super::channel::{Phase, Role};
use super::model::Network;
use super::SimError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One named array of a node as one party saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorArray {
    /// The node (`None`: the output reveal).
    pub node: Option<usize>,
    /// The phase it belongs to.
    pub phase: Phase,
    /// What it holds (`x`, `y`, `a`, `d`, `tables`, ...).
    pub name: &'static str,
    /// Bits per value: the ring's `l`, 1 for bits, 128 for labels.
    pub bits: u32,
    /// The values.
    pub values: Vec<u128>,
}

/// The arrays one party recorded during one inference (none unless enabled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestVectors {
    enabled: bool,
    /// The arrays, in the order they were recorded.
    pub arrays: Vec<VectorArray>,
}

impl TestVectors {
    /// A recorder that keeps arrays when `enabled`, and otherwise drops them.
    pub fn new(enabled: bool) -> TestVectors {
        TestVectors {
            enabled,
            arrays: Vec::new(),
        }
    }

    /// Whether arrays are kept.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Keeps `values`, each of `bits` bits, as `name` of `node` in `phase`.
    pub fn add<T: Copy + Into<u128>>(
        &mut self,
        node: Option<usize>,
        phase: Phase,
        name: &'static str,
        bits: u32,
        values: &[T],
    ) {
        if self.enabled {
            self.arrays.push(VectorArray {
                node,
                phase,
                name,
                bits,
                values: values.iter().map(|&v| v.into()).collect(),
            });
        }
    }

    /// Keeps ring elements (`l` bits each) of an online node.
    pub fn ring(&mut self, net: &Network, node: usize, name: &'static str, values: &[u64]) {
        self.add(Some(node), Phase::Online, name, net.ring.l, values);
    }

    /// The array `name` of `node`, if recorded.
    pub fn get(&self, node: Option<usize>, name: &str) -> Option<&VectorArray> {
        self.arrays
            .iter()
            .find(|a| a.node == node && a.name == name)
    }
}

/// What a vector set is of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorMeta {
    /// The network's name.
    pub network: String,
    /// The SHA-256 of its spec (hexadecimal), as the parties' greeting carries it.
    pub spec_hash: String,
    /// The ring's bits.
    pub ring_bits: u32,
    /// Fractional bits.
    pub frac_bits: u32,
    /// The dealer's seed of the run.
    pub dealer_seed: String,
    /// The test image's index, if it came from a dataset.
    pub image: Option<usize>,
    /// The image's label, if known.
    pub label: Option<u8>,
    /// The revealed output (ring elements).
    pub output: Vec<u64>,
}

impl VectorMeta {
    /// The set of one run of `net` with the dealer's `seed` that revealed `output`
    /// (no image named).
    pub fn of(net: &Network, seed: u128, output: &[u64]) -> VectorMeta {
        VectorMeta {
            network: net.spec.spec().name.clone(),
            spec_hash: net.spec_hash().iter().map(|b| format!("{b:02x}")).collect(),
            ring_bits: net.ring.l,
            frac_bits: net.ring.f,
            dealer_seed: seed.to_string(),
            image: None,
            label: None,
            output: output.to_vec(),
        }
    }
}

/// One array in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `server` or `client`.
    pub party: String,
    /// The node (`None`: the output reveal).
    pub node: Option<usize>,
    /// The node's label (`conv1`, `poly2`, ...; `output` for the reveal).
    pub label: String,
    /// The node's kind, as the traffic table names it.
    pub kind: String,
    /// `offline`, `online` or `output`.
    pub phase: String,
    /// The array's name.
    pub name: String,
    /// Bits per value.
    pub bits: u32,
    /// Values.
    pub count: usize,
    /// The file, relative to the manifest.
    pub file: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// What the set is of.
    #[serde(flatten)]
    pub meta: VectorMeta,
    /// Every array.
    pub arrays: Vec<Entry>,
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Setup => "setup",
        Phase::Offline => "offline",
        Phase::Online => "online",
        Phase::Output => "output",
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Io {
        role: "test vectors",
        message: format!("{}: {e}", path.display()),
    }
}

/// Writes the server's and the client's vectors of one inference into `dir` (replacing
/// a set already there), atomically.
pub fn write(
    dir: &Path,
    net: &Network,
    meta: &VectorMeta,
    server: &TestVectors,
    client: &TestVectors,
) -> Result<(), SimError> {
    let tmp = dir.with_file_name(format!(
        ".{}.tmp-{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("vectors"),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    let names: std::collections::HashMap<usize, (String, &'static str)> = net
        .graph
        .nodes()
        .map(|(idx, n)| (idx.index(), (n.label.clone(), n.op.name())))
        .collect();
    let mut entries = Vec::new();
    for (role, set) in [(Role::Server, server), (Role::Client, client)] {
        let sub = tmp.join(role.name());
        std::fs::create_dir_all(&sub).map_err(|e| io_err(&sub, e))?;
        for a in &set.arrays {
            let (label, kind) = a
                .node
                .and_then(|i| names.get(&i).cloned())
                .unwrap_or_else(|| ("output".to_string(), "reveal"));
            let phase = phase_name(a.phase);
            let node = a.node.map_or("out".to_string(), |i| format!("n{i:03}"));
            let file = format!("{}/{node}-{label}-{phase}-{}.hex", role.name(), a.name);
            let digits = a.bits.div_ceil(4).max(1) as usize;
            let mut text = format!(
                "// polympc test vectors: {} {label} ({kind}) {phase} {}: {} x {}-bit\n",
                role.name(),
                a.name,
                a.values.len(),
                a.bits
            );
            for v in &a.values {
                text.push_str(&format!("{v:0digits$x}\n"));
            }
            let path = tmp.join(&file);
            std::fs::write(&path, text).map_err(|e| io_err(&path, e))?;
            entries.push(Entry {
                party: role.name().to_string(),
                node: a.node,
                label,
                kind: kind.to_string(),
                phase: phase.to_string(),
                name: a.name.to_string(),
                bits: a.bits,
                count: a.values.len(),
                file,
            });
        }
    }
    let manifest = Manifest {
        meta: meta.clone(),
        arrays: entries,
    };
    let path = tmp.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| io_err(&path, e))?;
    std::fs::write(&path, text).map_err(|e| io_err(&path, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io_err(dir, e))
}

/// A vector set read back.
#[derive(Debug, Clone)]
pub struct VectorSet {
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The values of each manifest entry, in the same order.
    pub values: Vec<Vec<u128>>,
}

impl VectorSet {
    /// Reads the set in `dir`: the manifest and every array, each checked against the
    /// manifest's count and width.
    pub fn read(dir: &Path) -> Result<VectorSet, SimError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| io_err(&path, e))?;
        let mut values = Vec::with_capacity(manifest.arrays.len());
        for e in &manifest.arrays {
            let path = dir.join(&e.file);
            let text = std::fs::read_to_string(&path).map_err(|err| io_err(&path, err))?;
            let mut v = Vec::with_capacity(e.count);
            for (k, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with("//") {
                    continue;
                }
                let x = u128::from_str_radix(line, 16)
                    .ok()
                    .filter(|&x| e.bits >= 128 || x >> e.bits == 0)
                    .ok_or_else(|| {
                        io_err(
                            &path,
                            format!("line {}: `{line}` is not a {}-bit hex word", k + 1, e.bits),
                        )
                    })?;
                v.push(x);
            }
            if v.len() != e.count {
                return Err(io_err(
                    &path,
                    format!("{} values; the manifest says {}", v.len(), e.count),
                ));
            }
            values.push(v);
        }
        Ok(VectorSet {
            dir: dir.to_path_buf(),
            manifest,
            values,
        })
    }

    /// The entries and values of `party`'s arrays called `name`, node by node.
    pub fn arrays<'a>(
        &'a self,
        party: Role,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Entry, &'a [u128])> + 'a {
        self.manifest
            .arrays
            .iter()
            .zip(&self.values)
            .filter(move |(e, _)| e.party == party.name() && e.name == name)
            .map(|(e, v)| (e, &v[..]))
    }

    /// `party`'s array `name` of `node`, as ring elements (or bits).
    pub fn get(&self, party: Role, node: Option<usize>, name: &str) -> Option<Vec<u64>> {
        self.arrays(party, name)
            .find(|(e, _)| e.node == node)
            .map(|(_, v)| v.iter().map(|&x| x as u64).collect())
    }
}
