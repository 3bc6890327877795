//! Reading typed values out of the merged, untyped configuration tree.
//!
//! Every reader reports its own problem (naming the key path) and returns `Err(Reported)`, so the
//! caller can carry on with the next key and start-up lists every problem at once. Values that
//! came from an environment variable or a flag are raw strings; only those are parsed as numbers,
//! booleans or comma-separated lists, because in the TOML file a type mismatch is a mistake worth
//! reporting.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use serde_json::{Map, Value};

/// The problem has been pushed to the error list; the value is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reported;

pub(super) type Got<T> = Result<T, Reported>;

/// The error list and where raw values came from.
pub(super) struct Walker<'a> {
    pub(super) errors: Vec<String>,
    origins: &'a BTreeMap<String, String>,
}

/// A table of the tree (possibly absent), with its key path.
pub(super) struct Table<'v> {
    path: String,
    map: Option<&'v Map<String, Value>>,
}

impl<'v> Table<'v> {
    pub(super) fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.and_then(|m| m.get(key))
    }

    pub(super) fn path(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }
}

impl<'a> Walker<'a> {
    pub(super) fn new(origins: &'a BTreeMap<String, String>, errors: Vec<String>) -> Self {
        Self { errors, origins }
    }

    /// Records a problem with `path`, naming the variable or flag the value came from, if any.
    pub(super) fn error(&mut self, path: &str, message: impl Display) -> Reported {
        // `trusted_proxies[1]` came from whatever set `trusted_proxies`.
        let base = path.split('[').next().unwrap_or(path);
        match self.origins.get(base) {
            Some(origin) => self.errors.push(format!("{path}: {message} (from {origin})")),
            None => self.errors.push(format!("{path}: {message}")),
        }
        Reported
    }

    fn is_raw(&self, path: &str) -> bool {
        self.origins.contains_key(path)
    }

    fn type_error(&mut self, path: &str, expected: &str, value: &Value, secret: bool) -> Reported {
        let got = describe(value, secret);
        self.error(path, format_args!("expected {expected}, got {got}"))
    }

    /// Opens the table at `path`, reporting every key not in `known`.
    pub(super) fn table<'v>(&mut self, path: &str, value: Option<&'v Value>, known: &[&str]) -> Got<Table<'v>> {
        let map = match value {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => return Err(self.type_error(path, "a table", other, false)),
        };
        let table = Table { path: path.to_owned(), map };
        for key in map.into_iter().flat_map(|m| m.keys()) {
            if !known.contains(&key.as_str()) {
                let key_path = table.path(key);
                self.error(&key_path, "unknown key");
            }
        }
        Ok(table)
    }

    /// A string. A secret's value never appears in a message.
    pub(super) fn string(&mut self, path: &str, value: Option<&Value>, secret: bool) -> Got<Option<String>> {
        match value {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.type_error(path, "a string", other, secret)),
        }
    }

    pub(super) fn uint(&mut self, path: &str, value: Option<&Value>) -> Got<Option<u64>> {
        match value {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => Ok(Some(v)),
                None if n.as_i64().is_some() => Err(self.error(path, format_args!("must not be negative, got {n}"))),
                None => Err(self.type_error(path, "a whole number", &Value::Number(n.clone()), false)),
            },
            Some(Value::String(s)) if self.is_raw(path) => match s.trim().parse::<u64>() {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(self.error(path, format_args!("expected a whole number, got {s:?}"))),
            },
            Some(other) => Err(self.type_error(path, "a whole number", other, false)),
        }
    }

    pub(super) fn boolean(&mut self, path: &str, value: Option<&Value>) -> Got<Option<bool>> {
        match value {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if self.is_raw(path) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.error(path, format_args!("expected true or false, got {s:?}"))),
            },
            Some(other) => Err(self.type_error(path, "true or false", other, false)),
        }
    }

    /// A list of strings: a TOML array, or from the environment `a,b`, `[a, b]` or `["a", "b"]`.
    pub(super) fn string_list(&mut self, path: &str, value: Option<&Value>) -> Got<Option<Vec<String>>> {
        match value {
            None => Ok(None),
            Some(Value::String(s)) if self.is_raw(path) => Ok(Some(split_list(s))),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            self.type_error(&format!("{path}[{i}]"), "a string", other, false);
                            ok = false;
                        }
                    }
                }
                if ok { Ok(Some(out)) } else { Err(Reported) }
            }
            Some(other) => Err(self.type_error(path, "an array of strings", other, false)),
        }
    }

    /// A duration: a humantime string (`"90s"`, `"30m"`, `"1h"`, `"7days"`) or whole seconds.
    pub(super) fn duration(&mut self, path: &str, value: Option<&Value>) -> Got<Option<Duration>> {
        const EXPECTED: &str = "a duration such as \"30s\", \"15m\", \"1h\" or \"7days\", or a number of seconds";
        match value {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(secs) => Ok(Some(Duration::from_secs(secs))),
                None => Err(self.type_error(path, EXPECTED, &Value::Number(n.clone()), false)),
            },
            Some(Value::String(s)) => match parse_duration(s) {
                Some(d) => Ok(Some(d)),
                None => Err(self.error(path, format_args!("expected {EXPECTED}, got {s:?}"))),
            },
            Some(other) => Err(self.type_error(path, EXPECTED, other, false)),
        }
    }

    /// A size in bytes: a whole number or a string such as `"64KiB"`, `"1MiB"`, `"100kB"`.
    pub(super) fn byte_size(&mut self, path: &str, value: Option<&Value>) -> Got<Option<u64>> {
        const EXPECTED: &str = "a size in bytes such as 65536, \"64KiB\" or \"1MiB\"";
        match value {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => Ok(Some(v)),
                None => Err(self.type_error(path, EXPECTED, &Value::Number(n.clone()), false)),
            },
            Some(Value::String(s)) => match parse_byte_size(s) {
                Some(v) => Ok(Some(v)),
                None => Err(self.error(path, format_args!("expected {EXPECTED}, got {s:?}"))),
            },
            Some(other) => Err(self.type_error(path, EXPECTED, other, false)),
        }
    }

    /// The array of tables at `path` (`[[clients]]`).
    pub(super) fn table_array<'v>(&mut self, path: &str, value: Option<&'v Value>) -> Got<&'v [Value]> {
        match value {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => {
                Err(self.type_error(path, &format!("an array of tables ([[{path}]] in the file)"), other, false))
            }
        }
    }
}

/// How a value is shown in a type error; a secret shows only its type.
fn describe(value: &Value, secret: bool) -> String {
    match value {
        Value::Null => "nothing".to_owned(),
        Value::Bool(b) if !secret => format!("boolean {b}"),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(n) if !secret => format!("number {n}"),
        Value::Number(_) => "a number".to_owned(),
        Value::String(s) if !secret => format!("string {s:?}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "a table".to_owned(),
    }
}

/// `a, b`, `[a, b]` and `["a", "b"]` all give `["a", "b"]`; empty items are dropped so that a
/// trailing comma and `[]` work.
pub(super) fn split_list(raw: &str) -> Vec<String> {
    let trimmed = raw.trim();
    let inner = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(trimmed);
    inner
        .split(',')
        .map(|item| {
            let item = item.trim();
            let unquoted = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|&(open, close)| item.strip_prefix(open).and_then(|s| s.strip_suffix(close)));
            unquoted.unwrap_or(item).to_owned()
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// Whole seconds (`"3600"`) or a humantime duration (`"1h"`, `"1h 30m"`, `"7days"`).
pub(super) fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok().map(Duration::from_secs);
    }
    humantime::parse_duration(raw).ok()
}

/// Bytes with an optional unit: B, kB/KB (1000), KiB (1024), MB, MiB, GB, GiB; case-insensitive.
pub(super) fn parse_byte_size(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let digits_end = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(digits_end);
    let number: u64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1024,
        "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(multiplier)
}
