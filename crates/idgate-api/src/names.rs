//! Name rules and the quoting used in error messages.

use std::fmt::Write as _;

use crate::MAX_NAME_LEN;

/// Whether `name` matches `(?i)^[a-z0-9](-?[a-z0-9])*$` and has at most 64 characters: ASCII
/// letters and digits, with single hyphens between them.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return false;
    }
    let mut previous_was_hyphen = true; // a leading hyphen is refused like a doubled one
    for &b in bytes {
        if b == b'-' {
            if previous_was_hyphen {
                return false;
            }
            previous_was_hyphen = true;
        } else if b.is_ascii_alphanumeric() {
            previous_was_hyphen = false;
        } else {
            return false;
        }
    }
    !previous_was_hyphen
}

/// Quotes `s` as Go's `%q` does for ordinary strings: in double quotes, with `"` and `\`
/// backslash-escaped and control characters written as escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                if (c as u32) <= 0xffff {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "main", "dev-1", "A-b-C", "0", &"x".repeat(64)] {
            assert!(valid_name(ok), "{ok:?} should be valid");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a b",
            "é",
            "a.b",
            &"x".repeat(65),
        ] {
            assert!(!valid_name(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("i-123"), r#""i-123""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\nb\tc\x00\x7f"), r#""a\nb\tc\x00\x7f""#);
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }
}
