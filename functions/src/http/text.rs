//! Free text from a request (a reason, a search, the user agent), checked
//! before anything stores, searches or logs it.
//!
//! - NUL is refused everywhere: PostgreSQL cannot hold it in `text` (22021).
//! - The other control characters (C0, DEL, C1) are refused too, except a
//!   tab or a line break in text that may span lines (a reason): they are
//!   invisible in the admin screens, and in a log line they forge line
//!   breaks or terminal escapes. Nothing is stored escaped or silently
//!   stripped, so what is audited is what was sent.
//! - Text made only of whitespace and invisible formatting characters
//!   (zero-width spaces, joiners, direction marks, the BOM) is blank, and
//!   such characters at either end are trimmed; a length minimum counts
//!   only the characters that show.

/// Whether a text may hold tabs and line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// The first character `raw` may not hold, with its position (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden {
    pub ch: char,
    pub position: usize,
}

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.ch == '\0' {
            "a NUL character"
        } else {
            "a control character"
        };
        write!(
            f,
            "{name} (U+{:04X}) at character {}",
            u32::from(self.ch),
            self.position
        )
    }
}

/// `raw`, trimmed of whitespace and invisible characters at either end, or
/// the first character it may not hold.
pub fn clean(raw: &str, lines: Lines) -> Result<&str, Forbidden> {
    let allowed = |c: char| match lines {
        Lines::Many => matches!(c, '\t' | '\n' | '\r'),
        Lines::One => false,
    };
    if let Some((i, ch)) = raw
        .chars()
        .enumerate()
        .find(|&(_, c)| c.is_control() && !allowed(c))
    {
        return Err(Forbidden {
            ch,
            position: i + 1,
        });
    }
    Ok(raw.trim_matches(|c: char| c.is_whitespace() || invisible(c)))
}

/// The characters of `text` that show: neither whitespace nor invisible.
pub fn visible_chars(text: &str) -> usize {
    text.chars()
        .filter(|&c| !c.is_whitespace() && !invisible(c))
        .count()
}

/// Formatting characters that render as nothing (Unicode's
/// Default_Ignorable_Code_Point property, its Basic Multilingual Plane part):
/// soft hyphen, combining grapheme joiner, Hangul fillers, Mongolian
/// variation selectors, zero-width space/joiners, direction marks and
/// embeddings, word joiner and invisible operators, variation selectors,
/// and the BOM. `openapi.yaml`'s purge reason pattern lists the same set;
/// the plane-14 tags are left out of both, as JSON Schema's regex dialects
/// disagree on writing them.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'..='\u{1160}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_control_characters_are_refused_with_their_place() {
        let nul = clean("ok\0", Lines::Many).unwrap_err();
        assert_eq!((nul.ch, nul.position), ('\0', 3));
        assert_eq!(nul.to_string(), "a NUL character (U+0000) at character 3");
        for c in ['\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            let text = format!("a{c}b");
            assert_eq!(clean(&text, Lines::Many).unwrap_err().ch, c);
            assert_eq!(clean(&text, Lines::One).unwrap_err().ch, c);
        }
    }

    #[test]
    fn tabs_and_line_breaks_only_where_text_spans_lines() {
        let text = "line one\r\n\tline two";
        assert_eq!(clean(text, Lines::Many), Ok(text));
        assert_eq!(clean(text, Lines::One).unwrap_err().ch, '\r');
        assert_eq!(clean("a\tb", Lines::One).unwrap_err().position, 2);
    }

    #[test]
    fn invisible_ends_are_trimmed_and_only_visible_characters_count() {
        assert_eq!(
            clean("\u{feff} \u{200b}spam\u{200d}\n", Lines::Many),
            Ok("spam")
        );
        assert_eq!(clean("\u{200b}\u{2060} \u{3164}", Lines::One), Ok(""));
        assert_eq!(visible_chars("a\u{200b}b c\u{202e}"), 3);
        assert_eq!(visible_chars("Zoë, 東京"), 6);
    }
}
