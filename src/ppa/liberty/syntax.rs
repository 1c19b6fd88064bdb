//! The generic Liberty syntax: groups `kind (args) { ... }`, simple attributes `name : value;`
//! and complex ones `name (args);`, each with its line, comments and line continuations.

use crate::error::{Error, Result};
use std::path::Path;

/// A Liberty group: `kind (args) { attributes and groups }`.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub kind: String,
    pub args: Vec<String>,
    /// simple attributes `name : value;` and complex ones `name (args);`, each with its line
    pub simple: Vec<(String, String, u32)>,
    pub complex: Vec<(String, Vec<String>, u32)>,
    pub groups: Vec<Group>,
    pub line: u32,
}

impl Group {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.simple
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, _)| v.as_str())
    }
    pub fn complex(&self, name: &str) -> Option<&[String]> {
        self.complex
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, _)| v.as_slice())
    }
    /// The line of attribute `name` (simple or complex; the group's own line when absent).
    pub fn line_of(&self, name: &str) -> u32 {
        self.simple
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|a| a.2)
            .or_else(|| self.complex.iter().find(|(k, _, _)| k == name).map(|a| a.2))
            .unwrap_or(self.line)
    }
    /// Simple attribute `name` as a number: None when absent, an error naming the file and the
    /// line when it is present but not a number.
    pub fn number(&self, name: &str, file: &Path) -> Result<Option<f64>> {
        let Some(v) = self.attr(name) else {
            return Ok(None);
        };
        let t = v.trim().trim_matches('"').trim();
        t.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| Error::Located {
                file: file.into(),
                line: self.line_of(name),
                message: format!("`{name}` is `{v}`, not a number"),
            })
    }
    pub fn children<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Group> + 'a {
        self.groups.iter().filter(move |g| g.kind == kind)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(src: &str, file: &Path) -> Result<Vec<(Tok, u32)>> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut line = 1u32;
    let mut out = Vec::new();
    let err = |line: u32, m: &str| Error::Located {
        file: file.to_path_buf(),
        line,
        message: m.to_string(),
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' => {
                // line continuation
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    if i + 1 >= b.len() {
                        return Err(err(start, "unterminated /* comment"));
                    }
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    if b[i] == b'*' && b[i + 1] == b'/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = line;
                i += 1;
                let mut s = String::new();
                loop {
                    if i >= b.len() {
                        return Err(err(start, "unterminated string"));
                    }
                    match b[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' if b.get(i + 1) == Some(&b'\n') => {
                            line += 1;
                            i += 2;
                        }
                        b'\\' if b.get(i + 1) == Some(&b'\r') => i += 3,
                        b'\n' => {
                            line += 1;
                            s.push('\n');
                            i += 1;
                        }
                        _ => {
                            let ch = src[i..].chars().next().unwrap_or(' ');
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((Tok::Str(s), start));
            }
            b'(' | b')' | b'{' | b'}' | b':' | b';' | b',' => {
                out.push((Tok::Punct(c as char), line));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !b" \t\r\n(){}:;,\"\\".contains(&b[i]) {
                    i += 1;
                }
                if i == start {
                    return Err(err(line, &format!("unexpected character `{}`", c as char)));
                }
                out.push((Tok::Word(src[start..i].to_string()), line));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(Tok, u32)>,
    pos: usize,
    file: &'a Path,
}

impl Parser<'_> {
    fn err(&self, m: String) -> Error {
        let line = self
            .toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(0, |t| t.1);
        Error::Located {
            file: self.file.to_path_buf(),
            line,
            message: m,
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }
    fn expect(&mut self, c: char) -> Result<()> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => {
                self.pos -= 1;
                Err(self.err(format!("expected `{c}`, found {other:?}")))
            }
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Parses statements until `}` (inside a group) or the end of input.
    fn body(&mut self, g: &mut Group) -> Result<()> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(Tok::Punct('}')) => return Ok(()),
                Some(Tok::Punct(';')) => {
                    self.pos += 1;
                }
                Some(Tok::Word(_)) => self.statement(g)?,
                Some(t) => return Err(self.err(format!("unexpected {t:?}"))),
            }
        }
    }

    fn statement(&mut self, g: &mut Group) -> Result<()> {
        let line = self.toks[self.pos].1;
        let Some(Tok::Word(name)) = self.next() else {
            return Err(self.err("expected a name".into()));
        };
        if self.eat(':') {
            // simple attribute: value tokens up to `;` (or the end of the line's statement)
            let mut parts = Vec::new();
            while let Some(t) = self.peek() {
                match t {
                    Tok::Punct(';') => {
                        self.pos += 1;
                        break;
                    }
                    Tok::Punct('}') => break,
                    Tok::Word(w) | Tok::Str(w) => {
                        // a value without `;` ends where the next statement starts
                        if !parts.is_empty() && self.toks[self.pos].1 != line {
                            break;
                        }
                        parts.push(w.clone());
                        self.pos += 1;
                    }
                    Tok::Punct(p) => {
                        return Err(self.err(format!("unexpected `{p}` in value of `{name}`")))
                    }
                }
            }
            g.simple.push((name, parts.join(" "), line));
            return Ok(());
        }
        self.expect('(')?;
        let mut args = Vec::new();
        let mut cur = String::new();
        loop {
            match self.next() {
                Some(Tok::Punct(')')) => break,
                Some(Tok::Punct(',')) => args.push(std::mem::take(&mut cur)),
                Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(&w);
                }
                Some(Tok::Punct(':')) => cur.push(':'),
                other => {
                    self.pos -= 1;
                    return Err(self.err(format!("unexpected {other:?} in arguments of `{name}`")));
                }
            }
        }
        if !cur.is_empty() || !args.is_empty() {
            args.push(cur);
        }
        if self.eat('{') {
            let mut child = Group {
                kind: name,
                args,
                line,
                ..Default::default()
            };
            self.body(&mut child)?;
            self.expect('}')?;
            g.groups.push(child);
        } else {
            self.eat(';');
            g.complex.push((name, args, line));
        }
        Ok(())
    }
}

/// Parses Liberty text into its top-level groups (normally one `library`).
pub fn parse(src: &str, file: &Path) -> Result<Vec<Group>> {
    let toks = tokenize(src, file)?;
    let mut p = Parser { toks, pos: 0, file };
    let mut root = Group::default();
    p.body(&mut root)?;
    if p.pos < p.toks.len() {
        return Err(p.err("unbalanced `}`".into()));
    }
    Ok(root.groups)
}
