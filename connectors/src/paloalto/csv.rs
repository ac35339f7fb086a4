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
            out.push(Cow::Borrowed(&row[i..j]));
            if j >= b.len() {
                break;
            }
            i = j + 1;
        }
    }
    Ok(out)
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
    }
}
