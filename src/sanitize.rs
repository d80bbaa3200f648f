//! Untrusted text (anything a container, a runtime or a file said) made safe to show:
//! as plain text on a terminal, and escaped on top of that for each report format.
//!
//! [`untrusted`] is the edge: control characters (C0, DEL, C1, which carry terminal
//! escape sequences), bidi overrides and other invisible format characters come out
//! as visible escapes (`\x1b`, `\u{202e}`), and the length is bounded with an
//! ellipsis. The result is idempotent: sanitizing twice changes nothing, so a layer
//! may sanitize again without double escaping (a backslash is left as it is for that
//! reason; it can only ever spell an escape, never be one).
//!
//! The format helpers ([`markdown_text`], [`markdown_code`], [`markdown_fenced`],
//! [`html`]) sanitize first, so a reporter is safe even when a raw string reaches it.
//! XML and JSON need no helper beyond [`untrusted`]: quick-junit and serde_json escape
//! their own syntax, and after sanitizing no character is left that XML 1.0 forbids.

/// The longest one-line text shown (verdict details, mechanisms, step names), in
/// characters, ellipsis included.
pub const MAX_LINE_CHARS: usize = 1000;
/// The longest multi-line text shown (a runtime's error with the container's stderr).
pub const MAX_TEXT_CHARS: usize = 8000;

const ELLIPSIS: char = '…';

/// `text` as one safe line: every control character, newlines included, escaped.
pub fn untrusted(text: &str) -> String {
    clean(text, false, MAX_LINE_CHARS)
}

/// `text` as safe lines: like [`untrusted`] but newlines are kept (a `\r` is not:
/// it would let a line overwrite the one before it on a terminal).
pub fn untrusted_lines(text: &str) -> String {
    clean(text, true, MAX_TEXT_CHARS)
}

/// [`untrusted`] with a bound of the caller's choosing, in characters.
pub fn untrusted_bounded(text: &str, max_chars: usize, keep_newlines: bool) -> String {
    clean(text, keep_newlines, max_chars)
}

/// Characters that must not reach a terminal or a document as themselves.
fn is_unsafe(c: char) -> bool {
    match c {
        ' ' | '\\' | '"' | '\'' => false,
        // Bidi controls (U+061C, U+200E/F, U+202A-E, U+2066-9), zero-width and other
        // format characters, line and paragraph separators, and unassigned or private
        // code points are all "not printable" to the standard library's debug
        // escaping; it also flags combining marks, which stack into unreadable text.
        _ => c.escape_debug().next() == Some('\\') || c.is_control(),
    }
}

fn escape(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

fn clean(text: &str, keep_newlines: bool, max_chars: usize) -> String {
    let max_chars = max_chars.max(1);
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut count = 0;
    let mut pieces = text.chars().peekable();
    while let Some(c) = pieces.next() {
        let piece = if c == '\n' && keep_newlines || !is_unsafe(c) {
            c.to_string()
        } else {
            escape(c)
        };
        let len = piece.chars().count();
        // An ellipsis takes the last place when more would follow; an escape is never
        // cut in half.
        let room = if pieces.peek().is_some() {
            max_chars - 1
        } else {
            max_chars
        };
        if count + len > room {
            out.push(ELLIPSIS);
            return out;
        }
        out.push_str(&piece);
        count += len;
    }
    out
}

/// `text` for HTML (and Markdown's inline HTML): sanitized, one line, with the
/// characters HTML reads as syntax turned into entities.
pub fn html(text: &str) -> String {
    let mut out = String::new();
    for c in untrusted(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as literal Markdown text, fit for a table cell or a paragraph: sanitized,
/// one line, HTML characters as entities, and the ASCII punctuation Markdown gives a
/// meaning inline (emphasis, code, links and images, table pipes, strikethrough)
/// escaped with a backslash, which CommonMark and GFM read as "this character
/// itself". What starts a block (`#`, `>`, `-`, `+`, `1.`) is escaped at the start.
pub fn markdown_text(text: &str) -> String {
    let clean = untrusted(text);
    let mut out = String::with_capacity(clean.len());
    let mut at_start = true;
    let mut chars = clean.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '|' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' if at_start => {
                out.push('\\');
                out.push(c);
            }
            '0'..='9' if at_start => {
                out.push(c);
                // `1.` and `1)` open an ordered list.
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    out.push(d);
                }
                if let Some(p) = chars.next_if(|p| matches!(p, '.' | ')')) {
                    out.push('\\');
                    out.push(p);
                }
            }
            c => out.push(c),
        }
        at_start = at_start && c == ' ';
    }
    out
}

/// `text` as a Markdown code span, backticks included: sanitized, one line; the fence
/// is longer than any run of backticks inside, and a pipe is `\|` (GFM splits table
/// cells on pipes before it sees code spans, and shows `\|` there as `|`).
pub fn markdown_code(text: &str) -> String {
    let inner = untrusted(text).replace('|', "\\|");
    let fence = "`".repeat(longest_backtick_run(&inner) + 1);
    // Spaces keep a backtick at either end from joining the fence; CommonMark strips
    // one space on each side.
    if inner.starts_with('`') || inner.ends_with('`') || inner.is_empty() {
        format!("{fence} {inner} {fence}")
    } else {
        format!("{fence}{inner}{fence}")
    }
}

/// `text` as a fenced Markdown code block (its own lines, ending with a newline):
/// sanitized with newlines kept, fenced with more backticks than any run inside.
pub fn markdown_fenced(text: &str) -> String {
    let inner = untrusted_lines(text);
    let inner = inner.trim_end();
    let fence = "`".repeat(longest_backtick_run(inner).max(2) + 1);
    format!("{fence}\n{inner}\n{fence}\n")
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "\x1b]0;pwned\x07\x1b[2J| ![x](http://x) <img src=x> `code` \u{202e}txt.exe\u{2066}\r\n# h";

    fn assert_no_raw_controls(s: &str) {
        for c in s.chars() {
            assert!(
                c == '\n' || (!c.is_control() && !is_unsafe(c)),
                "{c:?} left in {s:?}"
            );
        }
    }

    #[test]
    fn controls_and_bidi_become_visible_escapes() {
        let s = untrusted(HOSTILE);
        assert_no_raw_controls(&s);
        assert!(!s.contains('\n'));
        assert!(s.starts_with("\\x1b]0;pwned\\x07\\x1b[2J"), "{s}");
        assert!(s.contains("\\u{202e}txt.exe\\u{2066}\\r\\n# h"), "{s}");
        for c in [
            '\0', '\x7f', '\u{85}', '\u{9b}', '\u{200b}', '\u{200e}', '\u{2028}', '\u{2029}',
            '\u{feff}', '\u{fffe}', '\u{ffff}', '\u{61c}', '\u{e000}',
        ] {
            let s = untrusted(&format!("a{c}b"));
            assert_no_raw_controls(&s);
            assert!(s.starts_with("a\\") && s.ends_with('b'), "{c:?}: {s}");
        }
        assert_eq!(
            untrusted("plain text, é ü 漢字 ✅"),
            "plain text, é ü 漢字 ✅"
        );
    }

    #[test]
    fn lines_keep_newlines_only() {
        let s = untrusted_lines("one\r\ntwo\x1b[A\nthree");
        assert_eq!(s, "one\\r\ntwo\\x1b[A\nthree");
    }

    #[test]
    fn sanitizing_is_idempotent() {
        for text in [HOSTILE, "a\\x1b", &"x\x1b".repeat(5000)] {
            let once = untrusted(text);
            assert_eq!(untrusted(&once), once);
            let lines = untrusted_lines(text);
            assert_eq!(untrusted_lines(&lines), lines);
        }
    }

    #[test]
    fn length_is_bounded_without_cutting_an_escape() {
        let s = untrusted(&"a".repeat(10_000));
        assert_eq!(s.chars().count(), MAX_LINE_CHARS);
        assert!(s.ends_with(ELLIPSIS));
        let s = untrusted_bounded("ab\x1bcd", 4, false);
        assert_eq!(s, "ab…");
        assert_eq!(untrusted_bounded("abcd", 4, false), "abcd");
        assert_eq!(untrusted_bounded("abcde", 4, false), "abc…");
        assert!(untrusted_lines(&"line\n".repeat(10_000)).chars().count() <= MAX_TEXT_CHARS);
    }

    #[test]
    fn markdown_text_cannot_leave_its_cell() {
        let s = markdown_text(HOSTILE);
        assert_no_raw_controls(&s);
        // Every pipe is escaped, so a table row keeps its column count.
        assert_eq!(s.matches('|').count(), s.matches("\\|").count());
        for raw in ["<img", "![", "](", "`code`", "\n"] {
            assert!(!s.contains(raw), "{raw:?} in {s}");
        }
        assert!(s.contains("&lt;img src=x&gt;"), "{s}");
        assert_eq!(markdown_text("# title #2"), "\\# title \\#2");
        assert!(markdown_text("> quote").starts_with("&gt;"));
        assert_eq!(markdown_text("- a-b"), "\\- a-b");
        assert_eq!(markdown_text("  12. x 3."), "  12\\. x 3.");
        assert_eq!(markdown_text("blocked:EPERM"), "blocked:EPERM");
        // A backslash of the attacker's cannot undo an escape of ours.
        assert_eq!(markdown_text("\\|"), "\\\\\\|");
    }

    #[test]
    fn markdown_code_spans_hold_any_backticks() {
        assert_eq!(markdown_code("spawn.fork"), "`spawn.fork`");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("``x"), "``` ``x ```");
        assert_eq!(markdown_code("a|b"), "`a\\|b`");
        let s = markdown_code(HOSTILE);
        assert_no_raw_controls(&s);
        assert!(!s.contains('\n'));
    }

    #[test]
    fn markdown_fences_outlast_their_content() {
        let s = markdown_fenced("x\n````\n\x1b[2Jy\n");
        assert!(s.starts_with("`````\n"), "{s}");
        assert!(s.ends_with("\n`````\n"), "{s}");
        assert!(s.contains("\\x1b[2Jy"));
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
