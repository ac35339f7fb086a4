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

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_and_delimiters() {
        assert_eq!(super::split_delimited(r#"a,"b,c","d""e",,f"#, ','), vec!["a", "b,c", "d\"e", "", "f"]);
        assert_eq!(super::split_delimited("x\ty", '\t'), vec!["x", "y"]);
    }
}
