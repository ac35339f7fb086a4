//! A small append-only JSON writer for the encoders' hot path.
//!
//! The OCSF and ECS encoders write straight into a caller's `Vec<u8>` instead of building a
//! `serde_json::Value` tree per event: no map nodes, no key strings, no per-field allocation.
//! Keys are `'static` ASCII names chosen by the encoders and are written without escaping;
//! every value string goes through [`write_str`], which escapes exactly as `serde_json` does.

use std::io::Write as _;
use std::net::IpAddr;

/// Appends `s` as a JSON string literal.
#[inline]
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if needs_escape(b) {
        write_escaped(buf, b);
    } else {
        let (n, len) = (b.len(), buf.len());
        buf.reserve(n + 2);
        // SAFETY: `reserve` made room for `n + 2` bytes past `len`, exactly what is stored and
        // then covered by `set_len`.
        unsafe {
            let p = buf.as_mut_ptr().add(len);
            p.write(b'"');
            std::ptr::copy_nonoverlapping(b.as_ptr(), p.add(1), n);
            p.add(n + 1).write(b'"');
            buf.set_len(len + n + 2);
        }
    }
}

/// The escaping path of [`write_str`]: escapes like `serde_json` (short forms where JSON has
/// them, else `\\u00xx`). Raw JSON records have a quote every few bytes, so the copy avoids a
/// call per run of plain bytes: the output is sized for the worst case of two bytes per input
/// byte up front, every word is stored whole, and the write position then moves past the plain
/// bytes only, so the escape overwrites the rest.
fn write_escaped(buf: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    let mut o = buf.len();
    // Room left after `o` stays at least 2 * (bytes left) + 9: each input byte writes at most two
    // (the 8-byte store spills into room a later byte owns), and the six-byte `\u00xx` forms grow
    // the buffer by the four they take beyond two.
    buf.resize(o + 2 * n + 10, 0);
    buf[o] = b'"';
    o += 1;
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    if n >= 16 && std::is_x86_feature_detected!("ssse3") {
        // SAFETY: the CPU has SSSE3, checked on the line above.
        (i, o) = unsafe { simd::escape_blocks(buf, b, o) };
    }
    while i + 8 <= n {
        let w: [u8; 8] = b[i..i + 8].try_into().expect("8 bytes");
        buf[o..o + 8].copy_from_slice(&w);
        let m = escape_mask(u64::from_le_bytes(w));
        if m == 0 {
            i += 8;
            o += 8;
            continue;
        }
        // The lowest flagged byte is exact (see `escape_mask`).
        let k = crate::text::word::first(m);
        o = escape_at(buf, o + k, b[i + k]);
        i += k + 1;
    }
    for &c in &b[i..] {
        if must_escape(c) {
            o = escape_at(buf, o, c);
        } else {
            buf[o] = c;
            o += 1;
        }
    }
    buf[o] = b'"';
    buf.truncate(o + 1);
}

/// 16 bytes at a time on x86-64: the escape check (SSE2, every x86-64 CPU) and the escaping of
/// [`write_escaped`] (SSSE3, nearly all), with no branch per quote. Raw JSON has a quote every few
/// bytes, so the scalar loop's data-dependent branches and its chain from one escape to the next
/// cost more than the copying itself.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_shuffle_epi8, _mm_srli_si128, _mm_storeu_si128};

    /// For each 8-bit mask of the bytes to escape in an 8-byte half block: the `pshufb` control
    /// that spreads the half out, leaving a zero slot before each byte to escape; the bytes to
    /// OR in (a backslash in each such slot); and the output length (8 + escapes).
    struct Expand {
        shuffle: [[u8; 16]; 256],
        backslash: [[u8; 16]; 256],
        len: [u8; 256],
    }

    static EXPAND: Expand = {
        let mut t = Expand { shuffle: [[0x80; 16]; 256], backslash: [[0; 16]; 256], len: [0; 256] };
        let mut m = 0;
        while m < 256 {
            let mut k = 0;
            let mut j = 0;
            while j < 8 {
                if m >> j & 1 == 1 {
                    t.backslash[m][k] = b'\\';
                    k += 1;
                }
                t.shuffle[m][k] = j as u8;
                k += 1;
                j += 1;
            }
            t.len[m] = k as u8;
            m += 1;
        }
        t
    };

    /// The control characters of `x` as a byte mask: the bytes equal to their unsigned minimum
    /// with 0x1f.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn control(x: __m128i) -> __m128i {
        _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x)
    }

    /// The 16 bytes at `b[at..]`, and their escape classes as byte masks: control characters,
    /// and `"` or `\\` (the bytes escaped as a backslash and themselves).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn classes(b: &[u8], at: usize) -> (__m128i, __m128i, __m128i) {
        let block = &b[at..at + 16];
        // SAFETY: `block` is 16 readable bytes; the load has no alignment requirement.
        let x = unsafe { _mm_loadu_si128(block.as_ptr().cast::<__m128i>()) };
        let control = control(x);
        let quoted = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8)), _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8)));
        (x, control, quoted)
    }

    /// [`super::block_masks`] 16 bytes at a time.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn block_masks(block: &[u8; 64], extra: u8) -> super::BlockMasks {
        let mut m = super::BlockMasks { quote: 0, escape: 0, extra: 0 };
        let (quote, slash, want) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8), _mm_set1_epi8(extra as i8));
        for (k, part) in block.chunks_exact(16).enumerate() {
            // SAFETY: `part` is 16 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm_loadu_si128(part.as_ptr().cast::<__m128i>()) };
            let bits = |x: __m128i| (_mm_movemask_epi8(x) as u16 as u64) << (16 * k);
            m.quote |= bits(_mm_cmpeq_epi8(v, quote));
            m.escape |= bits(_mm_or_si128(_mm_cmpeq_epi8(v, slash), control(v)));
            m.extra |= bits(_mm_cmpeq_epi8(v, want));
        }
        m
    }

    /// Whether any byte of `b` (16 bytes or more) must be escaped, 16 bytes at a time; the last
    /// block overlaps the one before it.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn any_escape(b: &[u8]) -> bool {
        use std::arch::x86_64::_mm_setzero_si128;
        let special = |at: usize| {
            let (_, control, quoted) = classes(b, at);
            _mm_or_si128(control, quoted)
        };
        let mut acc = _mm_setzero_si128();
        let mut i = 0;
        while i + 16 <= b.len() {
            acc = _mm_or_si128(acc, special(i));
            // Strings that need escaping usually show it early (a JSON record's first quote).
            if i % 64 == 48 && _mm_movemask_epi8(acc) != 0 {
                return true;
            }
            i += 16;
        }
        if i < b.len() {
            acc = _mm_or_si128(acc, special(b.len() - 16));
        }
        _mm_movemask_epi8(acc) != 0
    }

    /// Escapes whole 16-byte blocks of `b` into `buf` at `o` (room as [`super::write_escaped`]
    /// keeps it) and returns the input and output positions after them. A `"` or `\\` becomes a
    /// backslash and itself; a block holding a control character is escaped byte by byte, as those
    /// take the longer forms.
    #[target_feature(enable = "ssse3")]
    pub(super) fn escape_blocks(buf: &mut Vec<u8>, b: &[u8], mut o: usize) -> (usize, usize) {
        let mut i = 0;
        while i + 16 <= b.len() {
            let (x, control, quoted) = classes(b, i);
            if _mm_movemask_epi8(control) != 0 {
                for &c in &b[i..i + 16] {
                    if super::must_escape(c) {
                        o = super::escape_at(buf, o, c);
                    } else {
                        buf[o] = c;
                        o += 1;
                    }
                }
                i += 16;
                continue;
            }
            let esc = _mm_movemask_epi8(quoted) as usize;
            if esc == 0 {
                // Nothing to escape (most blocks of a CSV or key=value record): stored as it is.
                // SAFETY: as below; 16 bytes of `buf` at `o`, bounds-checked by the slice.
                unsafe { _mm_storeu_si128(buf[o..o + 16].as_mut_ptr().cast::<__m128i>(), x) };
                o += 16;
                i += 16;
                continue;
            }
            for (half, m) in [(x, esc & 0xff), (_mm_srli_si128::<8>(x), esc >> 8)] {
                // SAFETY: the tables are 16 bytes each; the store goes to 16 bytes of `buf`
                // (bounds-checked by the slice). Room: at most two output bytes per input byte
                // so far, and `buf` holds 2 * len + 10 past the start.
                unsafe {
                    let shuffle = _mm_loadu_si128(EXPAND.shuffle[m].as_ptr().cast::<__m128i>());
                    let slash = _mm_loadu_si128(EXPAND.backslash[m].as_ptr().cast::<__m128i>());
                    let out = _mm_or_si128(_mm_shuffle_epi8(half, shuffle), slash);
                    _mm_storeu_si128(buf[o..o + 16].as_mut_ptr().cast::<__m128i>(), out);
                }
                o += EXPAND.len[m] as usize;
            }
            i += 16;
        }
        (i, o)
    }
}

/// For each byte JSON must escape, the letter after the backslash (`u` for the `\\u00xx` form).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

/// Writes the escape for `c` at `o` (room for two bytes is there) and returns the position after.
/// A table instead of a `match`: quotes come every few bytes in raw JSON, and a jump per quote
/// cost more than the copy.
#[inline(always)]
fn escape_at(buf: &mut Vec<u8>, o: usize, c: u8) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let e = ESCAPE[c as usize];
    if e == b'u' {
        let len = buf.len();
        buf.resize(len + 4, 0);
        buf[o..o + 6].copy_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        return o + 6;
    }
    buf[o] = b'\\';
    buf[o + 1] = e;
    o + 2
}

/// One bit (the high bit of the byte) per byte of `x` (little-endian) that JSON must escape:
/// below 0x20, `"` or `\\`; the lowest set bit is exact (see [`crate::text::word`]).
#[inline]
fn escape_mask(x: u64) -> u64 {
    use crate::text::word::{HI, LO, eq_mask};
    // Bytes >= 0x80 are UTF-8 lead/continuation bytes and never need escaping: `& !x` masks them
    // out of the "less than 0x20" test.
    let lt = x.wrapping_sub(LO * 0x20) & !x & HI;
    lt | eq_mask(x, b'"') | eq_mask(x, b'\\')
}

/// Bit masks of one 64-byte block for a one-pass JSON reader; bit k stands for byte k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMasks {
    /// `"`.
    pub quote: u64,
    /// `\\` or a control character: a byte that cannot stand as it is inside a JSON string.
    pub escape: u64,
    /// The byte the caller asked for (the Zscaler reader's `%`).
    pub extra: u64,
}

/// [`BlockMasks`] of `block`, exact in every bit, so a mask can be walked from its lowest bit.
/// SSE2 (part of every x86-64) classifies 16 bytes at once; elsewhere a byte loop.
#[inline(always)]
pub fn block_masks(block: &[u8; 64], extra: u8) -> BlockMasks {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86-64 baseline, so every x86-64 CPU has it.
    return unsafe { simd::block_masks(block, extra) };
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = BlockMasks { quote: 0, escape: 0, extra: 0 };
        for (k, &c) in block.iter().enumerate() {
            m.quote |= ((c == b'"') as u64) << k;
            m.escape |= ((c == b'\\' || c < 0x20) as u64) << k;
            m.extra |= ((c == extra) as u64) << k;
        }
        m
    }
}

/// Whether `b` holds a byte JSON must escape (`"`, `\\` or a control character), checked eight
/// bytes at a time; the last (partial) word is read overlapping the one before it, so no byte is
/// checked one at a time unless the whole string is shorter than a word.
#[inline]
fn needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        return b.iter().any(|&c| must_escape(c));
    }
    #[cfg(target_arch = "x86_64")]
    if n >= 16 {
        // SAFETY: SSE2 is part of every x86-64 CPU (the target's baseline).
        return unsafe { simd::any_escape(b) };
    }
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 <= n {
        if escape_mask(word(i)) != 0 {
            return true;
        }
        i += 8;
    }
    i < n && escape_mask(word(n - 8)) != 0
}

/// One byte of [`escape_mask`]: a control character, `"` or `\\`.
#[inline]
fn must_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Appends an IP address as a JSON string (IPv4 without going through `fmt`).
#[inline]
fn write_ip(buf: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Built in a fixed-size array and appended whole, as in `write_int`: the opening
            // quote, each octet with a dot after it, and the last dot made the closing quote.
            let mut t = [b'"'; 17];
            let mut n = 1;
            for o in v4.octets() {
                let (digits, len) = OCTETS[o as usize];
                t[n..n + 3].copy_from_slice(&digits);
                t[n + len as usize] = b'.';
                n += len as usize + 1;
            }
            t[n - 1] = b'"';
            let at = buf.len();
            buf.extend_from_slice(&t);
            buf.truncate(at + n);
        }
        IpAddr::V6(v6) => {
            let _ = write!(buf, "\"{v6}\"");
        }
    }
}

/// Appends a `serde_json::Value`, strings through [`write_str`].
pub fn write_value(buf: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => write_str(buf, s),
        Value::Object(m) => {
            buf.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_str(buf, k);
                buf.push(b':');
                write_value(buf, v);
            }
            buf.push(b'}');
        }
        Value::Array(a) => {
            buf.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_value(buf, v);
            }
            buf.push(b']');
        }
        other => serde_json::to_writer(&mut *buf, other).expect("writing to a Vec cannot fail"),
    }
}

/// An integer `Obj::num` can write: its sign and magnitude.
pub trait Int: Copy {
    fn sign_magnitude(self) -> (bool, u64);
}

macro_rules! unsigned_int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            #[inline(always)]
            fn sign_magnitude(self) -> (bool, u64) {
                (false, self as u64)
            }
        }
    )*};
}
macro_rules! signed_int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            #[inline(always)]
            fn sign_magnitude(self) -> (bool, u64) {
                (self < 0, self.unsigned_abs() as u64)
            }
        }
    )*};
}
unsigned_int!(u8, u16, u32, u64, usize);
signed_int!(i8, i16, i32, i64, isize);

/// Two decimal digits for each value below 100.
const DIGITS2: &[u8; 200] = &{
    let mut t = [0u8; 200];
    let mut v = 0;
    while v < 100 {
        t[2 * v] = b'0' + (v / 10) as u8;
        t[2 * v + 1] = b'0' + (v % 10) as u8;
        v += 1;
    }
    t
};

/// Appends an integer in decimal. The digits are built in a fixed-size array that is appended
/// whole and trimmed: a copy of known size, where a copy of the digits' own length was a
/// `memcpy` call per number.
#[inline]
fn write_int<N: Int>(buf: &mut Vec<u8>, n: N) {
    let (negative, mut v) = n.sign_magnitude();
    let len = v.checked_ilog10().unwrap_or(0) as usize + 1 + usize::from(negative);
    let mut t = [b'-'; 21];
    let mut i = len;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        t[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        t[i - 2..i].copy_from_slice(&DIGITS2[r..r + 2]);
    } else {
        t[i - 1] = b'0' + v as u8;
    }
    let o = buf.len();
    buf.extend_from_slice(&t);
    buf.truncate(o + len);
}

/// Each byte value in decimal, and the number of digits.
static OCTETS: [([u8; 3], u8); 256] = {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut v = 0;
    while v < 256 {
        t[v] = match v {
            0..=9 => ([b'0' + v as u8, 0, 0], 1),
            10..=99 => ([b'0' + (v / 10) as u8, b'0' + (v % 10) as u8, 0], 2),
            _ => ([b'0' + (v / 100) as u8, b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8], 3),
        };
        v += 1;
    }
    t
};

/// One JSON object being written. Create with [`Obj::begin`], finish with [`Obj::end`].
pub struct Obj<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    pub fn begin(buf: &'a mut Vec<u8>) -> Obj<'a> {
        buf.push(b'{');
        Obj { buf, first: true }
    }

    pub fn end(self) {
        self.buf.push(b'}');
    }

    /// Whether nothing has been written into the object yet.
    pub fn is_empty(&self) -> bool {
        self.first
    }

    /// The comma before every member but the first.
    #[inline(always)]
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    /// `,"k":` (no comma before the first member), in one reservation: a record is a few dozen
    /// members, and four length checks and stores each showed in the profile.
    #[inline(always)]
    fn key(&mut self, k: &str) {
        debug_assert!(!k.bytes().any(must_escape), "keys are plain names");
        let n = k.len();
        self.buf.reserve(n + 4);
        let len = self.buf.len();
        // The comma is stored either way; the first member's key then starts on it.
        let o = usize::from(!self.first);
        // SAFETY: `reserve` made room for `n + 4` bytes past `len`; the stores reach `len + o + n + 2`
        // at most (`o` is 0 or 1), and `set_len` covers exactly the bytes written from `len`.
        unsafe {
            let p = self.buf.as_mut_ptr().add(len);
            p.write(b',');
            p.add(o).write(b'"');
            std::ptr::copy_nonoverlapping(k.as_ptr(), p.add(o + 1), n);
            p.add(o + 1 + n).write(b'"');
            p.add(o + 2 + n).write(b':');
            self.buf.set_len(len + o + n + 3);
        }
        self.first = false;
    }

    #[inline(always)]
    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_str(self.buf, v);
    }

    #[inline]
    pub fn opt_str(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    /// A string built with `format_args!`, escaped like any other value.
    pub fn fmt(&mut self, k: &str, v: std::fmt::Arguments<'_>) {
        match v.as_str() {
            Some(s) => self.str(k, s),
            None => self.str(k, &v.to_string()),
        }
    }

    /// A string value made of `parts` joined, without building the joined string first.
    pub fn str_parts(&mut self, k: &str, parts: &[&str]) {
        self.key(k);
        if parts.iter().any(|p| needs_escape(p.as_bytes())) {
            write_str(self.buf, &parts.concat());
            return;
        }
        self.buf.push(b'"');
        for p in parts {
            self.buf.extend_from_slice(p.as_bytes());
        }
        self.buf.push(b'"');
    }

    /// A run of members written ahead of time (`"a":1,"b":"x"`): the encoders' constant
    /// stretches go out in one copy. The run must be valid JSON members in key order.
    #[inline]
    pub fn members(&mut self, run: &'static str) {
        debug_assert!(serde_json::from_str::<serde_json::Value>(&format!("{{{run}}}")).is_ok(), "members must be valid JSON: {run}");
        self.rendered_members(run);
    }

    /// Members rendered earlier by this writer (no check: they were written through it).
    #[inline]
    pub(crate) fn rendered_members(&mut self, run: &str) {
        if !run.is_empty() {
            self.sep();
            self.buf.extend_from_slice(run.as_bytes());
        }
    }

    #[inline(always)]
    pub fn num<N: Int>(&mut self, k: &str, v: N) {
        self.key(k);
        write_int(self.buf, v);
    }

    #[inline]
    pub fn opt_num<N: Int>(&mut self, k: &str, v: Option<N>) {
        if let Some(v) = v {
            self.num(k, v);
        }
    }

    /// An integer written as a JSON string (ECS keeps some numbers as keywords).
    pub fn num_str<N: Int>(&mut self, k: &str, v: N) {
        self.key(k);
        self.buf.push(b'"');
        write_int(self.buf, v);
        self.buf.push(b'"');
    }

    pub fn opt_num_str<N: Int>(&mut self, k: &str, v: Option<N>) {
        if let Some(v) = v {
            self.num_str(k, v);
        }
    }

    /// A float as `serde_json` writes it (`null` for NaN and infinities).
    pub fn f64(&mut self, k: &str, v: f64) {
        self.key(k);
        serde_json::to_writer(&mut *self.buf, &v).expect("writing to a Vec cannot fail");
    }

    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
    }

    pub fn null(&mut self, k: &str) {
        self.key(k);
        self.buf.extend_from_slice(b"null");
    }

    /// An IP address as a string (no characters need escaping).
    #[inline]
    pub fn ip(&mut self, k: &str, ip: IpAddr) {
        self.key(k);
        write_ip(self.buf, ip);
    }

    #[inline]
    pub fn opt_ip(&mut self, k: &str, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.ip(k, ip);
        }
    }

    /// A nested object, written by `f`.
    #[inline]
    pub fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) {
        self.key(k);
        let mut o = Obj::begin(self.buf);
        f(&mut o);
        o.end();
    }

    /// A nested object that is left out entirely when `f` writes nothing into it.
    pub fn obj_nonempty(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) {
        let mark = self.buf.len();
        let was_first = self.first;
        self.key(k);
        let start = self.buf.len();
        let mut o = Obj::begin(self.buf);
        f(&mut o);
        if self.buf.len() == start + 1 {
            self.buf.truncate(mark);
            self.first = was_first;
        } else {
            self.buf.push(b'}');
        }
    }

    /// An array, written by `f`.
    pub fn arr(&mut self, k: &str, f: impl FnOnce(&mut Arr<'_>)) {
        self.key(k);
        let mut a = Arr { buf: self.buf, first: true };
        a.buf.push(b'[');
        f(&mut a);
        a.buf.push(b']');
    }

    /// A `serde_json::Value` (vendor fields kept under `unmapped`).
    pub fn value(&mut self, k: &str, v: &serde_json::Value) {
        self.key(k);
        write_value(self.buf, v);
    }

    /// Like [`Obj::value`] for a key that may need escaping (a vendor's field name). Most are
    /// plain names: those take the key path of the constant ones.
    pub fn dyn_value(&mut self, k: &str, v: &serde_json::Value) {
        if needs_escape(k.as_bytes()) {
            self.sep();
            write_str(self.buf, k);
            self.buf.push(b':');
        } else {
            self.key(k);
        }
        write_value(self.buf, v);
    }
}

/// One JSON array being written (see [`Obj::arr`]).
pub struct Arr<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl Arr<'_> {
    #[inline]
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    pub fn str(&mut self, v: &str) {
        self.sep();
        write_str(self.buf, v);
    }

    pub fn f64(&mut self, v: f64) {
        self.sep();
        serde_json::to_writer(&mut *self.buf, &v).expect("writing to a Vec cannot fail");
    }

    pub fn ip(&mut self, ip: IpAddr) {
        self.sep();
        write_ip(self.buf, ip);
    }

    pub fn obj(&mut self, f: impl FnOnce(&mut Obj<'_>)) {
        self.sep();
        let mut o = Obj::begin(self.buf);
        f(&mut o);
        o.end();
    }
}

/// Writes one object with `f` and parses it back: the `Value` form for callers off the hot path.
pub fn to_value(f: impl FnOnce(&mut Obj<'_>)) -> serde_json::Value {
    let mut buf = Vec::with_capacity(256);
    let mut o = Obj::begin(&mut buf);
    f(&mut o);
    o.end();
    serde_json::from_slice(&buf).expect("the writer produces valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::text::xorshift;

    /// Every bit of the block masks agrees with a byte loop, for every byte class (quote,
    /// backslash, control characters, DEL, multi-byte UTF-8, the extra byte, plain).
    #[test]
    fn block_masks_agree_with_a_byte_loop() {
        let bytes: &[u8] = b"ab\"\\\x00\x1f\x20\x7f\xc3\xa9z%";
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..5_000 {
            let mut block = [0u8; 64];
            for c in &mut block {
                *c = bytes[(next() % bytes.len() as u64) as usize];
            }
            let want = |f: &dyn Fn(u8) -> bool| block.iter().enumerate().fold(0u64, |m, (k, &c)| m | (f(c) as u64) << k);
            let got = block_masks(&block, b'%');
            assert_eq!(got.quote, want(&|c| c == b'"'), "{block:?}");
            assert_eq!(got.escape, want(&|c| must_escape(c) && c != b'"'), "{block:?}");
            assert_eq!(got.extra, want(&|c| c == b'%'), "{block:?}");
        }
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        let long = format!("{{\"sourcetype\":\"x\",\"event\":{{\"a\":\"b\\\\c\"}}}} and more text {all_controls} end");
        for s in ["plain", "q\"uote", "back\\slash", "tab\there", "nl\n", "\u{1}", "ünïcødé", "", "0123456\"", "01234567\"", "\"01234567", all_controls.as_str(), long.as_str()] {
            let mut b = Vec::new();
            write_str(&mut b, s);
            assert_eq!(String::from_utf8(b).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        // Two special bytes at every pair of positions, among plain ASCII and multi-byte UTF-8:
        // the escaping path jumps between them eight bytes at a time.
        for filler in ['a', 'é'] {
            for len in 0..20 {
                for (p, q) in (0..len).flat_map(|p| (p..len).map(move |q| (p, q))) {
                    for (x, y) in [('"', '\\'), ('\u{1f}', '"'), ('\n', '\u{0}'), ('"', '"')] {
                        let s: String = (0..len).map(|i| if i == p { x } else if i == q { y } else { filler }).collect();
                        let mut b = Vec::new();
                        write_str(&mut b, &s);
                        assert_eq!(String::from_utf8(b).unwrap(), serde_json::to_string(&s).unwrap(), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn escaping_after_existing_output_and_with_every_byte_special() {
        // Random strings, a third of their characters special, appended after what the buffer
        // already holds: the output is sized ahead and trimmed, so neither end may be disturbed.
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let alphabet = ['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', '€', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
        // Without control characters every 16-byte block takes the SIMD path (on x86-64); with
        // them, blocks alternate between it and the byte-by-byte one.
        let no_controls = ['"', '\\', '\u{7f}', 'é', '€', '𝄞', ' ', 'a', 'b', 'c', 'd', 'e', 'f', 'g'];
        // Sparse quotes (a CSV record's): most blocks have nothing to escape and are stored whole,
        // between blocks that do.
        let sparse: Vec<char> = "abcdefghijklmnopqrstuvwxyz,é0123456789".chars().chain(['"', '\\']).collect();
        for round in 0..6000 {
            let alphabet = match round % 3 {
                0 => &alphabet[..],
                1 => &no_controls[..],
                _ => &sparse[..],
            };
            let len = (next() % 300) as usize;
            let s: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let mut b = b"prefix:".to_vec();
            write_str(&mut b, &s);
            b.extend_from_slice(b",next");
            assert_eq!(String::from_utf8(b).unwrap(), format!("prefix:{},next", serde_json::to_string(&s).unwrap()), "round {round}: {s:?}");
        }
        let controls: String = (0u8..0x20).map(char::from).cycle().take(500).collect();
        let mut b = vec![b'x'];
        write_str(&mut b, &controls);
        assert_eq!(String::from_utf8(b).unwrap(), format!("x{}", serde_json::to_string(&controls).unwrap()));
    }

    #[test]
    fn joined_parts_escape_like_one_string() {
        for parts in [&["Network Activity", ": ", "Open"][..], &["a\"b", ": ", "c"], &[], &["", "\n"]] {
            let mut b = Vec::new();
            let mut o = Obj::begin(&mut b);
            o.str_parts("k", parts);
            o.end();
            let want = format!("{{\"k\":{}}}", serde_json::to_string(&parts.concat()).unwrap());
            assert_eq!(String::from_utf8(b).unwrap(), want);
        }
    }

    #[test]
    fn escape_check_finds_every_special_byte_at_every_position() {
        // Past 16 bytes the check runs 16 at a time (SSE2 on x86-64), the last block overlapping.
        for len in 0..90 {
            for pos in 0..len {
                for special in [b'"', b'\\', b'\n', 0u8, 0x1f] {
                    let mut v = vec![b'a'; len];
                    v[pos] = special;
                    assert!(needs_escape(&v), "{len} {pos} {special}");
                }
            }
            assert!(!needs_escape(&vec![b'a'; len]));
        }
        assert!(!needs_escape("ünïcødé ü 0x80-0xff bytes are fine".as_bytes()));
        assert!(!needs_escape(b" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~\x7f"));
        let mut b = Vec::new();
        write_ip(&mut b, "10.0.255.7".parse().unwrap());
        assert_eq!(b, b"\"10.0.255.7\"");
    }

    #[test]
    fn integers_and_addresses_print_like_std() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut u = vec![0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1, i64::MAX as u64];
        u.extend((0..20).flat_map(|p| [10u64.pow(p) - 1, 10u64.pow(p), 10u64.pow(p) + 1]));
        u.extend((0..2000).map(|_| next() >> (next() % 64)));
        for v in u {
            let mut b = b"x".to_vec();
            write_int(&mut b, v);
            assert_eq!(b, format!("x{v}").as_bytes());
            let s = v as i64;
            let mut b = Vec::new();
            write_int(&mut b, s);
            assert_eq!(b, s.to_string().as_bytes());
        }
        for v in [i64::MIN, i64::MIN + 1, -1, -10, -99, -100] {
            let mut b = Vec::new();
            write_int(&mut b, v);
            assert_eq!(b, v.to_string().as_bytes());
        }
        for v in [0u8, 7, 10, 99, 100, 255] {
            let mut b = Vec::new();
            write_int(&mut b, v);
            write_int(&mut b, v as i8);
            assert_eq!(b, format!("{v}{}", v as i8).as_bytes());
        }
        let mut ips: Vec<std::net::Ipv4Addr> = ["0.0.0.0", "255.255.255.255", "10.0.255.7", "1.22.133.4", "100.10.1.0"].iter().map(|s| s.parse().unwrap()).collect();
        ips.extend((0..2000).map(|_| std::net::Ipv4Addr::from((next() >> 32) as u32)));
        for ip in ips {
            let mut b = b"[".to_vec();
            write_ip(&mut b, ip.into());
            b.push(b']');
            assert_eq!(b, format!("[\"{ip}\"]").as_bytes());
        }
        for ip in ["::", "::1", "2001:db8::7", "fe80::1:2:3:4"] {
            let mut b = Vec::new();
            write_ip(&mut b, ip.parse().unwrap());
            assert_eq!(b, format!("\"{ip}\"").as_bytes());
        }
    }

    #[test]
    fn vendor_keys_plain_or_escaped_in_any_position() {
        // A plain key takes the constant-key path (which stores the comma itself), an escaped one
        // the general path: first, between and after each other.
        let mut buf = Vec::new();
        let mut o = Obj::begin(&mut buf);
        o.dyn_value("plain", &serde_json::json!("a"));
        o.dyn_value("we\"ird\tkey", &serde_json::json!("b"));
        o.dyn_value("next", &serde_json::json!(3));
        o.end();
        assert_eq!(String::from_utf8(buf).unwrap(), r#"{"plain":"a","we\"ird\tkey":"b","next":3}"#);
        let mut buf = Vec::new();
        let mut o = Obj::begin(&mut buf);
        o.dyn_value("we\\ird", &serde_json::json!(null));
        o.dyn_value("plain", &serde_json::json!([1]));
        o.end();
        assert_eq!(String::from_utf8(buf).unwrap(), r#"{"we\\ird":null,"plain":[1]}"#);
    }

    #[test]
    fn objects_nest_and_empty_ones_can_be_dropped() {
        let mut buf = Vec::new();
        let mut o = Obj::begin(&mut buf);
        o.str("a", "x");
        o.obj_nonempty("empty", |_| {});
        o.obj_nonempty("full", |i| i.num("n", 7u32));
        o.arr("l", |a| {
            a.str("y");
            a.obj(|i| i.opt_num::<u8>("none", None));
        });
        o.ip("ip", "2001:db8::1".parse().unwrap());
        o.f64("nan", f64::NAN);
        o.dyn_value("we\"ird", &serde_json::json!({"k": [1, 2]}));
        o.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": "x", "full": {"n": 7}, "l": ["y", {}], "ip": "2001:db8::1", "nan": null, "we\"ird": {"k": [1, 2]}})
        );
    }
}
