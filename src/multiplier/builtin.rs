//! The project's own 8x8 unsigned multipliers: parameterized families, their Verilog
//! generators and independent bit-level Rust models.
//!
//! Every design has two descriptions written separately: `verilog()` (gate-level netlists
//! built with [`super::logic`], or RTL for the families whose structure is arithmetic) and
//! `model()` (plain integer arithmetic in Rust, sharing no code with the generator, except the
//! 4:2 compressor family whose model evaluates the same reduction schedule on booleans). The
//! tests compare the Verilator-characterized Verilog with `model()` on all 65,536 pairs.

use super::logic::{self, Eval, Logic, Net, Netlist};
use std::fmt::Write as _;

/// The family name of the evolved circuits (`autoapprox evolve`).
pub const EVOLVED_FAMILY: &str = "evolved";

/// One built-in design and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Design {
    /// Exact carry-save array multiplier.
    Exact,
    /// Broken-array multiplier: partial products with `i + j < vbl` and rows `j < hbl` omitted.
    Bam { vbl: u32, hbl: u32 },
    /// Lower-part-OR: product columns below `l` are the OR of their partial products.
    Lor { l: u32 },
    /// Partial-product perforation: rows `start .. start + count` (weight bits) omitted.
    Perforation { start: u32, count: u32 },
    /// DRUM: each operand reduced to `k` bits from its leading one, LSB set to 1.
    Drum { k: u32 },
    /// Mitchell logarithmic multiplier with `w` fraction bits of each operand's mantissa.
    Mitchell { w: u32 },
    /// Kulkarni recursive multiplier: 2x2 block (i, j) is the approximate one when `i + j < t`.
    Kulkarni { t: u32 },
    /// Wallace tree with approximate carry-free 4:2 compressors in columns below `cols`.
    Compressor42 { cols: u32 },
    /// Circuit `i` of the evolved family (`mac_verilog/evolved.json`, made by
    /// `autoapprox evolve --config mac_verilog/evolved.toml`).
    Evolved(u8),
}

/// The built-in library, in a stable order (the exact multiplier first).
pub const LIBRARY: &[Design] = &[
    Design::Exact,
    Design::Bam { vbl: 2, hbl: 0 },
    Design::Bam { vbl: 4, hbl: 0 },
    Design::Bam { vbl: 6, hbl: 0 },
    Design::Bam { vbl: 8, hbl: 0 },
    Design::Lor { l: 4 },
    Design::Lor { l: 6 },
    Design::Lor { l: 8 },
    Design::Perforation { start: 0, count: 1 },
    Design::Perforation { start: 0, count: 2 },
    Design::Perforation { start: 1, count: 2 },
    Design::Drum { k: 6 },
    Design::Drum { k: 5 },
    Design::Drum { k: 4 },
    Design::Drum { k: 3 },
    Design::Mitchell { w: 7 },
    Design::Mitchell { w: 4 },
    Design::Mitchell { w: 2 },
    Design::Kulkarni { t: 1 },
    Design::Kulkarni { t: 2 },
    Design::Kulkarni { t: 4 },
    Design::Kulkarni { t: 7 },
    Design::Compressor42 { cols: 6 },
    Design::Compressor42 { cols: 9 },
    Design::Compressor42 { cols: 16 },
    Design::Evolved(0),
    Design::Evolved(1),
    Design::Evolved(2),
    Design::Evolved(3),
    Design::Evolved(4),
    Design::Evolved(5),
    Design::Evolved(6),
    Design::Evolved(7),
    Design::Evolved(8),
    Design::Evolved(9),
    Design::Evolved(10),
    Design::Evolved(11),
];

/// The evolved family: `mac_verilog/evolved.json` (written by `autoapprox evolve`) and the
/// default cell library its netlists are made of, parsed once.
pub struct EvolvedFamily {
    pub gates: crate::evolve::gates::GateSet,
    pub summary: crate::evolve::Summary,
    /// Each circuit's table, computed gate by gate from its netlist (the model).
    tables: Vec<std::sync::OnceLock<Vec<u16>>>,
}

/// The committed evolved family (compiled in).
pub fn evolved_family() -> &'static EvolvedFamily {
    static FAMILY: std::sync::OnceLock<EvolvedFamily> = std::sync::OnceLock::new();
    FAMILY.get_or_init(|| {
        let lib = crate::ppa::liberty::Library::from_str(
            crate::ppa::DEFAULT_LIBERTY,
            std::path::Path::new(crate::ppa::DEFAULT_LIBERTY_NAME),
        )
        .expect("the built-in cell library parses");
        let gates = crate::evolve::gates::GateSet::from_library(&lib, None)
            .expect("the built-in cell library has gates");
        let summary: crate::evolve::Summary =
            serde_json::from_str(include_str!("../../mac_verilog/evolved.json"))
                .expect("mac_verilog/evolved.json is what `autoapprox evolve` writes");
        let tables = summary
            .circuits
            .iter()
            .map(|_| std::sync::OnceLock::new())
            .collect();
        EvolvedFamily {
            gates,
            summary,
            tables,
        }
    })
}

impl EvolvedFamily {
    fn circuit(&self, i: u8) -> &crate::evolve::Evolved {
        self.summary
            .circuits
            .get(i as usize)
            .expect("LIBRARY lists exactly the circuits of mac_verilog/evolved.json")
    }

    fn table(&self, i: u8) -> &[u16] {
        self.tables[i as usize].get_or_init(|| {
            let g =
                crate::evolve::genome::Genome::from_circuit(&self.circuit(i).circuit, &self.gates)
                    .expect("the committed netlists use the built-in cells");
            (0..1u32 << 16)
                .map(|p| g.eval(&self.gates, p >> 8, p & 255) as u16)
                .collect()
        })
    }
}

const N: usize = 8;

impl Design {
    pub fn name(&self) -> String {
        match *self {
            Design::Exact => "mul8u_exact".into(),
            Design::Bam { vbl, hbl } => format!("mul8u_bam_v{vbl}h{hbl}"),
            Design::Lor { l } => format!("mul8u_lor_l{l}"),
            Design::Perforation { start, count } => format!("mul8u_perf_s{start}k{count}"),
            Design::Drum { k } => format!("mul8u_drum_k{k}"),
            Design::Mitchell { w } => format!("mul8u_mitchell_w{w}"),
            Design::Kulkarni { t } => format!("mul8u_kulkarni_t{t}"),
            Design::Compressor42 { cols } => format!("mul8u_c42_c{cols}"),
            Design::Evolved(i) => evolved_family().circuit(i).name.clone(),
        }
    }

    pub fn family(&self) -> &'static str {
        match self {
            Design::Exact => "exact",
            Design::Bam { .. } => "bam",
            Design::Lor { .. } => "lower-or",
            Design::Perforation { .. } => "perforation",
            Design::Drum { .. } => "drum",
            Design::Mitchell { .. } => "mitchell",
            Design::Kulkarni { .. } => "kulkarni",
            Design::Compressor42 { .. } => "compressor42",
            Design::Evolved(_) => EVOLVED_FAMILY,
        }
    }

    pub fn params(&self) -> String {
        match *self {
            Design::Exact => "-".into(),
            Design::Bam { vbl, hbl } => format!("VBL={vbl} HBL={hbl}"),
            Design::Lor { l } => format!("L={l}"),
            Design::Perforation { start, count } => format!("start={start} count={count}"),
            Design::Drum { k } => format!("k={k}"),
            Design::Mitchell { w } => format!("w={w}"),
            Design::Kulkarni { t } => format!("t={t}"),
            Design::Compressor42 { cols } => format!("cols={cols}"),
            Design::Evolved(i) => {
                let c = evolved_family().circuit(i);
                format!("{}<={}", c.metric.name().to_uppercase(), c.target)
            }
        }
    }

    /// One-paragraph description for the file header: structure and error behaviour.
    fn description(&self) -> String {
        match *self {
            Design::Exact => {
                "Exact unsigned array multiplier: 64 AND partial products accumulated \
                row by row in a carry-save array of full/half adders, then a carry-propagate adder."
                    .into()
            }
            Design::Bam { vbl, hbl } => format!(
                "Carry-save array multiplier with the cells of partial products a_i*b_j omitted \
                 where i + j < {vbl} (vertical break level) or j < {hbl} (horizontal break level). \
                 Always underestimates."
            ),
            Design::Lor { l } => format!(
                "Product columns 0..{} are the OR of their partial products (no adders, no \
                 carries); columns >= {l} are accumulated exactly in a carry-save array. \
                 The lower-part-OR idea of the LOA adder applied to the partial-product array.",
                l - 1
            ),
            Design::Perforation { start, count } => format!(
                "Partial-product rows b_j*A for j = {start}..{} are perforated (never generated); \
                 the remaining rows are accumulated exactly in a carry-save array. \
                 Equals A * (B & ~mask).",
                start + count - 1
            ),
            Design::Drum { k } => format!(
                "Each operand >= 2^{k} is cut to the {k} bits below and including its leading one, \
                 with the lowest kept bit forced to 1 (unbiasing); operands < 2^{k} pass exactly. \
                 A {k}x{k} exact multiplier and a barrel shifter complete the product."
            ),
            Design::Mitchell { w } => format!(
                "log2 of each operand approximated by its leading-one position plus the linear \
                 mantissa fraction, truncated to {w} bits; the logs are added and the antilog \
                 taken piecewise linearly; the result is truncated to an integer. A or B = 0 \
                 gives 0. Always underestimates."
            ),
            Design::Kulkarni { t } => format!(
                "Sum of sixteen 2x2 sub-products of the base-4 digits of A and B (the recursive \
                 4x4 -> 8x8 composition with exact adders). Blocks with digit positions \
                 i + j < {t} use the approximate 2x2 block that returns 7 for 3*3 \
                 (3 output bits); the others are exact."
            ),
            Design::Compressor42 { cols } => format!(
                "Wallace-style partial-product reduction. In columns below {cols}, groups of four \
                 bits (taken in row order, A[i]B[j] before A[i-1]B[j+1]) use a carry-free \
                 approximate 4:2 compressor (carry = x1x2 | x3x4, sum = (x1^x2) | (x3^x4)); \
                 other columns use exact full/half adders; a ripple-carry adder finishes. \
                 Always underestimates."
            ),
            Design::Evolved(_) => "Evolved by autoapprox evolve (the file's header).".into(),
        }
    }

    /// The publication the family follows.
    pub fn citation(&self) -> &'static str {
        match self {
            Design::Exact => "textbook carry-save array multiplier (e.g. Parhami, Computer Arithmetic, ch. 11)",
            Design::Bam { .. } => "H. R. Mahdiani et al., \"Bio-inspired imprecise computational blocks for efficient VLSI implementation of soft-computing applications\", IEEE TCAS-I 57(4), 2010",
            Design::Lor { .. } => "H. R. Mahdiani et al., IEEE TCAS-I 57(4), 2010 (lower-part-OR adder, LOA), applied to the partial-product columns",
            Design::Perforation { .. } => "G. Zervakis et al., \"Design-efficient approximate multiplication circuits through partial product perforation\", IEEE TVLSI 24(10), 2016",
            Design::Drum { .. } => "S. Hashemi, R. I. Bahar, S. Reda, \"DRUM: A dynamic range unbiased multiplier for approximate applications\", ICCAD 2015",
            Design::Mitchell { .. } => "J. N. Mitchell, \"Computer multiplication and division using binary logarithms\", IRE Trans. Electronic Computers, 1962; mantissa truncation as in M. S. Kim et al., \"Efficient Mitchell's approximate log multipliers for convolutional neural networks\", IEEE TC 68(5), 2019",
            Design::Kulkarni { .. } => "P. Kulkarni, P. Gupta, M. Ercegovac, \"Trading accuracy for power with an underdesigned multiplier architecture\", VLSI Design 2011",
            Design::Evolved(_) => "Cartesian genetic programming (J. F. Miller, \"An empirical study of the efficiency of learning boolean functions using a Cartesian genetic programming approach\", GECCO 1999) from the exact netlist under an error bound, as for EvoApproxLib (V. Mrazek et al., \"EvoApprox8b: Library of approximate adders and multipliers for circuit design and benchmarking of approximation methods\", DATE 2017); autoapprox evolve",
            Design::Compressor42 { .. } => "approximate 4:2 compressors in the style of A. Momeni et al., \"Design and analysis of approximate compressors for multiplication\", IEEE TC 64(4), 2015 (the carry-free OR-based variant described above)",
        }
    }

    /// Looks a design up by module name.
    pub fn by_name(name: &str) -> Option<Design> {
        LIBRARY.iter().copied().find(|d| d.name() == name)
    }

    /// The complete Verilog-2001 source file.
    pub fn verilog(&self) -> String {
        if let Design::Evolved(i) = *self {
            let f = evolved_family();
            return f
                .circuit(i)
                .verilog(&f.gates)
                .expect("the committed netlists use the built-in cells");
        }
        let name = self.name();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// {name}: 8x8 unsigned multiplier, autoapprox built-in library"
        );
        let _ = writeln!(s, "// Family:     {}", self.family());
        let _ = writeln!(s, "// Parameters: {}", self.params());
        for line in wrap("Follows:    ", self.citation(), 94) {
            let _ = writeln!(s, "// {line}");
        }
        for line in wrap("", &self.description(), 94) {
            let _ = writeln!(s, "// {line}");
        }
        let _ = writeln!(
            s,
            "// Ports follow EvoApproxLib: A = activation, B = weight, O = product."
        );
        let _ = writeln!(s, "// Generated by `autoapprox mult generate`; edit src/multiplier/builtin.rs, not this file.");
        let _ = writeln!(s, "module {name} (A, B, O);");
        let (body, unused) = self.body();
        for port in ["A", "B"] {
            let bits: Vec<&str> = unused
                .iter()
                .map(String::as_str)
                .filter(|b| b.starts_with(&format!("{port}[")))
                .collect();
            if bits.is_empty() {
                let _ = writeln!(s, "  input [7:0] {port};");
            } else {
                let _ = writeln!(
                    s,
                    "  // {} not used: every partial product of {} is omitted by design.\n\
                     \x20 /* verilator lint_off UNUSEDSIGNAL */\n\
                     \x20 input [7:0] {port};\n\
                     \x20 /* verilator lint_on UNUSEDSIGNAL */",
                    bits.join(", "),
                    if bits.len() == 1 {
                        "this bit"
                    } else {
                        "these bits"
                    }
                );
            }
        }
        let _ = writeln!(s, "  output [15:0] O;\n");
        s.push_str(&body);
        let _ = writeln!(s, "endmodule");
        s
    }

    /// The module body and the input bits it does not use.
    fn body(&self) -> (String, Vec<String>) {
        let netlist = |build: &dyn Fn(&mut Netlist) -> Vec<Net>| {
            let mut nl = Netlist::new();
            let out = build(&mut nl);
            (nl.verilog_body(&out), nl.unused_inputs(&out))
        };
        match *self {
            Design::Exact => array_rtl(|_, _| true, 0),
            Design::Bam { vbl, hbl } => {
                array_rtl(|i, j| i + j >= vbl as usize && j >= hbl as usize, 0)
            }
            Design::Perforation { start, count } => array_rtl(
                |_, j| !(start as usize..(start + count) as usize).contains(&j),
                0,
            ),
            Design::Lor { l } => array_rtl(|_, _| true, l as usize),
            Design::Compressor42 { cols } => netlist(&|nl| {
                let rows = partial_products(nl, |_, _| true);
                logic::compressor_tree(nl, 2 * N, columns(&rows), cols as usize)
            }),
            Design::Drum { k } => (drum_rtl(k), vec![]),
            Design::Mitchell { w } => (mitchell_rtl(w), vec![]),
            Design::Kulkarni { t } => (kulkarni_rtl(t), vec![]),
            Design::Evolved(_) => unreachable!("evolved files are written whole by verilog()"),
        }
    }

    /// Independent bit-level model: the product this design computes for (a, b).
    pub fn model(&self, a: u32, b: u32) -> u32 {
        debug_assert!(a < 256 && b < 256);
        match *self {
            // the netlist itself, gate by gate (the Verilog is written from the same netlist
            // by a different path: the Liberty functions as Verilog expressions)
            Design::Evolved(i) => evolved_family().table(i)[(a << 8 | b) as usize] as u32,
            Design::Exact => a * b,
            Design::Bam { vbl, hbl } => {
                let mut s = 0;
                for i in 0..8 {
                    for j in hbl..8 {
                        if i + j >= vbl {
                            s += ((a >> i) & (b >> j) & 1) << (i + j);
                        }
                    }
                }
                s
            }
            Design::Lor { l } => {
                let (mut upper, mut lower) = (0, 0);
                for i in 0..8 {
                    for j in 0..8 {
                        let p = (a >> i) & (b >> j) & 1;
                        if i + j >= l {
                            upper += p << (i + j);
                        } else {
                            lower |= p << (i + j);
                        }
                    }
                }
                upper + lower
            }
            Design::Perforation { start, count } => a * (b & !(((1 << count) - 1) << start)),
            Design::Drum { k } => {
                let cut = |x: u32| -> (u32, u32) {
                    if x < (1 << k) {
                        (x, 0)
                    } else {
                        let shift = (31 - x.leading_zeros()) + 1 - k;
                        ((x >> shift) | 1, shift)
                    }
                };
                let ((ta, sa), (tb, sb)) = (cut(a), cut(b));
                (ta * tb) << (sa + sb)
            }
            Design::Mitchell { w } => {
                if a == 0 || b == 0 {
                    return 0;
                }
                // Fixed-point log2 with w fraction bits: characteristic plus truncated mantissa.
                let log = |x: u32| -> u32 {
                    let k = 31 - x.leading_zeros();
                    let frac = ((x << w) >> k) - (1 << w);
                    (k << w) + frac
                };
                let sum = log(a) + log(b);
                let (int, frac) = (sum >> w, sum & ((1 << w) - 1));
                (((1 << w) + frac) << int) >> w
            }
            Design::Kulkarni { t } => {
                let mut s = 0;
                for i in 0..4 {
                    for j in 0..4 {
                        let (da, db) = ((a >> (2 * i)) & 3, (b >> (2 * j)) & 3);
                        let p = if i + j < t && da == 3 && db == 3 {
                            7
                        } else {
                            da * db
                        };
                        s += p << (2 * (i + j));
                    }
                }
                s
            }
            Design::Compressor42 { cols } => {
                // Column bits in row order (weight bit j major): the grouping into
                // compressors, and so the error, depends on it.
                let mut c = vec![Vec::new(); 2 * N];
                for j in 0..N {
                    for i in 0..N {
                        c[i + j].push((a >> i) & (b >> j) & 1 == 1);
                    }
                }
                let out = logic::compressor_tree(&mut Eval, 2 * N, c, cols as usize);
                out.iter().enumerate().map(|(i, &x)| (x as u32) << i).sum()
            }
        }
    }
}

/// Partial products `A[i] & B[j]` for the kept (i, j), as rows (row j = B[j] * A) of
/// `(column, bit)` pairs.
fn partial_products(
    nl: &mut Netlist,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<Vec<(usize, Net)>> {
    let a: Vec<Net> = (0..N).map(|i| nl.input(&format!("A[{i}]"))).collect();
    let b: Vec<Net> = (0..N).map(|j| nl.input(&format!("B[{j}]"))).collect();
    (0..N)
        .map(|j| {
            (0..N)
                .filter(|&i| keep(i, j))
                .map(|i| (i + j, nl.and(a[i], b[j])))
                .collect()
        })
        .collect()
}

fn columns(rows: &[Vec<(usize, Net)>]) -> logic::Columns<Net> {
    let mut cols = vec![Vec::new(); 2 * N];
    for &(c, p) in rows.iter().flatten() {
        cols[c].push(p);
    }
    cols
}

/// The array multiplier, written with vector operations so that simulators evaluate a whole
/// row per operation (the circuit is the same: one full adder per column and row).
///
/// Partial-product row j is `A & {8{B[j]}}` placed at column j, with the cells the design omits
/// (`keep(i, j)` false) masked off. Rows are accumulated in carry-save form: per column,
/// `sum = s ^ c ^ r` and `carry = majority(s, c, r)`, moved one column up; a carry-propagate
/// adder adds the final sum and carry vectors. Product columns below `lower_or` are not added:
/// each is the OR of its partial products.
fn array_rtl(keep: impl Fn(usize, usize) -> bool, lower_or: usize) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut rows = Vec::new();
    let _ = writeln!(
        s,
        "  // Partial-product rows: row j is B[j] * A at column j."
    );
    for j in 0..N {
        let mask: u32 = (0..N).filter(|&i| keep(i, j)).map(|i| 1 << i).sum();
        if mask == 0 {
            continue;
        }
        let masked = if mask == 0xff {
            String::new()
        } else {
            format!(" & 8'b{mask:08b}")
        };
        let low = if j > 0 {
            format!(", {j}'d0")
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "  wire [15:0] p{j} = {{{}'d0, A & {{8{{B[{j}]}}}}{masked}{low}}};",
            N - j
        );
        rows.push(format!("p{j}"));
    }
    let mut tail = String::new();
    if lower_or > 0 {
        let low: u32 = (1 << lower_or) - 1;
        let _ = writeln!(
            s,
            "  // Columns 0..{}: OR of the column's partial products, no adders.\n\
             \x20 wire [15:0] lo = ({}) & 16'h{low:04x};\n\
             \x20 // Columns {lower_or}..15: accumulated exactly.",
            lower_or - 1,
            rows.join(" | ")
        );
        for r in rows.iter_mut() {
            let _ = writeln!(s, "  wire [15:0] {r}h = {r} & 16'h{:04x};", 0xffff & !low);
            r.push('h');
        }
        tail = " | lo".into();
    }
    let (sum, carry) = match rows.as_slice() {
        [] => ("16'd0".to_string(), None),
        [one] => (one.clone(), None),
        [first, second, rest @ ..] => {
            let _ = writeln!(
                s,
                "  // Carry-save accumulation, one adder per column: half adders for the first two rows.\n\
                 \x20 wire [15:0] s1 = {first} ^ {second};\n\
                 \x20 wire [15:0] c1 = ({first} & {second}) << 1;"
            );
            for (k, r) in rest.iter().enumerate().map(|(k, r)| (k + 2, r)) {
                let p = k - 1;
                let _ = writeln!(
                    s,
                    "  wire [15:0] x{k} = s{p} ^ c{p};\n\
                     \x20 wire [15:0] s{k} = x{k} ^ {r};\n\
                     \x20 wire [15:0] c{k} = ((s{p} & c{p}) | ({r} & x{k})) << 1;"
                );
            }
            let last = rows.len() - 1;
            (format!("s{last}"), Some(format!("c{last}")))
        }
    };
    match carry {
        Some(c) => {
            let _ = writeln!(
                s,
                "  // Final carry-propagate adder.\n  assign O = ({sum} + {c}){tail};"
            );
        }
        None => {
            let _ = writeln!(s, "  assign O = {sum}{tail};");
        }
    }
    let mut unused = Vec::new();
    for i in 0..N {
        if !(0..N).any(|j| keep(i, j)) {
            unused.push(format!("A[{i}]"));
        }
    }
    for j in 0..N {
        if !(0..N).any(|i| keep(i, j)) {
            unused.push(format!("B[{j}]"));
        }
    }
    (s, unused)
}

/// A line whose signal intentionally leaves some bits unused, with a scoped lint waiver.
fn waived(s: &mut String, why: &str, line: &str) {
    let _ = writeln!(
        s,
        "  // {why}\n  /* verilator lint_off UNUSEDSIGNAL */\n{line}\n  /* verilator lint_on UNUSEDSIGNAL */"
    );
}

/// Leading-one position of an 8-bit signal as a chain of conditional assignments.
fn lod(s: &mut String, sig: &str, out: &str) {
    let _ = write!(s, "  wire [2:0] {out} = ");
    for i in (1..8).rev() {
        let _ = write!(s, "{sig}[{i}] ? 3'd{i} : ");
    }
    let _ = writeln!(s, "3'd0;");
}

fn drum_rtl(k: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  // Leading-one detection.");
    lod(&mut s, "A", "pa");
    lod(&mut s, "B", "pb");
    for (x, p, sh, t, xs) in [
        ("A", "pa", "sa", "ta", "a_sh"),
        ("B", "pb", "sb", "tb", "b_sh"),
    ] {
        let _ = writeln!(
            s,
            "  // {x} >= 2^{k}: keep {k} bits from the leading one, force the lowest to 1.\n\
             \x20 wire big_{x} = ({p} >= 3'd{k});\n\
             \x20 wire [2:0] {sh} = big_{x} ? ({p} - 3'd{}) : 3'd0;",
            k - 1,
        );
        waived(
            &mut s,
            &format!(
                "Only {xs}[{}:1] is kept: bits above are zero, bit 0 is replaced by 1.",
                k - 1
            ),
            &format!("  wire [7:0] {xs} = {x} >> {sh};"),
        );
        let _ = writeln!(
            s,
            "  wire [{}:0] {t} = big_{x} ? {{{xs}[{}:1], 1'b1}} : {x}[{}:0];",
            k - 1,
            k - 1,
            k - 1
        );
    }
    let _ = writeln!(
        s,
        "  // {k}x{k} exact core and barrel shift.\n\
         \x20 wire [{}:0] core = ta * tb;\n\
         \x20 wire [15:0] core_w = {{{}'d0, core}};\n\
         \x20 wire [3:0] shift = {{1'b0, sa}} + {{1'b0, sb}};\n\
         \x20 assign O = core_w << shift;",
        2 * k - 1,
        16 - 2 * k,
    );
    s
}

fn mitchell_rtl(w: u32) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  // Characteristic: leading-one position.");
    lod(&mut s, "A", "ka");
    lod(&mut s, "B", "kb");
    let _ = writeln!(s, "  // Mantissa fraction: normalize so the leading one sits at bit 7, keep {w} bits below it.");
    let why =
        format!("Bit 7 is the leading one; bits below the {w} kept fraction bits are truncated.");
    waived(
        &mut s,
        &why,
        "  wire [7:0] na = A << (3'd7 - ka);\n  wire [7:0] nb = B << (3'd7 - kb);",
    );
    let _ = writeln!(
        s,
        "  wire [{w1}:0] fa = na[6:{lo}];\n\
         \x20 wire [{w1}:0] fb = nb[6:{lo}];\n\
         \x20 // Add the logarithms.\n\
         \x20 wire [{w}:0] fs = {{1'b0, fa}} + {{1'b0, fb}};\n\
         \x20 wire [3:0] ks = {{1'b0, ka}} + {{1'b0, kb}};\n\
         \x20 // Antilog: 1.f * 2^ks when the fractions sum below 1, else (fa + fb) * 2^(ks + 1).\n\
         \x20 wire [{w}:0] mant = fs[{w}] ? fs : {{1'b1, fs[{w1}:0]}};\n\
         \x20 wire [4:0] e = {{1'b0, ks}} + {{4'd0, fs[{w}]}};",
        w1 = w - 1,
        lo = 7 - w,
    );
    waived(
        &mut s,
        &format!("wide carries {w} fraction bits below the integer product; they are truncated."),
        &format!("  wire [{}:0] wide = {{15'd0, mant}} << e;", w + 15),
    );
    let _ = writeln!(
        s,
        "  wire zero = (A == 8'd0) | (B == 8'd0);\n  assign O = zero ? 16'd0 : wide[{}:{w}];",
        w + 15
    );
    s
}

fn kulkarni_rtl(t: u32) -> String {
    let mut s = String::new();
    let mut terms = Vec::new();
    for i in 0..4 {
        for j in 0..4 {
            let (a0, a1, b0, b1) = (
                format!("A[{}]", 2 * i),
                format!("A[{}]", 2 * i + 1),
                format!("B[{}]", 2 * j),
                format!("B[{}]", 2 * j + 1),
            );
            let m = format!("m{i}{j}");
            if i + j < t {
                let _ = writeln!(
                    s,
                    "  // Block ({i},{j}), approximate: 3*3 -> 7.\n\
                     \x20 wire [3:0] {m} = {{1'b0, {a1} & {b1}, ({a1} & {b0}) | ({a0} & {b1}), {a0} & {b0}}};"
                );
            } else {
                let _ = writeln!(
                    s,
                    "  // Block ({i},{j}), exact.\n\
                     \x20 wire c{i}{j} = ({a1} & {b0}) & ({a0} & {b1});\n\
                     \x20 wire [3:0] {m} = {{({a1} & {b1}) & c{i}{j}, ({a1} & {b1}) ^ c{i}{j}, ({a1} & {b0}) ^ ({a0} & {b1}), {a0} & {b0}}};"
                );
            }
            terms.push(format!("({{12'd0, {m}}} << {})", 2 * (i + j)));
        }
    }
    let _ = writeln!(s, "\n  assign O = {};", terms.join("\n           + "));
    s
}

/// Word-wraps `text` after `first` (continuation lines are indented to align with it).
fn wrap(first: &str, text: &str, width: usize) -> Vec<String> {
    let indent = " ".repeat(first.len());
    let mut lines = Vec::new();
    let mut cur = first.to_string();
    for word in text.split_whitespace() {
        if cur.len() > indent.len() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut cur, indent.clone()));
        } else if cur.len() > indent.len() || (cur.len() == indent.len() && !cur.trim().is_empty())
        {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.trim().is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid_identifiers() {
        let mut names: Vec<String> = LIBRARY.iter().map(|d| d.name()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), LIBRARY.len());
    }

    #[test]
    fn library_size_and_families() {
        let approx = LIBRARY.iter().filter(|d| **d != Design::Exact).count();
        assert!(approx >= 16);
        let mut fams: Vec<&str> = LIBRARY
            .iter()
            .map(|d| d.family())
            .filter(|f| *f != "exact")
            .collect();
        fams.dedup();
        assert!(fams.len() >= 6, "{fams:?}");
    }

    #[test]
    fn models_never_exceed_16_bits() {
        for d in LIBRARY {
            for a in 0..256 {
                for b in 0..256 {
                    assert!(d.model(a, b) < 65536, "{} {a} {b}", d.name());
                }
            }
        }
    }
}
