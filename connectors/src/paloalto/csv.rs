//! PAN-OS CSV rows: comma-separated, with double-quoted fields that may contain commas (and `""`
//! for a quote) and `{...}` braced values (Link Switches) that contain unquoted commas.

use std::borrow::Cow;

/// Splits one row; borrowed unless a field needs unquoting.
///
/// Unquoted fields are found 64 bytes at a time: one block gives the positions of every comma
/// and brace in it as bit masks, and each comma ends a field without a byte-by-byte loop. A quote
/// matters only as a field's first byte; a `{` switches to a byte loop until its `}`.
pub fn split(row: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let b = row.as_bytes();
    let mut out = Vec::with_capacity(128);
    let mut start = 0usize; // where the current field begins
    let mut i = 0usize; // where scanning resumes
    let mut tail: [u8; 64];
    'field: loop {
        if i == start && b.get(start) == Some(&b'"') {
            let (field, end) = quoted(row, start)?;
            out.push(field);
            match b.get(end) {
                None => return Ok(out),
                Some(b',') => {
                    start = end + 1;
                    i = start;
                    continue 'field;
                }
                Some(_) => return Err(format!("unexpected character after a closing quote at byte {end}")),
            }
        }
        while i < b.len() {
            let block: &[u8; 64] = match b.get(i..i + 64) {
                Some(full) => full.try_into().expect("64 bytes"),
                None => {
                    // The row's last bytes are compared in a zero-padded copy: zero is neither byte.
                    tail = [0u8; 64];
                    tail[..b.len() - i].copy_from_slice(&b[i..]);
                    &tail
                }
            };
            let (mut commas, braces) = logfetch_common::text::eq_masks64(block, b',', b'{');
            if braces != 0 {
                // Only the commas before the brace end fields here.
                commas &= braces - 1;
            }
            while commas != 0 {
                let p = i + commas.trailing_zeros() as usize;
                // SAFETY: `p` is a comma's index in `row`, and `start` is 0 or just past a comma
                // or closing quote, or at a quote, all ASCII: both are in bounds, `start <= p`
                // (fields end at the first comma past their start), and both are char boundaries.
                debug_assert!(start <= p && row.is_char_boundary(start) && row.is_char_boundary(p));
                out.push(Cow::Borrowed(unsafe { row.get_unchecked(start..p) }));
                start = p + 1;
                commas &= commas - 1;
                if b.get(start) == Some(&b'"') {
                    i = start;
                    continue 'field;
                }
            }
            if braces != 0 {
                i = skip_braces(b, i + braces.trailing_zeros() as usize);
                continue 'field;
            }
            i += 64;
        }
        out.push(Cow::Borrowed(&row[start..]));
        return Ok(out);
    }
}

/// From the `{` at `at`: the index just past its matching `}`, or the end of the row. Commas
/// inside do not end the field.
fn skip_braces(b: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut j = at;
    while j < b.len() {
        match b[j] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

/// The quoted field whose opening quote is at `at`, and the index just past its closing quote.
fn quoted(row: &str, at: usize) -> Result<(Cow<'_, str>, usize), String> {
    let b = row.as_bytes();
    let mut j = at + 1;
    let mut owned: Option<String> = None;
    loop {
        match b.get(j) {
            None => return Err(format!("unterminated quoted field starting at byte {at}")),
            Some(b'"') if b.get(j + 1) == Some(&b'"') => {
                let s = owned.get_or_insert_with(|| row[at + 1..j].to_string());
                s.push('"');
                j += 2;
            }
            Some(b'"') => break,
            Some(_) => {
                // Copy up to the next quote in one piece.
                let next = memchr::memchr(b'"', &b[j..]).map_or(b.len(), |k| j + k);
                if let Some(s) = owned.as_mut() {
                    s.push_str(&row[j..next]);
                }
                j = next;
            }
        }
    }
    let field = match owned {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(&row[at + 1..j]),
    };
    Ok((field, j + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_braces_and_empties() {
        let f = split(r#"1,a,"x,y",,{p,q},"he said ""hi""","""#).unwrap();
        assert_eq!(f, ["1", "a", "x,y", "", "{p,q}", "he said \"hi\"", ""]);
        assert!(matches!(f[2], Cow::Borrowed(_)), "no copy when not needed");
        assert_eq!(split("a,b,").unwrap(), ["a", "b", ""]);
        assert!(split("a,\"open").is_err());
        // Long unquoted fields exercise the eight-byte skip on either side of each delimiter.
        let long = "abcdefghijklmnopq,rstuvwxyz0123456789,{a,b,c}defghijklmnop,zzzzzzzz";
        assert_eq!(split(long).unwrap(), ["abcdefghijklmnopq", "rstuvwxyz0123456789", "{a,b,c}defghijklmnop", "zzzzzzzz"]);
    }

    /// The byte-at-a-time splitter this one replaced: the block-at-a-time scan must agree with it
    /// on every row, errors included.
    fn reference(row: &str) -> Result<Vec<String>, String> {
        let b = row.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            if i < b.len() && b[i] == b'"' {
                let mut j = i + 1;
                let mut s = String::new();
                loop {
                    match b.get(j) {
                        None => return Err(format!("unterminated quoted field starting at byte {i}")),
                        Some(b'"') if b.get(j + 1) == Some(&b'"') => {
                            s.push('"');
                            j += 2;
                        }
                        Some(b'"') => break,
                        Some(_) => {
                            let ch = row[j..].chars().next().unwrap();
                            s.push(ch);
                            j += ch.len_utf8();
                        }
                    }
                }
                out.push(s);
                j += 1;
                match b.get(j) {
                    None => break,
                    Some(b',') => i = j + 1,
                    Some(_) => return Err(format!("unexpected character after a closing quote at byte {j}")),
                }
            } else {
                let mut j = i;
                let mut depth = 0usize;
                while j < b.len() {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => depth = depth.saturating_sub(1),
                        b',' if depth == 0 => break,
                        _ => {}
                    }
                    j += 1;
                }
                out.push(row[i..j].to_string());
                if j >= b.len() {
                    break;
                }
                i = j + 1;
            }
        }
        Ok(out)
    }

    #[test]
    fn agrees_with_the_byte_at_a_time_splitter() {
        // Rows built from the bytes that matter (and their neighbours `-` = `,` ^ 1 and
        // `z` = `{` ^ 1), up to 40 pieces (200 bytes) long, so each lands on both sides of a
        // 64-byte block edge and in the padded last block.
        const PIECES: &[&str] = &[",", ",", ",", "{", "}", "\"", "\"\"", "-", "z", "a", "é", "0x40", "ab,cd"];
        let mut next = logfetch_common::text::xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200_000 {
            let mut row = String::new();
            let len = next() % 40;
            for _ in 0..len {
                row.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            let got = split(&row).map(|v| v.into_iter().map(|c| c.into_owned()).collect::<Vec<_>>());
            assert_eq!(got, reference(&row), "row {row:?}");
        }
    }
}
