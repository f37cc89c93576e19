//! The index's life cycle on the hashing test embedder: real files, a real index on disk, every
//! step of `index` but the model. (The same scenarios run on the real model in tests/robust.rs
//! and tests/lifecycle.rs.)

use super::*;
use crate::embed::HashingEmbedder;
use crate::index::Meta;
use crate::ingest::LineMap;
use std::fs;

fn embedder() -> HashingEmbedder {
    HashingEmbedder::new(64).unwrap()
}

fn opts() -> BuildOptions {
    BuildOptions { quiet: true, ..BuildOptions::default() }
}

fn index(dir: &Path, paths: &[PathBuf]) -> Summary {
    index_paths(dir, paths, IngestOptions::default(), &embedder(), &opts()).unwrap().0
}

/// The live passages' documents that best match `q` (exact search over the test embedder).
fn top_docs(dir: &Path, q: &str, k: usize) -> Vec<String> {
    let e = embedder();
    let idx = Index::open(dir, e.info()).unwrap();
    let hits = idx.exact(&e.embed_one(q), k, &|_| true);
    hits.iter().map(|h| idx.passage(h.row).unwrap().unwrap().record.doc_id).collect()
}

fn live_docs(dir: &Path) -> Vec<String> {
    let mut d: Vec<String> = Index::open(dir, embedder().info()).unwrap().documents().unwrap().into_iter().map(|d| d.doc_id).collect();
    d.sort();
    d
}

fn notes(root: &Path) -> PathBuf {
    let notes = root.join("notes");
    fs::create_dir_all(&notes).unwrap();
    for (name, text) in [
        ("a.txt", "Lighthouse keepers trim the wick at dusk.\n"),
        ("b.txt", "Bee colonies swarm in late spring.\n"),
        ("c.txt", "Glacier melt raises the river in July.\n"),
        ("d.txt", "Tram lines reopen after the storm.\n"),
    ] {
        fs::write(notes.join(name), text).unwrap();
    }
    notes
}

#[test]
fn indexing_the_folder_that_holds_the_index_sees_deletes_renames_and_changes() {
    for spelling in [".", "./", "abs", "link"] {
        let tmp = tempfile::tempdir().unwrap();
        let notes = notes(tmp.path());
        let dir = notes.join(".semsearch");
        let arg = match spelling {
            "abs" => notes.clone(),
            "link" => {
                let link = tmp.path().join("link");
                std::os::unix::fs::symlink(&notes, &link).unwrap();
                link
            }
            // Relative spellings are resolved against the current directory, which the test
            // cannot change (tests share it): spell them under the folder instead.
            rel => notes.join(rel),
        };
        let first = index(&dir, std::slice::from_ref(&arg));
        assert_eq!((first.documents_added, first.documents), (4, 4), "{spelling}");
        assert_eq!(live_docs(&dir), ["a.txt", "b.txt", "c.txt", "d.txt"]);

        fs::remove_file(notes.join("a.txt")).unwrap();
        fs::rename(notes.join("b.txt"), notes.join("b2.txt")).unwrap();
        fs::write(notes.join("c.txt"), "Glacier melt now floods the valley road.\n").unwrap();
        let s = index(&dir, std::slice::from_ref(&arg));
        assert_eq!(
            (s.documents_removed, s.documents_renamed, s.documents_updated, s.documents_unchanged, s.documents_added),
            (1, 1, 1, 1, 0),
            "{spelling}: {s:?}"
        );
        assert_eq!(s.passages_embedded, 1, "{spelling}: only the changed note is embedded (the renamed one reuses its vectors)");
        assert_eq!(live_docs(&dir), ["b2.txt", "c.txt", "d.txt"], "{spelling}");
        assert!(!top_docs(&dir, "lighthouse keepers wick dusk", 10).contains(&"a.txt".to_string()), "{spelling}");
        assert_eq!(top_docs(&dir, "bee colonies swarm", 1), ["b2.txt"]);
        // Nothing changed: nothing written.
        let again = index(&dir, std::slice::from_ref(&arg));
        assert_eq!((again.documents_unchanged, again.passages_embedded), (3, 0));
    }
}

#[test]
fn a_repeated_id_keeps_its_last_occurrence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let doc = |text: &str| Document::plain("same".into(), "x.jsonl".into(), String::new(), text.into(), LineMap::Record { line: 1 });
    let mut input = InMemory { documents: vec![doc("first version about otters"), doc("second version about herons")], roots: vec![] };
    let (s, _) = run(&dir, &mut input, &embedder(), &opts()).unwrap();
    assert_eq!((s.documents, s.passages), (1, 1));
    assert_eq!(top_docs(&dir, "otters herons", 5), ["same"]);
    let idx = Index::open(&dir, embedder().info()).unwrap();
    let only = idx.passage(idx.exact(&embedder().embed_one("herons"), 1, &|_| true)[0].row).unwrap().unwrap();
    assert_eq!(only.record.text, "second version about herons");
}

#[test]
fn merging_gives_the_same_documents_passages_and_vectors_as_a_fresh_build() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    fs::create_dir_all(&notes).unwrap();
    let write = |i: usize, v: usize| fs::write(notes.join(format!("n{i:02}.txt")), format!("Note {i} version {v} about topic {}.\n", i * 7 + v)).unwrap();
    (0..30).for_each(|i| write(i, 0));
    let dir = tmp.path().join("idx");
    index(&dir, std::slice::from_ref(&notes));
    // Change a third: past COMPACT_AT of rows tombstoned, so this run merges.
    (0..10).for_each(|i| write(i, 1));
    let s = index(&dir, std::slice::from_ref(&notes));
    assert!(s.compacted && s.segments == 1, "{s:?}");
    let fresh = tmp.path().join("fresh");
    index(&fresh, std::slice::from_ref(&notes));
    let e = embedder();
    let (a, b) = (Index::open(&dir, e.info()).unwrap(), Index::open(&fresh, e.info()).unwrap());
    assert_eq!(a.meta.counts.passages, b.meta.counts.passages);
    let by_id = |i: &Index| {
        let mut v: Vec<(String, String, Vec<f32>)> = i
            .documents()
            .unwrap()
            .into_iter()
            .flat_map(|d| i.passages_of(&d).unwrap())
            .map(|p| (p.id.clone(), p.text.clone(), i.vector(p.row).to_vec()))
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    assert_eq!(by_id(&a), by_id(&b));
    assert_eq!(a.meta.segments[0].deleted.len(), 0);
}

/// A source that, while the run reads it (after the new segment was started, before the commit),
/// checks that every file the previous manifest names is still on disk.
struct Watching<'a> {
    inner: Paths<'a>,
    dir: PathBuf,
    must_exist: Vec<String>,
    checked: usize,
}

impl Documents for Watching<'_> {
    fn roots(&self) -> Vec<String> {
        self.inner.roots()
    }
    fn read(&mut self, sink: &mut Sink) -> Result<IngestReport> {
        let (dir, must) = (self.dir.clone(), self.must_exist.clone());
        let checked = &mut self.checked;
        self.inner.read(&mut |d| {
            for f in &must {
                assert!(dir.join(f).exists(), "{f} was deleted before the commit that replaces it");
            }
            *checked += 1;
            sink(d)
        })
    }
}

#[test]
fn a_damaged_segment_is_rebuilt_without_deleting_live_files_before_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    for (d, word) in [(&one, "harbour"), (&two, "orchard")] {
        fs::create_dir_all(d).unwrap();
        for i in 0..5 {
            fs::write(d.join(format!("{i}.txt")), format!("The {word} report number {i}.\n")).unwrap();
        }
    }
    let dir = tmp.path().join("idx");
    index(&dir, std::slice::from_ref(&one));
    index(&dir, std::slice::from_ref(&two));
    let old = Meta::read(&dir).unwrap().unwrap();
    assert_eq!(old.segments.len(), 2);
    // Damage segment 0's vectors (same size, one byte changed).
    let victim = dir.join(old.segments[0].vectors_file());
    let mut bytes = fs::read(&victim).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&victim, &bytes).unwrap();
    let mut src = Watching {
        inner: Paths { paths: &[one.clone(), two.clone()], keys: PathKeys::for_index(&dir), opts: IngestOptions::default(), known: Default::default() },
        dir: dir.clone(),
        must_exist: old.files.keys().cloned().collect(),
        checked: 0,
    };
    let (s, _) = run(&dir, &mut src, &embedder(), &opts()).unwrap();
    assert_eq!(src.checked, 10);
    assert_eq!((s.documents, s.documents_added), (10, 10));
    let new = Meta::read(&dir).unwrap().unwrap();
    let old_max = old.segments.iter().map(|s| s.id).max().unwrap();
    assert!(new.segments.iter().all(|s| s.id > old_max), "segment numbers keep increasing: {:?}", new.segments);
    assert_eq!(top_docs(&dir, "orchard report", 1).len(), 1);
    // After the commit the damaged generation's files are gone.
    assert!(!victim.exists());
}

#[test]
fn a_failure_to_open_that_is_not_damage_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = notes(tmp.path());
    let dir = tmp.path().join("idx");
    index(&dir, std::slice::from_ref(&notes));
    let meta_before = fs::read(dir.join("meta.json")).unwrap();
    // A segment file replaced by a directory: opening it fails with an I/O error that says
    // nothing about the file's content (as too many open files or a permission would).
    let m = Meta::read(&dir).unwrap().unwrap();
    let store = dir.join(m.segments[0].passages_file());
    let saved = fs::read(&store).unwrap();
    fs::remove_file(&store).unwrap();
    fs::create_dir(&store).unwrap();
    let err = index_paths(&dir, std::slice::from_ref(&notes), IngestOptions::default(), &embedder(), &opts()).unwrap_err();
    assert!(format!("{err:#}").contains("nothing was changed"), "{err:#}");
    assert_eq!(fs::read(dir.join("meta.json")).unwrap(), meta_before);
    fs::remove_dir(&store).unwrap();
    fs::write(&store, saved).unwrap();
    assert_eq!(live_docs(&dir), ["notes/a.txt", "notes/b.txt", "notes/c.txt", "notes/d.txt"]);
}

#[test]
fn tombstoned_passages_are_never_returned_and_k_results_still_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    fs::create_dir_all(&notes).unwrap();
    for i in 0..60 {
        fs::write(notes.join(format!("n{i:02}.txt")), format!("Harbour note {i} about cranes and cargo number {i}.\n")).unwrap();
    }
    let dir = tmp.path().join("idx");
    index(&dir, std::slice::from_ref(&notes));
    for i in (0..60).step_by(10) {
        fs::remove_file(notes.join(format!("n{i:02}.txt"))).unwrap();
    }
    let s = index(&dir, std::slice::from_ref(&notes));
    assert_eq!((s.documents_removed, s.compacted, s.passages_tombstoned), (6, false, 6), "{s:?}");
    let e = embedder();
    let idx = Index::open(&dir, e.info()).unwrap();
    assert_eq!(idx.live(), 54);
    let q = e.embed_one("harbour note about cranes and cargo");
    for hits in [idx.exact(&q, 54, &|_| true), idx.hnsw(&q, 54, 8, &|_| true), idx.hnsw(&q, 10, 10, &|_| true)] {
        assert!(hits.len() == 54 || hits.len() == 10, "{}", hits.len());
        for h in &hits {
            let p = idx.passage(h.row).unwrap().expect("a live passage");
            let n: usize = p.record.doc_id.trim_start_matches("notes/n").trim_end_matches(".txt").parse().unwrap();
            assert_ne!(n % 10, 0, "deleted note {n} returned");
        }
    }
}

#[test]
fn segments_roll_over_when_full_and_a_repeated_id_is_superseded_across_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let doc = |id: &str, text: &str| Document::plain(id.into(), "x.jsonl".into(), String::new(), text.into(), LineMap::Record { line: 1 });
    let mut documents: Vec<Document> = (0..25).map(|i| doc(&format!("d{i}"), &format!("record {i} about tide tables"))).collect();
    // d3 again, far after its first copy (another segment): the last one wins.
    documents.push(doc("d3", "record three rewritten about lighthouse lamps"));
    let opts = BuildOptions { segment_rows: 10, ..opts() };
    let (s, _) = run(&dir, &mut InMemory { documents, roots: vec![] }, &embedder(), &opts).unwrap();
    assert_eq!((s.documents, s.passages, s.segments), (25, 25, 3), "{s:?}");
    let m = Meta::read(&dir).unwrap().unwrap();
    assert!(m.segments.iter().all(|x| x.rows <= 10), "{:?}", m.segments);
    assert_eq!(m.segments[0].deleted, vec![[3, 1]], "the first d3 is tombstoned in the first segment");
    assert_eq!(top_docs(&dir, "lighthouse lamps", 1), ["d3"]);
    let idx = Index::open(&dir, embedder().info()).unwrap();
    let d3 = idx.document("d3").unwrap().unwrap();
    assert_eq!(idx.passages_of(&d3).unwrap()[0].text, "record three rewritten about lighthouse lamps");
    // Many changes: the merge rolls over too, and nothing is lost.
    let documents: Vec<Document> = (0..25).map(|i| doc(&format!("d{i}"), &format!("record {i} revised about harbour cranes"))).collect();
    let (s, _) = run(&dir, &mut InMemory { documents, roots: vec![] }, &embedder(), &opts).unwrap();
    assert!(s.compacted, "{s:?}");
    assert_eq!((s.documents, s.passages), (25, 25));
    let m = Meta::read(&dir).unwrap().unwrap();
    assert!(m.segments.len() == 3 && m.segments.iter().all(|x| x.rows <= 10 && x.deleted.is_empty()), "{:?}", m.segments);
    assert_eq!(live_docs(&dir).len(), 25);
}

/// A source that stops with an error after `after` documents: the run dies mid-stream, as a killed
/// one would, with its new segment half written.
struct Failing<'a> {
    inner: Paths<'a>,
    after: usize,
}

impl Documents for Failing<'_> {
    fn roots(&self) -> Vec<String> {
        self.inner.roots()
    }
    fn read(&mut self, sink: &mut Sink) -> Result<IngestReport> {
        let mut n = 0;
        let after = self.after;
        self.inner.read(&mut |d| {
            n += 1;
            if n > after {
                anyhow::bail!("interrupted after {after} documents");
            }
            sink(d)
        })
    }
}

#[test]
fn a_run_that_dies_midway_leaves_the_previous_generation_and_the_next_run_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    fs::create_dir_all(&notes).unwrap();
    for i in 0..40 {
        fs::write(notes.join(format!("n{i:02}.txt")), format!("Orchard note {i} about apples and pears number {i}.\n")).unwrap();
    }
    let dir = tmp.path().join("idx");
    index(&dir, std::slice::from_ref(&notes));
    let before = fs::read(dir.join("meta.json")).unwrap();
    let docs_before = live_docs(&dir);
    for i in 40..80 {
        fs::write(notes.join(format!("n{i:02}.txt")), format!("Harbour note {i} about cranes number {i}.\n")).unwrap();
    }
    // Small segments, so some dies land after a full segment was finished too.
    let opts = BuildOptions { segment_rows: 8, ..opts() };
    for after in [0, 5, 39, 45, 60, 79] {
        let mut src = Failing {
            inner: Paths { paths: std::slice::from_ref(&notes), keys: PathKeys::for_index(&dir), opts: IngestOptions::default(), known: Default::default() },
            after,
        };
        let err = run(&dir, &mut src, &embedder(), &opts).unwrap_err();
        assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
        assert_eq!(fs::read(dir.join("meta.json")).unwrap(), before, "died after {after}: the manifest is untouched");
        assert_eq!(live_docs(&dir), docs_before, "died after {after}");
    }
    let s = run(
        &dir,
        &mut Paths { paths: std::slice::from_ref(&notes), keys: PathKeys::for_index(&dir), opts: IngestOptions::default(), known: Default::default() },
        &embedder(),
        &opts,
    )
    .unwrap()
    .0;
    assert_eq!((s.documents, s.documents_added, s.documents_unchanged), (80, 40, 40), "{s:?}");
    assert_eq!(live_docs(&dir).len(), 80);
    // Leftovers of the dead runs are gone: only files the new and the previous manifest name remain.
    let m = Meta::read(&dir).unwrap().unwrap();
    for e in fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("seg-") {
            let prev_files = ["seg-0.sqlite", "seg-0.f32", "seg-0.graph"];
            assert!(m.files.contains_key(&name) || prev_files.contains(&name.as_str()), "leftover {name}");
        }
    }
}

/// Rewrites one file of every segment of a committed index with `alter` (given the segment, it
/// returns the file's name) and records the index as `version`, the manifest resealed over the
/// changed files: the index as an older semsearch left it.
fn downgrade_files(dir: &Path, version: u32, alter: impl Fn(&SegmentMeta) -> String) {
    let mut meta = Meta::read(dir).unwrap().unwrap();
    for s in &meta.segments {
        let name = alter(s);
        meta.files.insert(name.clone(), crate::index::file_sum(&dir.join(name)).unwrap());
    }
    meta.format_version = version;
    meta.seal();
    fs::write(dir.join("meta.json"), meta.to_json()).unwrap();
}

/// Rewrites every segment store of a committed index with `sql` and records it as `version`.
fn downgrade(dir: &Path, version: u32, sql: &str) {
    downgrade_files(dir, version, |s| {
        rusqlite::Connection::open(dir.join(s.passages_file())).unwrap().execute_batch(sql).unwrap();
        s.passages_file()
    });
}

/// Turns a committed index back into format 3 (no lexical index), as an older semsearch left it.
fn downgrade_to_format_3(dir: &Path) {
    downgrade(dir, 3, "DROP TABLE lexical; VACUUM;");
}

#[test]
fn a_format_3_index_gets_its_lexical_index_without_re_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let notes = notes(tmp.path());
    index(&dir, std::slice::from_ref(&notes));
    downgrade_to_format_3(&dir);
    let old = Index::open(&dir, embedder().info()).unwrap();
    assert!(!old.has_lexical().unwrap(), "the downgrade removed it");
    // Semantic search still works on the old format.
    assert!(!top_docs(&dir, "glacier melt", 1).is_empty());
    // A quoted phrase needs the lexical index in every mode: a clear error, not SQLite's.
    let opts = crate::search::Options::plain(3, crate::search::Strategy::Exact, crate::search::Mode::Semantic);
    let q = embedder().embed_one("glacier melt");
    let everything = crate::store::Filter::default();
    let mut search = crate::store::Store::open(&old, crate::store::Scope { filter: &everything, except: None }).unwrap();
    let err = crate::search::retrieve(&mut *search, &q, &crate::search::lexical::parse("\"glacier melt\""), &opts).unwrap_err();
    assert!(format!("{err:#}").contains("has no lexical index"), "{err:#}");
    drop(search);
    drop(old);
    let s = index(&dir, std::slice::from_ref(&notes));
    assert_eq!(s.passages_embedded, 0, "nothing re-embedded");
    assert!(s.compacted, "the segments were rewritten");
    let m = Meta::read(&dir).unwrap().unwrap();
    assert_eq!(m.format_version, crate::index::FORMAT_VERSION);
    let idx = Index::open(&dir, embedder().info()).unwrap();
    assert!(idx.has_lexical().unwrap());
    let hits = idx.lexical("\"glacier\"", 5, &|_| true).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(idx.passage(hits[0].row).unwrap().unwrap().record.text.contains("Glacier"));
}

/// Turns a committed index back into format 4: each passage's lexical row holds its document's
/// title, there is no `titles` table.
fn downgrade_to_format_4(dir: &Path) {
    downgrade(
        dir,
        4,
        "DROP TABLE titles; DROP TABLE lexical;
         CREATE VIRTUAL TABLE lexical USING fts5(title, section, text, content='', tokenize='porter unicode61 remove_diacritics 2');
         INSERT INTO lexical(rowid, title, section, text) SELECT p.row, d.title, p.section, p.text FROM passages p JOIN documents d USING (doc_id);
         VACUUM;",
    );
}

#[test]
fn a_format_4_index_is_searched_as_it_is_then_gets_its_titles_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let notes = tmp.path().join("notes");
    fs::create_dir_all(&notes).unwrap();
    let paragraphs: Vec<String> =
        (0..12).map(|i| format!("Paragraph {i} counts hedgerows, nests and fledglings along transect {i} of the ridge walk.")).collect();
    fs::write(notes.join("k.md"), format!("# Kestrel survey\n\n{}\n", paragraphs.join("\n\n"))).unwrap();
    fs::write(notes.join("o.md"), "# Otters\n\nOtters returned to the weir.\n").unwrap();
    let opts = BuildOptions { chunking: crate::index::ChunkParams { max_tokens: 40, overlap_tokens: 0, whole_documents: false }, ..opts() };
    let build = |dir: &Path| index_paths(dir, std::slice::from_ref(&notes), IngestOptions::default(), &embedder(), &opts).unwrap().0;
    build(&dir);
    downgrade_to_format_4(&dir);
    // Read as it is: the title in every passage's row, so each passage matches its words.
    let old = Index::open(&dir, embedder().info()).unwrap();
    let kestrel_rows = old.lexical("\"kestrel\"", 100, &|_| true).unwrap().len();
    assert!(kestrel_rows > 2, "the title is in every row of format 4: {kestrel_rows}");
    assert_eq!(old.holding("\"kestrel survey\"").unwrap().len(), kestrel_rows);
    drop(old);
    let s = build(&dir);
    assert_eq!(s.passages_embedded, 0, "nothing re-embedded");
    assert!(s.compacted, "the segments were rewritten");
    assert_eq!(Meta::read(&dir).unwrap().unwrap().format_version, crate::index::FORMAT_VERSION);
    let idx = Index::open(&dir, embedder().info()).unwrap();
    let hits = idx.lexical("\"kestrel\"", 100, &|_| true).unwrap();
    assert_eq!(hits.len(), 1, "the title once: its document's first passage");
    assert_eq!(idx.passage(hits[0].row).unwrap().unwrap().record.ordinal, 0);
    assert_eq!(idx.holding("\"kestrel survey\"").unwrap().len(), kestrel_rows, "a phrase of the title holds for every passage");
}

/// Turns a committed index back into format 5: graph files of neighbour tables only (`SSGRAPH1`,
/// no 8-bit copies of the vectors), the manifest resealed over them.
fn downgrade_to_format_5(dir: &Path) {
    downgrade_files(dir, 5, |s| {
        let path = dir.join(s.graph_file());
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"SSGRAPH2");
        let words: &[u32] = bytemuck::cast_slice(&bytes);
        let (n, m0, m_up, top) = (words[2] as usize, words[3] as usize, words[4] as usize, words[5] as usize);
        let mut end = 7 + n * m0;
        for _ in 0..top {
            let count = words[end] as usize;
            end += 1 + count + count * m_up;
        }
        let mut old = bytes[..end * 4].to_vec();
        old[..8].copy_from_slice(b"SSGRAPH1");
        fs::write(&path, &old).unwrap();
        s.graph_file()
    });
}

#[test]
fn a_format_5_index_is_kept_as_it_is_and_new_segments_get_their_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let notes = notes(tmp.path());
    index(&dir, std::slice::from_ref(&notes));
    downgrade_to_format_5(&dir);
    let walks = |dir: &Path| Index::open(dir, embedder().info()).unwrap().segments.iter().map(|s| s.ann.walks_on_codes()).collect::<Vec<bool>>();
    assert_eq!(walks(&dir), [false], "read as it is");
    let graph = |dir: &Path, m: &Meta| fs::read(dir.join(m.segments[0].graph_file())).unwrap();
    let old = Meta::read(&dir).unwrap().unwrap();
    let old_graph = graph(&dir, &old);
    // Searched as it is (on the f32 vectors).
    let e = embedder();
    let idx = Index::open(&dir, e.info()).unwrap();
    let hits = idx.hnsw(&e.embed_one("Glacier melt raises the river in July."), 1, 64, &|_| true);
    assert_eq!(idx.passage(hits[0].row).unwrap().unwrap().record.doc_id, "notes/c.txt");
    drop(idx);
    // Nothing changed: nothing rewritten, no commit.
    let s = index(&dir, std::slice::from_ref(&notes));
    assert!(!s.compacted);
    assert_eq!(Meta::read(&dir).unwrap().unwrap().generation, old.generation);
    // A new document: a new segment with its codes beside the old one, kept; the manifest is format 6.
    fs::write(notes.join("e.txt"), "Ferries resume their winter timetable.\n").unwrap();
    let s = index(&dir, std::slice::from_ref(&notes));
    assert!(!s.compacted, "{s:?}");
    let m = Meta::read(&dir).unwrap().unwrap();
    assert_eq!(m.format_version, crate::index::FORMAT_VERSION);
    assert_eq!(m.segments[0].id, old.segments[0].id);
    assert_eq!(graph(&dir, &m), old_graph, "the format-5 segment is not rewritten");
    assert_eq!(walks(&dir), [false, true]);
    assert_eq!(top_docs(&dir, "Ferries resume their winter timetable.", 1), ["notes/e.txt"]);
    // `compact` rewrites every segment: all of them walk on codes.
    crate::indexer::compact(&dir, e.info(), &HnswParams::default(), true).unwrap();
    assert!(walks(&dir).iter().all(|&w| w));
}

#[test]
fn lexical_search_never_returns_tombstoned_passages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let notes = notes(tmp.path());
    index(&dir, std::slice::from_ref(&notes));
    let before = Index::open(&dir, embedder().info()).unwrap().lexical("\"glacier\"", 5, &|_| true).unwrap();
    assert_eq!(before.len(), 1);
    // The glacier note changes: its old passage is a tombstone in the old segment, the new one
    // lives in a new segment.
    let glacier = fs::read_dir(&notes).unwrap().map(|e| e.unwrap().path()).find(|p| fs::read_to_string(p).unwrap().contains("Glacier")).unwrap();
    fs::write(&glacier, "Glacier tours are sold out for the summer season.\n").unwrap();
    index(&dir, std::slice::from_ref(&notes));
    let idx = Index::open(&dir, embedder().info()).unwrap();
    let after = idx.lexical("\"glacier\"", 5, &|_| true).unwrap();
    assert_eq!(after.len(), 1, "only the live copy");
    assert!(idx.is_live(after[0].row));
    assert!(idx.passage(after[0].row).unwrap().unwrap().record.text.contains("sold out"));
    // And a file removed is gone lexically too.
    fs::remove_file(&glacier).unwrap();
    index(&dir, std::slice::from_ref(&notes));
    assert!(Index::open(&dir, embedder().info()).unwrap().lexical("\"glacier\"", 5, &|_| true).unwrap().is_empty());
}

#[test]
fn many_small_runs_merge_small_segments_in_tiers_and_leave_full_ones_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let doc = |i: usize| Document::plain(format!("d{i}"), "x.jsonl".into(), String::new(), format!("record {i} about tide {i}"), LineMap::Record { line: 1 });
    let opts = BuildOptions { segment_rows: 64, ..opts() };
    let (s, _) = run(&dir, &mut InMemory { documents: (0..200).map(doc).collect(), roots: vec![] }, &embedder(), &opts).unwrap();
    assert_eq!((s.segments, s.compacted), (4, false), "{s:?}");
    let full: Vec<SegmentMeta> = Meta::read(&dir).unwrap().unwrap().segments.into_iter().filter(|s| s.rows == 64).collect();
    assert_eq!(full.len(), 3);
    let mut merges = 0;
    for run_no in 0..40 {
        let first = 200 + run_no * 3;
        let (s, _) = run(&dir, &mut InMemory { documents: (first..first + 3).map(doc).collect(), roots: vec![] }, &embedder(), &opts).unwrap();
        merges += usize::from(s.compacted);
        let m = Meta::read(&dir).unwrap().unwrap();
        // The first run's full segments are never rewritten (same ids, same files).
        for f in &full {
            assert!(m.segments.iter().any(|x| x.id == f.id && x.rows == 64), "run {run_no}: {:?}", m.segments);
        }
        let small = m.segments.iter().filter(|x| x.rows - x.deleted_rows() < 32).count();
        assert!(small <= (policy::FACTOR - 1) * policy::TIERS as usize, "run {run_no}: {:?}", m.segments);
        assert_eq!(m.counts.documents, first + 3);
    }
    assert!(merges > 0 && merges < 40, "{merges} merges");
    let m = Meta::read(&dir).unwrap().unwrap();
    assert!(m.segments.len() < 12, "{:?}", m.segments);
    assert_eq!(live_docs(&dir).len(), 320);
    let idx = Index::open(&dir, embedder().info()).unwrap();
    let d = idx.document("d311").unwrap().expect("a document of a merged run");
    let p = &idx.passages_of(&d).unwrap()[0];
    assert_eq!(p.text, "record 311 about tide 311");
    assert_eq!(idx.vector(p.row), &embedder().embed_one("record 311 about tide 311")[..], "its vector moved with it");
}

#[test]
fn a_store_whose_counts_differ_from_the_manifest_is_damaged_at_every_open() {
    // The counts are checked when the store is hashed, not on every open: a failed check must not
    // leave the file vouched for by `verified.json`, or the second open would trust it.
    let tmp = tempfile::tempdir().unwrap();
    let notes = notes(tmp.path());
    let dir = tmp.path().join("idx");
    index(&dir, std::slice::from_ref(&notes));
    let mut m = Meta::read(&dir).unwrap().unwrap();
    m.segments[0].documents += 1;
    m.seal();
    fs::write(dir.join("meta.json"), m.to_json()).unwrap();
    // Old enough to be recorded as verified (`STAMP_AFTER`), as any file is a moment after a run.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    for open in ["first", "second"] {
        let err = Index::open(&dir, embedder().info()).err().unwrap_or_else(|| panic!("{open} open succeeded"));
        assert!(format!("{err:#}").contains("seg-0.sqlite") && format!("{err:#}").contains("manifest says"), "{open}: {err:#}");
    }
}
