//! TCP syslog framing (RFC 6587): octet counting (`LEN SP MSG`) or LF-terminated, detected on
//! the first frame of each connection. Records longer than the limit are truncated to it and
//! flagged, never buffered without bound.

/// How a connection frames its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    OctetCounting,
    LineFeed,
}

/// One message out of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// An incremental decoder: feed it what the socket gives, take complete frames out.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    framing: Option<Framing>,
    buf: Vec<u8>,
    /// LF mode: the current line passed the limit; drop bytes until its end.
    discarding: bool,
    /// Octet mode: bytes of the current oversized frame still to skip.
    skip: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> FrameDecoder {
        FrameDecoder { max: max.max(1), framing: None, buf: Vec::new(), discarding: false, skip: 0 }
    }

    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    fn detect(&mut self) -> Option<Framing> {
        if self.framing.is_none() {
            let digits = self.buf.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits < self.buf.len() {
                self.framing = Some(if digits > 0 && digits <= 9 && self.buf[digits] == b' ' { Framing::OctetCounting } else { Framing::LineFeed });
            }
        }
        self.framing
    }

    /// Adds bytes; returns the frames completed by them.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut data = data;
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
        match self.detect() {
            None => {}
            Some(Framing::LineFeed) => self.lines(&mut out),
            Some(Framing::OctetCounting) => self.counted(&mut out),
        }
        out
    }

    fn lines(&mut self, out: &mut Vec<Frame>) {
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|b| *b == b'\n') {
            let line = &self.buf[start..start + pos];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.discarding {
                self.discarding = false;
            } else if !line.is_empty() {
                let truncated = line.len() > self.max;
                out.push(Frame { bytes: line[..line.len().min(self.max)].to_vec(), truncated });
            }
            start += pos + 1;
        }
        self.buf.drain(..start);
        if !self.discarding && self.buf.len() > self.max {
            // An over-long line: emit its first `max` bytes now, drop the rest up to the LF.
            out.push(Frame { bytes: self.buf[..self.max].to_vec(), truncated: true });
            self.buf.clear();
            self.discarding = true;
        } else if self.discarding {
            self.buf.clear();
        }
    }

    fn counted(&mut self, out: &mut Vec<Frame>) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
            }
            let digits = self.buf.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == self.buf.len() {
                return; // need more
            }
            if digits == 0 || digits > 9 || self.buf[digits] != b' ' {
                // Not a length: the sender switched to LF framing mid-stream; follow it.
                self.framing = Some(Framing::LineFeed);
                self.lines(out);
                return;
            }
            let len: usize = std::str::from_utf8(&self.buf[..digits]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            let body_start = digits + 1;
            if len > self.max {
                // Keep the first `max` bytes once they are here; skip the rest as it arrives.
                if self.buf.len() < body_start + self.max {
                    return;
                }
                out.push(Frame { bytes: self.buf[body_start..body_start + self.max].to_vec(), truncated: true });
                let have = self.buf.len() - body_start;
                let consumed = have.min(len);
                self.buf.drain(..body_start + consumed);
                self.skip = len - consumed;
                continue;
            }
            if self.buf.len() < body_start + len {
                return;
            }
            let msg = &self.buf[body_start..body_start + len];
            let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
            if !msg.is_empty() {
                out.push(Frame { bytes: msg.to_vec(), truncated: false });
            }
            self.buf.drain(..body_start + len);
        }
    }

    /// What is left when the connection closes (an unterminated last line).
    pub fn finish(&mut self) -> Option<Frame> {
        if self.discarding || self.buf.is_empty() || self.framing == Some(Framing::OctetCounting) {
            return None;
        }
        let b = std::mem::take(&mut self.buf);
        let truncated = b.len() > self.max;
        Some(Frame { bytes: b[..b.len().min(self.max)].to_vec(), truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(frames: &[Frame]) -> Vec<String> {
        frames.iter().map(|f| String::from_utf8_lossy(&f.bytes).to_string()).collect()
    }

    #[test]
    fn line_feed_framing_across_reads_and_crlf() {
        let mut d = FrameDecoder::new(100);
        assert!(d.feed(b"<166>first li").is_empty());
        let f = d.feed(b"ne\r\nsecond\n\nthi");
        assert_eq!(texts(&f), ["<166>first line", "second"]);
        assert_eq!(d.framing(), Some(Framing::LineFeed));
        assert_eq!(texts(&[d.finish().unwrap()]), ["thi"]);
    }

    #[test]
    fn octet_counting_across_reads() {
        let mut d = FrameDecoder::new(100);
        let m1 = "<166>Apr 29 2013 12:59:50: %ASA-6-302013: Built";
        let stream = format!("{} {m1}{} {}", m1.len(), 5, "hello");
        let (a, b) = stream.as_bytes().split_at(10);
        assert!(d.feed(a).is_empty());
        assert_eq!(texts(&d.feed(b)), [m1, "hello"]);
        assert_eq!(d.framing(), Some(Framing::OctetCounting));
    }

    #[test]
    fn over_long_messages_are_truncated_in_both_framings() {
        let mut d = FrameDecoder::new(10);
        let f = d.feed(b"0123456789ABCDEF");
        assert_eq!((texts(&f), f[0].truncated), (vec!["0123456789".to_string()], true));
        let f = d.feed(b"GHIJ\nnext\n");
        assert_eq!(texts(&f), ["next"], "the rest of the long line is dropped");
        assert!(!f[0].truncated);

        let mut d = FrameDecoder::new(10);
        let long = "x".repeat(25);
        let f = d.feed(format!("25 {}", &long[..12]).as_bytes());
        assert_eq!((f.len(), f[0].truncated, f[0].bytes.len()), (1, true, 10));
        let f = d.feed(format!("{}3 abc", &long[12..]).as_bytes());
        assert_eq!(texts(&f), ["abc"]);
    }
}
