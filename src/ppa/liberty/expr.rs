//! Boolean functions in Liberty syntax, parsed so they can be evaluated and rendered as Verilog.

/// A Boolean function in Liberty syntax (`!A`, `A'`, `A&B`, `A*B`, `A B`, `A|B`, `A+B`, `A^B`,
/// parentheses, 0/1), parsed so it can be rendered as Verilog.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(bool),
    Var(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Xor(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn parse(s: &str) -> std::result::Result<Expr, String> {
        let toks: Vec<char> = s.chars().collect();
        let mut p = ExprParser { t: toks, i: 0 };
        let e = p.or()?;
        p.ws();
        if p.i != p.t.len() {
            return Err(format!("unexpected `{}` in function \"{s}\"", p.t[p.i]));
        }
        Ok(e)
    }

    /// Verilog expression; `rename` maps Liberty pin names to Verilog identifiers.
    pub fn verilog(&self, rename: &dyn Fn(&str) -> String) -> String {
        match self {
            Expr::Const(b) => (if *b { "1'b1" } else { "1'b0" }).into(),
            Expr::Var(v) => rename(v),
            Expr::Not(a) => format!("~({})", a.verilog(rename)),
            Expr::And(a, b) => format!("({} & {})", a.verilog(rename), b.verilog(rename)),
            Expr::Or(a, b) => format!("({} | {})", a.verilog(rename), b.verilog(rename)),
            Expr::Xor(a, b) => format!("({} ^ {})", a.verilog(rename), b.verilog(rename)),
        }
    }

    pub fn eval(&self, v: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Var(n) => v(n),
            Expr::Not(a) => !a.eval(v),
            Expr::And(a, b) => a.eval(v) && b.eval(v),
            Expr::Or(a, b) => a.eval(v) || b.eval(v),
            Expr::Xor(a, b) => a.eval(v) ^ b.eval(v),
        }
    }
}

struct ExprParser {
    t: Vec<char>,
    i: usize,
}

impl ExprParser {
    fn ws(&mut self) {
        while self.i < self.t.len() && self.t[self.i].is_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.ws();
        self.t.get(self.i).copied()
    }
    fn or(&mut self) -> std::result::Result<Expr, String> {
        let mut e = self.xor()?;
        while matches!(self.peek(), Some('|') | Some('+')) {
            self.i += 1;
            e = Expr::Or(Box::new(e), Box::new(self.xor()?));
        }
        Ok(e)
    }
    fn xor(&mut self) -> std::result::Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some('^') {
            self.i += 1;
            e = Expr::Xor(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> std::result::Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            match self.peek() {
                Some('&') | Some('*') => {
                    self.i += 1;
                    e = Expr::And(Box::new(e), Box::new(self.unary()?));
                }
                // juxtaposition is AND
                Some(c) if c == '(' || c == '!' || c.is_alphanumeric() || c == '_' => {
                    e = Expr::And(Box::new(e), Box::new(self.unary()?));
                }
                _ => return Ok(e),
            }
        }
    }
    fn unary(&mut self) -> std::result::Result<Expr, String> {
        let mut e = match self.peek() {
            Some('!') => {
                self.i += 1;
                Expr::Not(Box::new(self.unary()?))
            }
            Some('(') => {
                self.i += 1;
                let e = self.or()?;
                if self.peek() != Some(')') {
                    return Err("missing `)`".into());
                }
                self.i += 1;
                e
            }
            Some(c) if c.is_alphanumeric() || c == '_' => {
                let start = self.i;
                while self.i < self.t.len()
                    && (self.t[self.i].is_alphanumeric()
                        || matches!(self.t[self.i], '_' | '[' | ']' | '.'))
                {
                    self.i += 1;
                }
                let w: String = self.t[start..self.i].iter().collect();
                match w.as_str() {
                    "0" => Expr::Const(false),
                    "1" => Expr::Const(true),
                    _ => Expr::Var(w),
                }
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        while self.peek() == Some('\'') {
            self.i += 1;
            e = Expr::Not(Box::new(e));
        }
        Ok(e)
    }
}
