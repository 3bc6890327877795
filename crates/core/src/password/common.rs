//! The offline list of common and breached passwords (see `crates/core/data/README.md` for its source,
//! licence and format).
//!
//! The list is compiled into the binary so that an operator cannot forget to deploy it and a sign-up never
//! waits on a network lookup. It is decompressed once, on first use, into one contiguous string plus the end
//! offset of each entry: about 3.4 MB for 255,593 entries, against ~10 MB for a `HashSet<String>`, with a
//! binary search (18 comparisons) that takes well under a microsecond.

use std::cmp::Ordering;
use std::io::Read as _;
use std::sync::LazyLock;

use super::fold;

/// Front-coded, zstd-compressed, sorted by UTF-8 bytes; built by `data/build_common_passwords.py`.
static COMPRESSED: &[u8] = include_bytes!("../../data/common-passwords.fc.zst");

/// Loaded on first use. The data is embedded at compile time, so decoding cannot fail at run time unless the
/// committed file is corrupt, and `tests::list_loads` catches that before a release: mapping a failure to an
/// empty list keeps the one impossible error from becoming a panic on the sign-up path.
static LIST: LazyLock<CommonList> = LazyLock::new(|| CommonList::decode(COMPRESSED).unwrap_or_default());

/// Whether `password` (compared case-insensitively, after NFKC) is on the list of common or breached passwords.
pub fn is_common(password: &str) -> bool {
    LIST.contains(&fold(password.trim()))
}

/// The number of entries in the list; forces the load.
pub fn common_list_len() -> usize {
    LIST.len()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    Zstd,
    Malformed,
    Unsorted,
}

#[derive(Debug, Default)]
pub(crate) struct CommonList {
    /// Every entry, back to back, in sorted order.
    text: String,
    /// `ends[i]` is the byte offset in `text` just past entry `i`; entry `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<u32>,
}

impl CommonList {
    /// Decompresses and expands the front coding: each record is one byte with the length of the prefix
    /// shared with the previous entry, the remaining bytes, and `\n`.
    pub(crate) fn decode(compressed: &[u8]) -> Result<Self, DecodeError> {
        let mut raw = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(compressed)
            .map_err(|_| DecodeError::Zstd)?
            .read_to_end(&mut raw)
            .map_err(|_| DecodeError::Zstd)?;

        // The expanded text is about 1.75x the front-coded bytes; reserving it avoids regrowing a 2 MB buffer.
        let mut text: Vec<u8> = Vec::with_capacity(raw.len() * 2);
        let mut ends = Vec::with_capacity(raw.len() / 5);
        let mut prev_start = 0usize;
        let mut rest = raw.as_slice();
        while let Some((&shared, tail)) = rest.split_first() {
            let newline = tail.iter().position(|&b| b == b'\n').ok_or(DecodeError::Malformed)?;
            let shared = usize::from(shared);
            let start = text.len();
            if shared > start - prev_start {
                return Err(DecodeError::Malformed);
            }
            text.extend_from_within(prev_start..prev_start + shared);
            text.extend_from_slice(&tail[..newline]);
            ends.push(u32::try_from(text.len()).map_err(|_| DecodeError::Malformed)?);
            prev_start = start;
            rest = &tail[newline + 1..];
        }
        let list = Self { text: String::from_utf8(text).map_err(|_| DecodeError::Malformed)?, ends };

        // Binary search needs every boundary on a char boundary and the entries strictly increasing.
        let mut prev: Option<&str> = None;
        for i in 0..list.len() {
            let (start, end) = list.bounds(i);
            if !list.text.is_char_boundary(start) || !list.text.is_char_boundary(end) {
                return Err(DecodeError::Malformed);
            }
            let entry = list.entry(i);
            if prev.is_some_and(|p| p >= entry) {
                return Err(DecodeError::Unsorted);
            }
            prev = Some(entry);
        }
        Ok(list)
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    fn bounds(&self, i: usize) -> (usize, usize) {
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).map_or(0, |&e| e as usize) };
        let end = self.ends.get(i).map_or(start, |&e| e as usize);
        (start, end)
    }

    pub(crate) fn entry(&self, i: usize) -> &str {
        let (start, end) = self.bounds(i);
        self.text.get(start..end).unwrap_or_default()
    }

    pub(crate) fn contains(&self, needle: &str) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid).cmp(needle) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return true,
            }
        }
        false
    }

    #[cfg(test)]
    pub(crate) fn loaded() -> &'static Self {
        &LIST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_loads_with_at_least_100_000_entries() {
        // Also proves the embedded file decodes: a decode failure would leave the list empty.
        assert!(common_list_len() >= 100_000, "only {} entries", common_list_len());
    }

    #[test]
    fn list_has_the_usual_suspects() {
        for pw in ["password", "123456", "qwerty123", "PASSWORD", "Password", "iloveyou", "letmein", "1qaz2wsx3edc4rfv"]
        {
            assert!(is_common(pw), "{pw}");
        }
        for pw in ["correct horse battery staple", "correcthorsebatterystaple", "", "zz-not-a-password-zz"] {
            assert!(!is_common(pw), "{pw}");
        }
    }

    #[test]
    fn first_and_last_entries_are_found() {
        let list = CommonList::loaded();
        for i in [0, 1, list.len() / 2, list.len() - 1] {
            assert!(list.contains(list.entry(i)), "entry {i}: {:?}", list.entry(i));
        }
    }

    #[test]
    fn every_entry_is_already_folded() {
        // The Python builder folds with its own Unicode tables; a lookup only matches if the Rust fold maps
        // the same password to the same bytes.
        let list = CommonList::loaded();
        let unfolded: Vec<&str> = (0..list.len()).map(|i| list.entry(i)).filter(|e| fold(e.trim()) != *e).collect();
        assert!(
            unfolded.is_empty(),
            "{} entries differ from their fold: {:?}",
            unfolded.len(),
            &unfolded[..5.min(unfolded.len())]
        );
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert_eq!(CommonList::decode(b"not zstd").err(), Some(DecodeError::Zstd));
    }

    #[test]
    fn front_coding_round_trips() {
        let list = CommonList::loaded();
        // Entries sharing a long prefix exercise the copy from the previous entry.
        assert!(list.contains("password1"));
        assert!(list.contains("password12"));
        assert!(list.contains("password123"));
    }
}
