//! The FRS filter grammar, parsed once and evaluated per face during search:
//! `f:v`, `f:[a TO b]` (inclusive), `f:{a TO b}` (exclusive), `*`, `&&`, `||`, `!`, parentheses.
//! Values may be bare words or "double quoted". Errors give the 1-based column.
//!
//! Untrusted text reaches this parser through the API, so its size is bounded before any work:
//! at most [`MAX_FILTER_BYTES`] bytes and [`MAX_DEPTH`] levels of parentheses and `!`. Chains of
//! `&&` / `||` are kept flat (one node with all operands), so neither evaluation nor dropping the
//! tree recurses deeper than the nesting the limit allows.

use serde_json::Value;

use super::error::SetError;
use super::fields::{FieldType, Schema};

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All,
    Eq(String, Value),
    Range {
        field: String,
        low: Value,
        high: Value,
        inclusive: bool,
    },
    Not(Box<Filter>),
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// The longest filter accepted (FRS documents none; real filters are a few hundred bytes).
pub const MAX_FILTER_BYTES: usize = 4096;
/// The deepest nesting of parentheses and `!` accepted.
pub const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    schema: &'a Schema,
    depth: usize,
}

fn err(column: usize, message: impl Into<String>) -> SetError {
    SetError::FilterSyntax {
        column,
        message: message.into(),
    }
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(t.as_bytes()) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    fn col(&self) -> usize {
        self.pos + 1
    }

    fn or(&mut self) -> Result<Filter, SetError> {
        let mut terms = vec![self.and()?];
        while self.eat("||") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Filter, SetError> {
        let mut terms = vec![self.unary()?];
        while self.eat("&&") {
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::And(terms)
        })
    }

    /// Enters one level of `(` or `!`, refusing past [`MAX_DEPTH`].
    fn deeper(&mut self) -> Result<(), SetError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                self.col(),
                format!("nested deeper than {MAX_DEPTH} levels of parentheses and '!'"),
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Filter, SetError> {
        if self.eat("!") {
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat("(") {
            self.deeper()?;
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(err(self.col(), "expected ')'"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        if self.eat("*") {
            return Ok(Filter::All);
        }
        self.term()
    }

    fn word(&mut self) -> Result<(String, usize), SetError> {
        self.ws();
        let start = self.pos;
        if self.pos < self.s.len() && self.s[self.pos] == b'"' {
            self.pos += 1;
            let mut out = vec![];
            while self.pos < self.s.len() && self.s[self.pos] != b'"' {
                if self.s[self.pos] == b'\\' && self.pos + 1 < self.s.len() {
                    self.pos += 1;
                }
                out.push(self.s[self.pos]);
                self.pos += 1;
            }
            if self.pos >= self.s.len() {
                return Err(err(start + 1, "unterminated string"));
            }
            self.pos += 1;
            return Ok((String::from_utf8_lossy(&out).into_owned(), start));
        }
        while self.pos < self.s.len() {
            let c = self.s[self.pos];
            if c.is_ascii_whitespace() || b":()[]{}!&|\"".contains(&c) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(err(
                start + 1,
                if start >= self.s.len() {
                    "unexpected end of filter".to_string()
                } else {
                    format!("unexpected '{}'", self.s[start] as char)
                },
            ));
        }
        Ok((
            String::from_utf8_lossy(&self.s[start..self.pos]).into_owned(),
            start,
        ))
    }

    fn value(&self, field: &str, ty: FieldType, raw: &str, at: usize) -> Result<Value, SetError> {
        let bad = || SetError::FieldType {
            field: field.into(),
            expected: ty.name(),
            got: raw.into(),
        };
        let _ = at;
        Ok(match ty {
            FieldType::String => Value::String(raw.into()),
            FieldType::Integer | FieldType::Long => {
                Value::from(raw.parse::<i64>().map_err(|_| bad())?)
            }
            FieldType::Float | FieldType::Double => {
                Value::from(raw.parse::<f64>().map_err(|_| bad())?)
            }
            FieldType::Boolean => Value::Bool(match raw {
                "true" => true,
                "false" => false,
                _ => return Err(bad()),
            }),
        })
    }

    fn term(&mut self) -> Result<Filter, SetError> {
        let (field, at) = self.word()?;
        let ty = *self
            .schema
            .get(&field)
            .ok_or_else(|| SetError::FieldUndefined(field.clone()))?;
        if !self.eat(":") {
            return Err(err(
                self.col(),
                format!("expected ':' after field {field:?}"),
            ));
        }
        let open = if self.eat("[") {
            Some(true)
        } else if self.eat("{") {
            Some(false)
        } else {
            None
        };
        let Some(inclusive) = open else {
            let (raw, vat) = self.word()?;
            return Ok(Filter::Eq(
                field.clone(),
                self.value(&field, ty, &raw, vat)?,
            ));
        };
        let (lo, lat) = self.word()?;
        self.ws();
        let to_at = self.col();
        let (to, _) = self.word()?;
        if to != "TO" {
            return Err(err(to_at, "expected 'TO' in range"));
        }
        let (hi, hat) = self.word()?;
        let close = if inclusive { "]" } else { "}" };
        if !self.eat(close) {
            return Err(err(
                self.col(),
                format!("expected '{close}' to close the range"),
            ));
        }
        let _ = at;
        Ok(Filter::Range {
            low: self.value(&field, ty, &lo, lat)?,
            high: self.value(&field, ty, &hi, hat)?,
            field,
            inclusive,
        })
    }
}

impl Filter {
    pub fn parse(text: &str, schema: &Schema) -> Result<Filter, SetError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(err(
                MAX_FILTER_BYTES + 1,
                format!(
                    "the filter is {} bytes; at most {MAX_FILTER_BYTES} are accepted",
                    text.len()
                ),
            ));
        }
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
            schema,
            depth: 0,
        };
        p.ws();
        if p.pos >= p.s.len() {
            return Err(err(1, "empty filter (use * for all)"));
        }
        let f = p.or()?;
        p.ws();
        if p.pos < p.s.len() {
            return Err(err(p.col(), format!("unexpected '{}'", p.s[p.pos] as char)));
        }
        Ok(f)
    }

    pub fn matches(&self, fields: &serde_json::Map<String, Value>) -> bool {
        match self {
            Filter::All => true,
            Filter::Eq(f, v) => fields.get(f).is_some_and(|x| eq(x, v)),
            Filter::Range {
                field,
                low,
                high,
                inclusive,
            } => fields.get(field).is_some_and(|x| {
                let (a, b) = (cmp(x, low), cmp(x, high));
                match (a, b) {
                    (Some(a), Some(b)) if *inclusive => a.is_ge() && b.is_le(),
                    (Some(a), Some(b)) => a.is_gt() && b.is_lt(),
                    _ => false,
                }
            }),
            Filter::Not(f) => !f.matches(fields),
            Filter::And(all) => all.iter().all(|f| f.matches(fields)),
            Filter::Or(any) => any.iter().any(|f| f.matches(fields)),
        }
    }
}

fn eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::ErrorKind as K;
    use serde_json::json;

    fn schema() -> Schema {
        [
            ("name", FieldType::String),
            ("age", FieldType::Integer),
            ("score", FieldType::Double),
            ("vip", FieldType::Boolean),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn grammar_table() {
        let face = json!({"name": "Ann Lee", "age": 30, "score": 0.5, "vip": true});
        let f = face.as_object().unwrap();
        let cases: &[(&str, bool)] = &[
            ("*", true),
            ("age:30", true),
            ("age:31", false),
            ("name:\"Ann Lee\"", true),
            ("age:[30 TO 40]", true),
            ("age:{30 TO 40}", false),
            ("age:{29 TO 31}", true),
            ("score:[0.4 TO 0.6] && vip:true", true),
            ("vip:false || age:30", true),
            ("!vip:true", false),
            ("!(age:30 && vip:false)", true),
            ("(age:1 || age:2) && *", false),
            ("  age : 30  ", true),
            ("name:[A TO B]", true),
        ];
        for (text, want) in cases {
            let parsed = Filter::parse(text, &schema()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.matches(f), *want, "{text}");
        }
    }

    #[test]
    fn malformed_filters_name_the_column() {
        let cases: &[(&str, K)] = &[
            ("", K::FilterSyntax),
            ("age:", K::FilterSyntax),
            ("age 30", K::FilterSyntax),
            ("age:[30 40]", K::FilterSyntax),
            ("age:[30 TO 40", K::FilterSyntax),
            ("(age:30", K::FilterSyntax),
            ("age:30 &&", K::FilterSyntax),
            ("age:30 && && vip:true", K::FilterSyntax),
            ("name:\"open", K::FilterSyntax),
            ("age:30)", K::FilterSyntax),
            ("height:3", K::FieldUndefined),
            ("age:thirty", K::FieldType),
            ("vip:yes", K::FieldType),
        ];
        for (text, code) in cases {
            let e = Filter::parse(text, &schema())
                .err()
                .unwrap_or_else(|| panic!("{text:?} should fail"));
            assert_eq!(e.kind(), *code, "{text:?}: {e}");
        }
        let e = Filter::parse("age:[30 40]", &schema()).unwrap_err();
        assert!(e.to_string().contains("column 9"), "{e}");
    }

    /// Hostile shapes that overflowed the stack (and killed the daemon) before the limits: each is
    /// refused (a filter syntax error) or, when within the limits, parsed and evaluated without recursion
    /// past [`MAX_DEPTH`].
    #[test]
    fn hostile_filters_are_bounded() {
        let face = json!({"age": 30});
        let f = face.as_object().unwrap();
        let refused = [
            format!("{}age:30{}", "(".repeat(2000), ")".repeat(2000)),
            format!("{}age:30", "!".repeat(10_000)),
            vec!["*"; 20_000].join(" && "),
            vec!["age:30"; 20_000].join(" || "),
            format!(
                "{}age:30{}",
                "(".repeat(MAX_DEPTH + 1),
                ")".repeat(MAX_DEPTH + 1)
            ),
            format!("{}age:30", "!".repeat(MAX_DEPTH + 1)),
        ];
        for text in &refused {
            let e = Filter::parse(text, &schema()).expect_err("refused");
            assert_eq!(e.kind(), K::FilterSyntax, "{e}");
            assert!(
                e.to_string().contains("at most") || e.to_string().contains("deeper"),
                "{e}"
            );
        }
        // Right at the limits: accepted and evaluated.
        let deep = format!("{}age:30{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(Filter::parse(&deep, &schema()).unwrap().matches(f));
        let nots = format!("{}age:30", "!".repeat(MAX_DEPTH));
        assert!(
            Filter::parse(&nots, &schema()).unwrap().matches(f),
            "an even number of ! is a no-op"
        );
        let flat = vec!["*"; 800].join(" && ");
        assert!(flat.len() <= MAX_FILTER_BYTES);
        let parsed = Filter::parse(&flat, &schema()).unwrap();
        assert!(
            matches!(&parsed, Filter::And(v) if v.len() == 800),
            "a chain is one flat node"
        );
        assert!(parsed.matches(f));
    }
}
