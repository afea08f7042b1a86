//! Impartner `filter=` expressions: `(Updated > '2026-01-01T00:00:00')`,
//! `Partner_Tier__cf eq 'Premier' and Account_Status__cf ne 'Inactive'`.
//!
//! Grammar (the where clauses of docs/source-contract.md — `>`, `=`, `!=`,
//! `and`, `or`, parentheses — and their OData-like neighbourhood, accepted
//! so clients are not surprised):
//! ```text
//! expr    := conj ("or" conj)*
//! conj    := unary ("and" unary)*
//! unary   := "(" expr ")" | field op literal
//! op      := eq | ne | gt | ge | lt | le | = | != | > | >= | < | <=
//! literal := 'text' ('' escapes ') | number | true | false | null
//! ```
//! Keywords are case-insensitive, field names are not (unknown field → the
//! request fails with `success: false`). Semantics: when both sides read as
//! date-times they compare as instants (a literal without offset is UTC);
//! numbers compare numerically; `eq`/`ne` on text are exact and
//! case-sensitive (OData); a missing field is `null`, which only `eq null`
//! matches and which never satisfies `>`/`<`.

use std::cmp::Ordering;

use serde_json::Value;

use crate::datagen::{dates, PrmRecord};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(String, Op, Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Ident(String),
    Op(Op),
    Lit(Value),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Lit(Value::String(text)));
            }
            '>' | '<' | '=' | '!' => {
                let two = cs.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('>', true) => Op::Ge,
                    ('>', false) => Op::Gt,
                    ('<', true) => Op::Le,
                    ('<', false) => Op::Lt,
                    ('=', _) => Op::Eq,
                    ('!', true) => Op::Ne,
                    _ => return Err(format!("unexpected '{c}'")),
                };
                let double_eq = c == '=' && two;
                i += if two || double_eq { 2 } else { 1 };
                out.push(Tok::Op(op));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < cs.len() && (cs[i].is_ascii_digit() || cs[i] == '.') {
                    i += 1;
                }
                let text: String = cs[start..i].iter().collect();
                let v = if let Ok(n) = text.parse::<i64>() {
                    Value::from(n)
                } else if let Ok(f) = text.parse::<f64>() {
                    Value::from(f)
                } else {
                    return Err(format!("bad number {text}"));
                };
                out.push(Tok::Lit(v));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '.') {
                    i += 1;
                }
                let word: String = cs[start..i].iter().collect();
                let tok = match word.to_ascii_lowercase().as_str() {
                    "eq" => Tok::Op(Op::Eq),
                    "ne" => Tok::Op(Op::Ne),
                    "gt" => Tok::Op(Op::Gt),
                    "ge" => Tok::Op(Op::Ge),
                    "lt" => Tok::Op(Op::Lt),
                    "le" => Tok::Op(Op::Le),
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "null" => Tok::Lit(Value::Null),
                    _ => Tok::Ident(word),
                };
                out.push(tok);
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.conj()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.conj()?));
        }
        Ok(left)
    }

    fn conj(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.expr()?;
                match self.toks.get(self.pos) {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Tok::Ident(field)) => {
                self.pos += 1;
                let op = match self.toks.get(self.pos) {
                    Some(Tok::Op(op)) => *op,
                    _ => return Err(format!("expected an operator after {field}")),
                };
                self.pos += 1;
                let lit = match self.toks.get(self.pos) {
                    Some(Tok::Lit(v)) => v.clone(),
                    _ => return Err(format!("expected a value after {field}")),
                };
                self.pos += 1;
                Ok(Expr::Cmp(field, op, lit))
            }
            Some(t) => Err(format!("unexpected token {t:?}")),
            None => Err("unexpected end of filter".into()),
        }
    }
}

/// Parse a filter; `known` says whether a field name exists on the object.
pub(crate) fn parse(s: &str, known: impl Fn(&str) -> bool) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected trailing input in filter: {s}"));
    }
    check_fields(&e, &known)?;
    Ok(e)
}

fn check_fields(e: &Expr, known: &impl Fn(&str) -> bool) -> Result<(), String> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_fields(a, known)?;
            check_fields(b, known)
        }
        Expr::Cmp(f, _, _) if !known(f) => Err(format!("Invalid field '{f}' in filter")),
        Expr::Cmp(..) => Ok(()),
    }
}

pub(crate) fn matches(e: &Expr, rec: &PrmRecord) -> bool {
    match e {
        Expr::And(a, b) => matches(a, rec) && matches(b, rec),
        Expr::Or(a, b) => matches(a, rec) || matches(b, rec),
        Expr::Cmp(field, op, lit) => {
            let v = rec.get(field).unwrap_or(&Value::Null);
            compare(v, *op, lit)
        }
    }
}

fn compare(v: &Value, op: Op, lit: &Value) -> bool {
    if lit.is_null() || v.is_null() {
        let both = lit.is_null() && v.is_null();
        return match op {
            Op::Eq => both,
            Op::Ne => !both,
            _ => false,
        };
    }
    let ord = order(v, lit);
    match op {
        Op::Eq => ord == Some(Ordering::Equal),
        Op::Ne => ord != Some(Ordering::Equal),
        Op::Gt => ord == Some(Ordering::Greater),
        Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => ord == Some(Ordering::Less),
        Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    }
}

fn order(v: &Value, lit: &Value) -> Option<Ordering> {
    match (v, lit) {
        (Value::String(a), Value::String(b)) => {
            if let (Some(x), Some(y)) = (looks_like_time(a), looks_like_time(b)) {
                return Some(x.cmp(&y));
            }
            Some(a.as_str().cmp(b.as_str()))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        // `Id eq '100001'`: a quoted number compares as a number.
        (Value::Number(a), Value::String(b)) => a.as_f64()?.partial_cmp(&b.parse::<f64>().ok()?),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::String(b)) => Some(a.to_string().as_str().cmp(&*b.to_lowercase())),
        _ => None,
    }
}

fn looks_like_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    // Cheap guard: only YYYY-MM-DD... strings are tried as dates.
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[0].is_ascii_digit() {
        dates::parse_any(s)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> PrmRecord {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_and_evaluates() {
        let any = |_: &str| true;
        let r =
            rec(json!({"Updated": "2026-02-01T10:00:00Z", "Tier": "Premier", "Id": 5, "On": true}));
        let t = |s: &str| matches(&parse(s, any).unwrap(), &r);
        assert!(t("(Updated > '2026-01-01T00:00:00')"));
        assert!(!t("(Updated > '2026-02-01T10:00:00Z')"));
        assert!(t("Updated >= '2026-02-01T12:00:00+02:00'"));
        assert!(t("(Updated > '2026-01-01T00:00:00') and Tier eq 'Premier'"));
        assert!(!t("Tier eq 'premier'"));
        assert!(t("Tier ne 'Pending' AND Id eq 5"));
        assert!(t("Id eq '5'"));
        assert!(t("Missing eq null"));
        assert!(!t("Missing > 'a'"));
        assert!(t("On eq true or Id eq 7"));
        assert!(t("Name eq 'O''Brien' or Id = 5"));
    }

    #[test]
    fn rejects_garbage_and_unknown_fields() {
        assert!(parse("(Updated > ", |_| true).is_err());
        assert!(parse("Updated >> 'x'", |_| true).is_err());
        assert!(parse("Foo eq 1", |f| f != "Foo").is_err());
        assert!(parse("Tier eq 'x' Tier", |_| true).is_err());
    }
}
