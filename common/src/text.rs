//! Small text helpers shared by parsers and loaders.

/// Splits one delimited line (CSV, TSV) with double quotes, `""` inside quotes being a quote.
pub fn split_delimited(line: &str, delim: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delim && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses an IP address as `str::parse::<IpAddr>` does (same answers, same rejections: no
/// leading zeros, no whitespace), with dotted-quad IPv4 read by hand first: every flow record
/// carries two to four addresses, and std's general parser costs several times more.
#[inline]
pub fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    match parse_ipv4(s.as_bytes()) {
        Some(v4) => Some(std::net::IpAddr::V4(v4)),
        None => s.parse().ok(),
    }
}

#[inline]
fn parse_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        // One to three digits, read without a loop: the digit after a third is the caller's
        // (a dot, the end, or a mismatch the next step rejects).
        let digit = |j: usize| b.get(j).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9);
        let d0 = digit(i)?;
        let (v, digits) = match (digit(i + 1), digit(i + 2)) {
            (Some(d1), Some(d2)) => (d0 as u32 * 100 + d1 as u32 * 10 + d2 as u32, 3),
            (Some(d1), None) => (d0 as u32 * 10 + d1 as u32, 2),
            (None, _) => (d0 as u32, 1),
        };
        if v > 255 || (digits > 1 && d0 == 0) {
            return None;
        }
        *octet = v as u8;
        i += digits;
    }
    (i == b.len()).then(|| std::net::Ipv4Addr::from(octets))
}

/// `s` in ASCII lower case, copied only when it has an upper-case letter (vendor enums are
/// mostly lower case already).
pub fn ascii_lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) { std::borrow::Cow::Owned(s.to_ascii_lowercase()) } else { std::borrow::Cow::Borrowed(s) }
}

/// Eight bytes as one little-endian word, with `mask` giving the high bit of each byte equal to
/// `b`. Bits above the lowest set one can be false alarms (a borrow carries into the next byte),
/// but the lowest set bit always marks the first such byte exactly, and so does the lowest bit of
/// a union of such masks: enough to find the first of several bytes a word at a time.
pub mod word {
    pub const LO: u64 = 0x0101_0101_0101_0101;
    pub const HI: u64 = 0x8080_8080_8080_8080;

    /// The high bit of each byte of `x` equal to `b` (the lowest set bit exact, see above).
    #[inline(always)]
    pub fn eq_mask(x: u64, b: u8) -> u64 {
        let y = x ^ (LO * b as u64);
        y.wrapping_sub(LO) & !y & HI
    }

    /// The byte index (0..8) of a mask's lowest set bit.
    #[inline(always)]
    pub fn first(mask: u64) -> usize {
        (mask.trailing_zeros() / 8) as usize
    }
}

/// Where the 64 bytes of `block` equal `x` (first mask) and `y` (second): bit k is byte k.
/// Exact in every bit, so a mask can be walked from its lowest bit to find each such byte.
/// SSE2 (part of every x86-64) compares 16 bytes at once; elsewhere a byte loop.
#[inline(always)]
pub fn eq_masks64(block: &[u8; 64], x: u8, y: u8) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "sse2")]
        fn sse2(block: &[u8; 64], x: u8, y: u8) -> (u64, u64) {
            use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
            let (vx, vy) = (_mm_set1_epi8(x as i8), _mm_set1_epi8(y as i8));
            let (mut mx, mut my) = (0u64, 0u64);
            for (k, part) in block.chunks_exact(16).enumerate() {
                // SAFETY: `part` is 16 readable bytes; the load has no alignment requirement.
                let v = unsafe { _mm_loadu_si128(part.as_ptr().cast::<__m128i>()) };
                mx |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, vx)) as u16 as u64) << (16 * k);
                my |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, vy)) as u16 as u64) << (16 * k);
            }
            (mx, my)
        }
        // SAFETY: SSE2 is part of the x86-64 baseline, so every x86-64 CPU has it.
        unsafe { sse2(block, x, y) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut mx, mut my) = (0u64, 0u64);
        for (k, &c) in block.iter().enumerate() {
            mx |= ((c == x) as u64) << k;
            my |= ((c == y) as u64) << k;
        }
        (mx, my)
    }
}

/// The bytes as text, or `None` when they are not UTF-8: what `std::str::from_utf8` answers,
/// checked 32 or 64 bytes at a time with the CPU's vector instructions (records are nearly
/// always ASCII, where the standard check goes a word at a time).
#[inline]
pub fn utf8(b: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(b).ok()
}

/// `s.trim()`, answered at once for the usual field that starts and ends with a visible ASCII
/// character (nothing to trim); anything else is trimmed as `str::trim` does.
#[inline]
pub fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [f, .., l] if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
        [c] if c.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// A small deterministic generator (xorshift) for the randomised tests of this and the other
/// crates: the same seed gives the same sequence on every run.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// The first position of `name` in `names`, evaluated at compile time where the connectors resolve
/// a field name to its column or slot (`col!`, `k!`).
pub const fn const_position(names: &[&str], name: &str) -> Option<usize> {
    let mut i = 0;
    while i < names.len() {
        if const_eq(names[i].as_bytes(), name.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `a == b` for the short names of field tables, without a `memcmp` call: a word at a time,
/// the last word overlapping the one before it.
#[inline(always)]
pub fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// `a.cmp(b)` for short names, deciding on the first eight bytes (as a big-endian word, a missing
/// byte counting as zero) and calling the full comparison only when those tie.
#[inline(always)]
pub fn short_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let head = |s: &[u8]| {
        if s.len() >= 8 {
            u64::from_be_bytes(s[..8].try_into().expect("8 bytes"))
        } else {
            s.iter().enumerate().fold(0u64, |w, (i, &c)| w | (c as u64) << (56 - 8 * i))
        }
    };
    // A difference in the first eight bytes orders the strings as `cmp` does: where one string
    // has ended, its zero sorts before any byte of the other, or ties with a zero byte and the
    // difference lies further on.
    match head(a).cmp(&head(b)) {
        std::cmp::Ordering::Equal => a.cmp(b),
        o => o,
    }
}

/// A name → position table for lookups by field name: open addressing over `SLOTS` one-byte
/// slots, keyed by a hash of the name's length and three of its bytes, so a lookup costs one hash
/// and usually one comparison instead of a scan. Holds fewer than `SLOTS / 2` (and 255) names;
/// a repeated name answers with its first position. The names stay with the caller, who passes
/// `name_at` to read them.
pub struct NameTable<const SLOTS: usize> {
    slots: [u8; SLOTS],
}

impl<const SLOTS: usize> NameTable<SLOTS> {
    const EMPTY: u8 = u8::MAX;

    /// The most names a table holds.
    pub const CAPACITY: usize = if SLOTS / 2 < 255 { SLOTS / 2 } else { 255 };

    #[inline(always)]
    fn slot(name: &[u8]) -> usize {
        let n = name.len();
        let (first, mid, last) = match n {
            0 => (0, 0, 0),
            _ => (name[0] as usize, name[n / 2] as usize, name[n - 1] as usize),
        };
        (n.wrapping_mul(0x9E37) ^ first.wrapping_mul(0x2F1) ^ mid.wrapping_mul(0x3D) ^ last.wrapping_mul(0x1A7)) % SLOTS
    }

    /// The table of `count` names, or `None` when there are more than [`Self::CAPACITY`].
    pub fn build<'n>(count: usize, name_at: impl Fn(usize) -> &'n [u8]) -> Option<Self> {
        if count > Self::CAPACITY {
            return None;
        }
        let mut t = NameTable { slots: [Self::EMPTY; SLOTS] };
        for i in 0..count {
            let name = name_at(i);
            let mut s = Self::slot(name);
            loop {
                match t.slots[s] {
                    Self::EMPTY => {
                        t.slots[s] = i as u8;
                        break;
                    }
                    j if short_eq(name_at(j as usize), name) => break, // repeated: the first one stays
                    _ => s = (s + 1) % SLOTS,
                }
            }
        }
        Some(t)
    }

    /// The position of `name`, reading the table's names through `name_at`.
    #[inline(always)]
    pub fn find<'n>(&self, name: &[u8], name_at: impl Fn(usize) -> &'n [u8]) -> Option<usize> {
        let mut s = Self::slot(name);
        loop {
            let i = self.slots[s];
            if i == Self::EMPTY {
                return None;
            }
            if short_eq(name_at(i as usize), name) {
                return Some(i as usize);
            }
            s = (s + 1) % SLOTS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_position_finds_the_first_whole_name() {
        const NAMES: [&str; 4] = ["src", "srcloc", "sr", "src"];
        const SRC: Option<usize> = const_position(&NAMES, "src");
        assert_eq!(SRC, Some(0), "the first of a repeated name");
        assert_eq!(const_position(&NAMES, "srcloc"), Some(1));
        assert_eq!(const_position(&NAMES, "sr"), Some(2));
        for missing in ["s", "srcl", "SRC", ""] {
            assert_eq!(const_position(&NAMES, missing), None, "{missing:?}");
        }
    }

    #[test]
    fn utf8_answers_as_the_standard_check_does() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        // ASCII text with multi-byte characters, cut ones, lone continuation bytes and invalid
        // lead bytes at every position and across the 32/64-byte blocks the fast check reads.
        let pieces: [&[u8]; 8] = [b"a", b"0123456789abcdef", "é".as_bytes(), "€".as_bytes(), "𝄞".as_bytes(), &[0xe2, 0x82], &[0x80], &[0xff]];
        for _ in 0..20_000 {
            let mut b = Vec::new();
            let parts = next() % 24;
            for _ in 0..parts {
                // Mostly valid pieces, so long valid runs with one bad byte occur.
                let k = (next() % 40) as usize;
                b.extend_from_slice(pieces[if k < 36 { k % 6 } else { k - 32 }]);
            }
            assert_eq!(utf8(&b), std::str::from_utf8(&b).ok(), "{b:?}");
        }
    }

    #[test]
    fn eq_masks64_marks_exactly_the_equal_bytes() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let mut block = [0u8; 64];
            // Mostly the bytes compared and their neighbours, so every bit position is hit both ways.
            for c in block.iter_mut() {
                *c = [b',', b'{', b'-', b'z', b'+', 0, 0xff, b'a'][(next() % 8) as usize];
            }
            let (commas, braces) = eq_masks64(&block, b',', b'{');
            for (k, &c) in block.iter().enumerate() {
                assert_eq!(commas >> k & 1 == 1, c == b',', "byte {k} of {block:?}");
                assert_eq!(braces >> k & 1 == 1, c == b'{', "byte {k} of {block:?}");
            }
        }
    }

    #[test]
    fn trim_agrees_with_str_trim() {
        for s in ["", " ", "a", " a", "a ", "\ta\n", "ab", "a b", "\u{a0}x", "x\u{3000}", "é", "\u{1}a", "a\u{1}", "  pan  ", "443", "\u{2003}\u{2003}"] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn parse_ip_answers_like_std() {
        let cases = [
            "10.0.0.1", "255.255.255.255", "0.0.0.0", "1.2.3.4", "192.168.100.200", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1.2.3.4 ",
            " 1.2.3.4", "1..3.4", "1.2.3.", ".1.2.3", "1234.1.1.1", "1.2.3.4/24", "a.b.c.d", "", "::1", "fe80::1%2", "2001:db8::7", "::ffff:10.0.0.1", "10.0.0.1:80",
            "0.0.0.00", "99.999.9.9", "1.2.3.-4", "+1.2.3.4", "1.2.3.4\n", "١.٢.٣.٤",
        ];
        for c in cases {
            assert_eq!(parse_ip(c), c.parse().ok(), "{c:?}");
        }
        // Every short string over the bytes that matter.
        let alphabet = b"0159.:a ";
        let mut s = Vec::new();
        for n in 0..200_000u64 {
            s.clear();
            let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n;
            let len = 7 + (x % 9) as usize;
            for _ in 0..len {
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
                x = (x / alphabet.len() as u64) ^ x.rotate_left(29);
            }
            let t = std::str::from_utf8(&s).unwrap();
            assert_eq!(parse_ip(t), t.parse().ok(), "{t:?}");
        }
        for a in [0u32, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255] {
            let t = format!("{a}.{a}.{a}.{a}");
            assert_eq!(parse_ip(&t), t.parse().ok(), "{t}");
        }
    }

    #[test]
    fn quotes_and_delimiters() {
        assert_eq!(super::split_delimited(r#"a,"b,c","d""e",,f"#, ','), vec!["a", "b,c", "d\"e", "", "f"]);
        assert_eq!(super::split_delimited("x\ty", '\t'), vec!["x", "y"]);
    }

    #[test]
    fn name_table_finds_every_name_at_its_first_position_and_nothing_else() {
        let names: Vec<String> = (0..60).map(|i| format!("field_{}{}", i % 37, "x".repeat(i % 5))).collect();
        let at = |i: usize| names[i].as_bytes();
        let t = NameTable::<128>::build(names.len(), at).unwrap();
        for (i, n) in names.iter().enumerate() {
            let first = names.iter().position(|m| m == n).unwrap();
            assert_eq!(t.find(n.as_bytes(), at), Some(first), "{n} at {i}");
        }
        for absent in ["", "field_", "field_99", "x", "field_1xxxxx"] {
            assert_eq!(t.find(absent.as_bytes(), at), None, "{absent}");
        }
        assert!(NameTable::<128>::build(65, |_| b"a".as_slice()).is_none(), "over capacity");
        let empty = NameTable::<16>::build(0, |_| b"".as_slice()).unwrap();
        assert_eq!(empty.find(b"", |_| b"".as_slice()), None);
    }

    #[test]
    fn short_eq_and_cmp_answer_like_the_std_comparisons() {
        let words = ["", "a", "b", "ab", "a\0", "a\0b", "abcdefg", "abcdefgh", "abcdefgi", "abcdefgh\0", "abcdefghi", "abcdefghijklmnop", "abcdefghijklmnoq", "bbcdefghijklmnop", "zz", "\u{ff}"];
        for a in words {
            for b in words {
                assert_eq!(short_eq(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
                assert_eq!(short_cmp(a.as_bytes(), b.as_bytes()), a.cmp(b), "{a:?} {b:?}");
            }
        }
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..100_000 {
            let mk = |n: &mut dyn FnMut() -> usize| (0..n() % 20).map(|_| [0u8, b'a', b'b', 0xff][n() % 4]).collect::<Vec<u8>>();
            let (a, b) = (mk(&mut next), mk(&mut next));
            assert_eq!(short_eq(&a, &b), a == b, "{a:?} {b:?}");
            assert_eq!(short_cmp(&a, &b), a.cmp(&b), "{a:?} {b:?}");
        }
    }
}
