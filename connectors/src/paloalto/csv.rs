//! PAN-OS CSV rows: comma-separated, with double-quoted fields that may contain commas (and `""`
//! for a quote) and `{...}` braced values (Link Switches) that contain unquoted commas.

use std::borrow::Cow;

/// Splits one row; borrowed unless a field needs unquoting.
pub fn split(row: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let b = row.as_bytes();
    let mut out = Vec::with_capacity(128);
    let mut i = 0;
    loop {
        if i < b.len() && b[i] == b'"' {
            // Quoted field.
            let mut j = i + 1;
            let mut owned: Option<String> = None;
            loop {
                match b.get(j) {
                    None => return Err(format!("unterminated quoted field starting at byte {i}")),
                    Some(b'"') if b.get(j + 1) == Some(&b'"') => {
                        let s = owned.get_or_insert_with(|| row[i + 1..j].to_string());
                        s.push('"');
                        j += 2;
                        continue;
                    }
                    Some(b'"') => break,
                    Some(_) => {
                        if let Some(s) = owned.as_mut() {
                            let ch = row[j..].chars().next().unwrap_or('\0');
                            s.push(ch);
                            j += ch.len_utf8();
                        } else {
                            j += 1;
                        }
                    }
                }
            }
            out.push(match owned {
                Some(s) => Cow::Owned(s),
                None => Cow::Borrowed(&row[i + 1..j]),
            });
            j += 1; // closing quote
            match b.get(j) {
                None => break,
                Some(b',') => i = j + 1,
                Some(_) => return Err(format!("unexpected character after a closing quote at byte {j}")),
            }
        } else {
            // Skip eight bytes at a time while they hold neither `,` nor `{` (the common case).
            let mut j = i;
            while j + 8 <= b.len() && !has_comma_or_brace(&b[j..j + 8]) {
                j += 8;
            }
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
            out.push(Cow::Borrowed(&row[i..j]));
            if j >= b.len() {
                break;
            }
            i = j + 1;
        }
    }
    Ok(out)
}

/// Whether an 8-byte chunk contains `,` or `{`.
#[inline]
fn has_comma_or_brace(c: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    (zero(x ^ (LO * b',' as u64)) | zero(x ^ (LO * b'{' as u64))) != 0
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
}
