//! Type literals and attributes in brackets (`[int]`, `[string[]]`, `[Parameter(Mandatory)]`),
//! with their generic arguments and named/positional attribute arguments.

use super::*;

impl Parser<'_> {
    /// `[Name]`, `[Name[]]`, `[Ns.List[string]]` or `[Name(args)]`, cursor at `[`.
    pub(super) fn attribute_or_type(&mut self) -> PResult<AttributeOrType> {
        let open = self.c.pos();
        self.c.bump();
        self.skip_spaces();
        let name = self.type_name_inner()?;
        self.skip_spaces();
        if self.c.peek() == Some('(') {
            let (positional, named) = self.attribute_arguments()?;
            self.skip_spaces();
            if !self.c.eat(']') {
                return Err(self.c.error("missing closing ']' of the attribute"));
            }
            return Ok(AttributeOrType::Attribute(Attribute {
                name,
                positional,
                named,
                span: self.c.span_from(open),
            }));
        }
        if !self.c.eat(']') {
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing ']' of the type name"));
            }
            return Err(self.c.error(format!(
                "unexpected {} in the type name",
                self.c.describe_here()
            )));
        }
        let mut t = name;
        t.span = self.c.span_from(open);
        Ok(AttributeOrType::Type(t))
    }

    /// `[T]` where only a type is allowed (catch, trap).
    pub(super) fn type_in_brackets(&mut self) -> PResult<TypeName> {
        match self.attribute_or_type()? {
            AttributeOrType::Type(t) => Ok(t),
            AttributeOrType::Attribute(a) => Err(ParseError::new(
                "expected a type name, found an attribute",
                a.span,
            )),
        }
    }

    pub(super) fn skip_spaces(&mut self) {
        while self.c.peek().is_some_and(is_whitespace) {
            self.c.bump();
        }
    }

    /// A type name inside brackets: dotted name, generic arguments, array suffixes.
    pub(super) fn type_name_inner(&mut self) -> PResult<TypeName> {
        self.nest(|p| {
            let start = p.c.pos();
            while p
                .c
                .peek()
                .is_some_and(|c| is_identifier_follow(c) || matches!(c, '.' | '`' | '+'))
            {
                p.c.bump();
            }
            let name = p.c.source()[start..p.c.pos()].to_string();
            if name.is_empty() || name.starts_with('.') || name.ends_with('.') {
                return Err(p
                    .c
                    .error(format!("missing type name; found {}", p.c.describe_here())));
            }
            let mut generic_args = Vec::new();
            let mut array_ranks = Vec::new();
            loop {
                if p.c.peek() != Some('[') {
                    break;
                }
                // `[]`/`[,]` array suffix, or generic arguments.
                let save = p.c.pos();
                p.c.bump();
                p.skip_spaces();
                let mut rank = 1;
                while p.c.eat(',') {
                    rank += 1;
                    p.skip_spaces();
                }
                if p.c.eat(']') {
                    array_ranks.push(rank);
                    continue;
                }
                p.c.reset(save);
                if !generic_args.is_empty() || !array_ranks.is_empty() {
                    return Err(p.c.error("unexpected '[' in the type name"));
                }
                p.c.bump();
                loop {
                    p.skip_spaces();
                    let arg = if p.c.peek() == Some('[') {
                        let open = p.c.pos();
                        p.c.bump();
                        p.skip_spaces();
                        let t = p.type_name_inner()?;
                        p.skip_spaces();
                        if !p.c.eat(']') {
                            return Err(p
                                .c
                                .error_at(open, "missing closing ']' of a generic type argument"));
                        }
                        t
                    } else {
                        p.type_name_inner()?
                    };
                    generic_args.push(arg);
                    p.skip_spaces();
                    if p.c.eat(',') {
                        continue;
                    }
                    if p.c.eat(']') {
                        break;
                    }
                    return Err(p.c.error(format!(
                        "missing ']' after the generic type arguments; found {}",
                        p.c.describe_here()
                    )));
                }
            }
            Ok(TypeName {
                name,
                generic_args,
                array_ranks,
                span: p.c.span_from(start),
            })
        })
    }

    /// `(positional, Name = value, Flag)` of an attribute, cursor at `(`.
    #[allow(clippy::type_complexity)]
    pub(super) fn attribute_arguments(
        &mut self,
    ) -> PResult<(Vec<Expr>, Vec<(String, Option<Expr>)>)> {
        let open = self.c.pos();
        self.c.bump();
        let mut positional = Vec::new();
        let mut named = Vec::new();
        self.ws_nl()?;
        if self.c.eat(')') {
            return Ok((positional, named));
        }
        loop {
            self.ws_nl()?;
            if let Some((word, len)) = self.peek_word_simple() {
                let mut probe = self.c.clone();
                probe.reset(self.c.pos() + len);
                let _ = probe.skip_trivia(true);
                let next = probe.peek();
                if next == Some('=') || next == Some(',') || next == Some(')') {
                    self.c.reset(self.c.pos() + len);
                    self.ws_nl()?;
                    if self.c.eat('=') {
                        self.ws_nl()?;
                        let value = self.nest(|p| p.binary(0, false))?;
                        named.push((word, Some(value)));
                    } else {
                        named.push((word, None));
                    }
                } else {
                    positional.push(self.nest(|p| p.binary(0, false))?);
                }
            } else {
                positional.push(self.nest(|p| p.binary(0, false))?);
            }
            self.ws_nl()?;
            if self.c.eat(',') {
                continue;
            }
            if self.c.eat(')') {
                return Ok((positional, named));
            }
            if self.c.at_end() {
                return Err(self
                    .c
                    .error_at(open, "missing closing ')' of the attribute arguments"));
            }
            return Err(self.c.error(format!(
                "missing ')' in the attribute arguments; found {}",
                self.c.describe_here()
            )));
        }
    }

    /// An identifier at the cursor (any following character), as written.
    pub(super) fn peek_word_simple(&self) -> Option<(String, usize)> {
        let rest = self.c.rest();
        let first = rest.chars().next()?;
        if !is_identifier_start(first) {
            return None;
        }
        let len = rest
            .char_indices()
            .find(|(_, c)| !is_identifier_follow(*c))
            .map_or(rest.len(), |(i, _)| i);
        Some((rest[..len].to_string(), len))
    }
}
