//! `Config`: the global flags and the environment, read once, as the commands take them.

use super::args::{BackendArgs, Cli};
use anyhow::Result;
use semsearch::embed::Embedder;
use semsearch::index::{self, Index, Meta};
use semsearch::model::{default_precision, ModelInfo, ModelLocation, Precision};
use semsearch::store::Store;
use std::path::PathBuf;

/// The high-level configuration commands run with.
pub struct Config {
    pub index_dir: PathBuf,
    /// The index directory only when given (`bench` uses a temporary one otherwise).
    pub index_explicit: Option<PathBuf>,
    pub model: ModelLocation,
    pub quiet: bool,
    pub env: semsearch::settings::EnvSettings,
}

impl Config {
    pub fn from_cli(cli: &Cli) -> Result<Config> {
        Ok(Config {
            index_dir: cli.index.clone().unwrap_or_else(discover_index),
            index_explicit: cli.index.clone(),
            model: ModelLocation::resolve(cli.model.as_deref())?,
            quiet: cli.quiet,
            env: semsearch::settings::EnvSettings::from_env()?,
        })
    }

    /// The model loaded to embed in `precision` (`--precision`; None: as `precision` says).
    pub fn embedder(&self, precision: Option<Precision>) -> Result<Embedder> {
        self.load_embedder(&self.model_identity()?.with_precision(self.precision(precision)))
    }

    /// The precision to embed in: the flag's, else that of the index's vectors (questions are
    /// embedded as its passages were, and a run adds to it alike), else the default.
    pub fn precision(&self, flag: Option<Precision>) -> Precision {
        flag.or_else(|| Some(Meta::read(&self.index_dir).ok()??.model.precision)).unwrap_or_else(|| self.default_precision())
    }

    /// The precision of new vectors: the CPU's (`default_precision`), or f32 for the reference
    /// engine, which has no other.
    pub fn default_precision(&self) -> Precision {
        match self.env.engine {
            semsearch::embed::EngineKind::Reference => Precision::F32,
            semsearch::embed::EngineKind::Packed => default_precision(),
        }
    }

    /// The model's identity, read from its directory (f32).
    pub fn model_identity(&self) -> Result<ModelInfo> {
        self.ensure_model()?;
        ModelInfo::read(&self.model)
    }

    /// The model's identity as the index's vectors were made (its precision): what opening the
    /// index checks.
    pub fn model_info(&self) -> Result<ModelInfo> {
        Ok(self.model_identity()?.with_precision(self.precision(None)))
    }

    pub fn ensure_model(&self) -> Result<()> {
        self.model.ensure_with(Some(&self.env.python), self.quiet)
    }

    /// The model loaded to embed in `info.precision`.
    pub fn load_embedder(&self, info: &ModelInfo) -> Result<Embedder> {
        Embedder::load_with(info, self.env.engine, self.env.batch_tokens, info.precision)
    }

    /// The model and the index, loaded side by side (a cold `ask` spends most of its start in
    /// the two, and neither needs the other: opening the index needs only the model's identity).
    pub fn embedder_and_index(&self) -> Result<(Embedder, Index)> {
        let info = self.model_info()?;
        let (embedder, index) = rayon::join(|| self.load_embedder(&info), || Index::open(&self.index_dir, &info));
        Ok((embedder?, index?))
    }

    /// The collection `--collection` names (checked), or the index directory's.
    pub fn collection(&self, given: Option<&str>) -> Result<String> {
        match given {
            Some(c) => semsearch::remote::collection_name(c),
            None => Ok(semsearch::remote::default_collection(&self.index_dir)),
        }
    }

    /// The collection a search reads on the `--backend` server (`remote::collection_to_read`).
    pub fn collection_to_read(&self, url: &str, given: Option<&str>) -> Result<String> {
        semsearch::remote::collection_to_read(url, given, &self.index_dir)
    }

    /// The model, and where to search: the `--backend` server's collection connected, or the
    /// local index.
    pub fn store(&self, b: &BackendArgs) -> Result<(Embedder, Box<dyn Store>)> {
        match &b.backend {
            Some(url) => {
                // The collection first: it says how its vectors were computed, and questions are
                // embedded alike.
                let identity = self.model_identity()?;
                let remote = semsearch::remote::Remote::open_any_precision(url, &self.collection_to_read(url, b.collection.as_deref())?, &identity)?;
                let embedder = self.load_embedder(&identity.with_precision(remote.precision()))?;
                Ok((embedder, Box::new(remote)))
            }
            None => {
                let (embedder, index) = self.embedder_and_index()?;
                Ok((embedder, Box::new(index)))
            }
        }
    }

    /// The model and the index (or the `--backend` server's collection) kept warm for `serve`
    /// and `mcp`.
    pub fn searcher(&self, b: &BackendArgs, precision: Option<Precision>) -> Result<semsearch::serve::Searcher> {
        let identity = self.model_identity()?;
        let mut searcher = match &b.backend {
            Some(url) => semsearch::serve::Searcher::connect(url, &self.collection_to_read(url, b.collection.as_deref())?, &identity, precision, |info| {
                self.load_embedder(info)
            })?,
            None => {
                let info = identity.with_precision(self.precision(precision));
                semsearch::serve::Searcher::open(&self.index_dir, &info, self.load_embedder(&info)?)?
            }
        };
        searcher.default_mode = self.env.mode;
        Ok(searcher)
    }
}

/// The index when `--index` is not given: the nearest `.semsearch` holding an index in the current
/// folder or above it, as git finds `.git` (so `ask` works from a subfolder of a notes folder), else
/// `.semsearch` here (where `index` creates one).
pub fn discover_index() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join(index::DEFAULT_DIR);
            if candidate.join("meta.json").is_file() {
                return if dir == cwd { PathBuf::from(index::DEFAULT_DIR) } else { candidate };
            }
        }
    }
    PathBuf::from(index::DEFAULT_DIR)
}
