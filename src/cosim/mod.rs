//! Co-simulation: the generated accelerator in Verilator against the Rust golden model, which
//! computes every result from the multipliers' characterized lookup tables.
//!
//! A [`Program`] is a host command stream (route, weight load, activation stream) in the binary
//! format `testbench/cosim_main.cpp.tera` reads; [`Simulator`] builds the Verilator model once and
//! runs programs; [`check`] compares each result word with the golden model.

use crate::characterize::Lut;
use crate::error::{Error, IoContext, Result};
use crate::rtl::{sources, Manifest};
use crate::util::{require_tool, VERILATOR_INSTALL};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WRAP_TEMPLATE: &str = include_str!("../../testbench/cosim_wrap.v.tera");
const MAIN_TEMPLATE: &str = include_str!("../../testbench/cosim_main.cpp.tera");

/// One host command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Select the MXU for the following commands.
    Route(u32),
    /// Load W[r][c] (row-major) into the selected MXU.
    Weights(Vec<u8>),
    /// Stream activation vectors A[t][r] (row-major, `rows` per vector) and collect results.
    Stream(Vec<u8>),
}

/// A command stream for an array of `rows` x `cols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub rows: usize,
    pub cols: usize,
    pub cmds: Vec<Cmd>,
}

impl Program {
    pub fn new(rows: usize, cols: usize) -> Program {
        Program {
            rows,
            cols,
            cmds: Vec::new(),
        }
    }

    /// Random tiles with edge values, visiting every route and switching back and forth:
    /// routes 0, 1, .., n-1, then n-2, .., 0 again, `phases_per_route` times around. Each phase
    /// loads fresh weights and streams `vectors` activation vectors. The first visit of each
    /// route uses edge tiles: all-255 weights and activations, zeros, and single hot lanes.
    pub fn random(
        rows: usize,
        cols: usize,
        routes: usize,
        vectors: usize,
        rounds: usize,
        seed: u64,
    ) -> Program {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = Program::new(rows, cols);
        let mut order: Vec<usize> = (0..routes).collect();
        order.extend((0..routes.saturating_sub(1)).rev());
        let mut first_visit = vec![true; routes];
        for _ in 0..rounds.max(1) {
            for &r in &order {
                p.cmds.push(Cmd::Route(r as u32));
                let edge = std::mem::replace(&mut first_visit[r], false);
                let w: Vec<u8> = if edge {
                    (0..rows * cols)
                        .map(|i| if i % 7 == 3 { 0 } else { 255 })
                        .collect()
                } else {
                    (0..rows * cols).map(|_| rng.random()).collect()
                };
                p.cmds.push(Cmd::Weights(w));
                let mut a: Vec<u8> = (0..vectors * rows).map(|_| rng.random()).collect();
                if edge {
                    for (t, chunk) in a.chunks_mut(rows).enumerate().take(4) {
                        match t {
                            0 => chunk.fill(255),
                            1 => chunk.fill(0),
                            2 => chunk
                                .iter_mut()
                                .enumerate()
                                .for_each(|(i, x)| *x = if i == 0 { 255 } else { 0 }),
                            _ => chunk
                                .iter_mut()
                                .enumerate()
                                .for_each(|(i, x)| *x = if i % 2 == 0 { 255 } else { 1 }),
                        }
                    }
                }
                p.cmds.push(Cmd::Stream(a));
            }
        }
        p
    }

    /// Multiply-accumulates the streams perform (rows x cols per vector).
    pub fn macs(&self) -> u64 {
        self.cmds
            .iter()
            .map(|c| match c {
                Cmd::Stream(a) => (a.len() / self.rows * self.rows * self.cols) as u64,
                _ => 0,
            })
            .sum()
    }

    /// The binary command stream the test bench reads.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u32le = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        for c in &self.cmds {
            match c {
                Cmd::Route(r) => {
                    u32le(&mut out, 1);
                    u32le(&mut out, *r);
                }
                Cmd::Weights(w) => {
                    u32le(&mut out, 2);
                    out.extend_from_slice(w);
                }
                Cmd::Stream(a) => {
                    u32le(&mut out, 3);
                    u32le(&mut out, (a.len() / self.rows) as u32);
                    out.extend_from_slice(a);
                }
            }
        }
        out
    }
}

/// Where one result word came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinate {
    /// Index of the stream command in the program.
    pub command: usize,
    pub route: u32,
    /// Vector within the stream.
    pub vector: usize,
    /// Output lane (array column).
    pub column: usize,
}

/// The golden model: every result word the program should produce, in order, with its
/// coordinate. `luts[route]` is the multiplier of the MXU on that route.
pub fn golden(p: &Program, luts: &[&Lut], acc_bits: u32) -> Result<Vec<(u64, Coordinate)>> {
    let mask = if acc_bits >= 64 {
        u64::MAX
    } else {
        (1u64 << acc_bits) - 1
    };
    let mut route = 0u32;
    let mut weights: Vec<Option<&[u8]>> = vec![None; luts.len()];
    let mut out = Vec::new();
    for (k, c) in p.cmds.iter().enumerate() {
        match c {
            Cmd::Route(r) => route = *r,
            Cmd::Weights(w) => {
                if let Some(slot) = weights.get_mut(route as usize) {
                    *slot = Some(w);
                }
            }
            Cmd::Stream(a) => {
                let lut = luts
                    .get(route as usize)
                    .ok_or_else(|| Error::Other(format!("route {route} has no MXU")))?;
                let w = weights[route as usize].ok_or_else(|| {
                    Error::Other(format!("route {route} streams before loading weights"))
                })?;
                for (t, x) in a.chunks_exact(p.rows).enumerate() {
                    for col in 0..p.cols {
                        let mut s = 0u64;
                        for (row, &xr) in x.iter().enumerate() {
                            s += lut.get(xr as u32, w[row * p.cols + col] as u32) as u64;
                        }
                        out.push((
                            s & mask,
                            Coordinate {
                                command: k,
                                route,
                                vector: t,
                                column: col,
                            },
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What the simulation produced.
#[derive(Clone, Debug)]
pub struct SimOutput {
    pub results: Vec<u64>,
    pub cycles: u64,
    pub sim_time: Duration,
}

/// A built Verilator model of a generated design.
pub struct Simulator {
    _work: tempfile::TempDir,
    bin: PathBuf,
    pub manifest: Manifest,
    pub build_time: Duration,
}

impl Simulator {
    /// Builds the co-simulation model of the design in `dir` (written by `generate`).
    pub fn build(dir: &Path) -> Result<Simulator> {
        require_tool("verilator", VERILATOR_INSTALL)?;
        let m = Manifest::load(dir)?;
        let work = tempfile::Builder::new()
            .prefix("autoapprox-cosim-")
            .tempdir()
            .at(std::env::temp_dir())?;
        let mut ctx = tera::Context::new();
        ctx.insert("version", env!("CARGO_PKG_VERSION"));
        ctx.insert("top", &m.top);
        ctx.insert("rows", &m.rows);
        ctx.insert("cols", &m.cols);
        ctx.insert("bits", &m.bits);
        ctx.insert("acc", &m.acc_bits);
        ctx.insert("route_bits", &m.route_bits);
        ctx.insert("row_bits", &m.row_bits);
        ctx.insert("latency", &m.latency);
        let render = |tpl: &str| {
            tera::Tera::one_off(tpl, &ctx, false)
                .map_err(|e| Error::Other(format!("cosim template: {e:?}")))
        };
        let wrap = work.path().join("cosim_wrap.v");
        let main = work.path().join("cosim_main.cpp");
        crate::util::write_atomic(&wrap, render(WRAP_TEMPLATE)?.as_bytes())?;
        crate::util::write_atomic(&main, render(MAIN_TEMPLATE)?.as_bytes())?;
        let t0 = Instant::now();
        let mut all = sources(dir, &m);
        all.push(wrap.clone());
        all.push(main.clone());
        // Large arrays generate much C++: -O1 keeps the build time down.
        let out = crate::util::verilator_build(
            "cosim_wrap",
            &all,
            &work.path().join("obj"),
            "cosim_sim",
            "-O1",
            &[],
        )?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errs: Vec<&str> = stderr
                .lines()
                .filter(|l| l.contains("rror"))
                .take(5)
                .collect();
            return Err(Error::ToolFailed {
                tool: "verilator (co-simulation build)".into(),
                message: errs.join("\n"),
            });
        }
        let bin = work.path().join("obj").join("cosim_sim");
        Ok(Simulator {
            _work: work,
            bin,
            manifest: m,
            build_time: t0.elapsed(),
        })
    }

    /// Runs a program and returns every result word.
    pub fn run(&self, p: &Program) -> Result<SimOutput> {
        if p.rows != self.manifest.rows as usize || p.cols != self.manifest.cols as usize {
            return Err(Error::Other(format!(
                "program for {}x{} but the design is {}x{}",
                p.rows, p.cols, self.manifest.rows, self.manifest.cols
            )));
        }
        let dir = self.bin.parent().unwrap();
        let cmd_file = dir.join("commands.bin");
        let res_file = dir.join("results.bin");
        std::fs::write(&cmd_file, p.encode()).at(&cmd_file)?;
        let t0 = Instant::now();
        let out = Command::new(&self.bin)
            .arg(&cmd_file)
            .arg(&res_file)
            .output()
            .at(&self.bin)?;
        let wall = t0.elapsed();
        if !out.status.success() {
            return Err(Error::ToolFailed {
                tool: "co-simulation".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let bytes = std::fs::read(&res_file).at(&res_file)?;
        let results = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok(SimOutput {
            results,
            cycles: field("cycles ").unwrap_or(0),
            sim_time: field("sim_ns ").map(Duration::from_nanos).unwrap_or(wall),
        })
    }
}

/// A result word that differs from the golden model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub at: Coordinate,
    pub got: u64,
    pub expected: u64,
}

/// The outcome of comparing a simulation with the golden model.
#[derive(Clone, Debug)]
pub struct CosimReport {
    pub macs_checked: u64,
    pub words_checked: usize,
    pub mismatches: usize,
    pub first: Option<Mismatch>,
    /// Mismatches per route.
    pub per_route: Vec<usize>,
    pub cycles: u64,
    pub sim_time: Duration,
    pub build_time: Duration,
}

impl CosimReport {
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }

    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.sim_time.as_secs_f64().max(1e-9)
    }

    /// What `autoapprox cosim` prints for design `name` with `routes` MXUs.
    pub fn text(&self, name: &str, routes: usize) -> String {
        format!(
            "co-simulation of {name}: {} MACs in {} result words over {routes} routes, {} mismatches\n  \
             {} cycles in {:.2} s = {:.0} cycles/s ({:.2} M MAC/s); model build {:.1} s\n",
            self.macs_checked,
            self.words_checked,
            self.mismatches,
            self.cycles,
            self.sim_time.as_secs_f64(),
            self.cycles_per_second(),
            self.macs_checked as f64 / self.sim_time.as_secs_f64() / 1e6,
            self.build_time.as_secs_f64()
        )
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "route {} (stream command {}), vector {}, column {}: RTL gave {}, golden model {}",
            self.at.route, self.at.command, self.at.vector, self.at.column, self.got, self.expected
        )
    }
}

/// Compares simulation results with the golden model for `luts` (one per route).
pub fn check(
    p: &Program,
    out: &SimOutput,
    luts: &[&Lut],
    acc_bits: u32,
    build_time: Duration,
) -> Result<CosimReport> {
    let gold = golden(p, luts, acc_bits)?;
    let mut per_route = vec![0; luts.len()];
    let mut mismatches = 0;
    let mut first = None;
    for (i, (exp, at)) in gold.iter().enumerate() {
        let got = out.results.get(i).copied();
        if got != Some(*exp) {
            mismatches += 1;
            per_route[at.route as usize] += 1;
            if first.is_none() {
                first = Some(Mismatch {
                    at: at.clone(),
                    got: got.unwrap_or(u64::MAX),
                    expected: *exp,
                });
            }
        }
    }
    if out.results.len() > gold.len() {
        mismatches += out.results.len() - gold.len();
    }
    Ok(CosimReport {
        macs_checked: p.macs(),
        words_checked: gold.len(),
        mismatches,
        first,
        per_route,
        cycles: out.cycles,
        sim_time: out.sim_time,
        build_time,
    })
}

/// Options of [`run_spec`].
#[derive(Clone, Debug)]
pub struct CosimOptions {
    /// Activation vectors per stream.
    pub vectors: usize,
    /// Times around the route sequence.
    pub rounds: usize,
    pub seed: u64,
    /// Also stream a real layer tile of this benchmark (directory with benchmark.json).
    pub bench: Option<PathBuf>,
    /// Characterization (for the multipliers' tables).
    pub characterize: crate::characterize::Options,
}

impl Default for CosimOptions {
    fn default() -> Self {
        CosimOptions {
            vectors: 64,
            rounds: 2,
            seed: 1,
            bench: None,
            characterize: Default::default(),
        }
    }
}

/// Generates the accelerator into `dir`, characterizes its multipliers (cached), builds the
/// co-simulation model, runs a random program visiting every route, and checks every word.
pub fn run_spec(
    acc: &crate::rtl::spec::Accelerator,
    dir: &Path,
    o: &CosimOptions,
) -> Result<CosimReport> {
    crate::rtl::generate(acc, dir, &Default::default())?;
    let mults: Vec<_> = acc.mxus.iter().map(|m| m.mult.clone()).collect();
    let (chars, _) = crate::characterize::characterize(&mults, &o.characterize)?;
    let sim = Simulator::build(dir)?;
    let s = &acc.spec;
    let mut p = Program::random(
        s.rows as usize,
        s.cols as usize,
        acc.mxus.len(),
        o.vectors,
        o.rounds,
        o.seed,
    );
    if let Some(b) = &o.bench {
        let tile = real_tile(b, s.rows as usize, s.cols as usize, o.vectors, 0)?;
        p.push_tile(acc.mxus.len(), &tile);
    }
    let out = sim.run(&p)?;
    let luts: Vec<&Lut> = chars.iter().map(|c| &c.lut).collect();
    check(&p, &out, &luts, s.acc_bits, sim.build_time)
}

/// A real tile of a benchmark network: the first `rows` reduction rows and `cols` output
/// channels of the first mappable layer wide enough, with the weight codes of its quantized
/// weights and `vectors` im2col activation columns of test image `image` (codes as the
/// simulator quantizes them).
#[derive(Clone, Debug)]
pub struct RealTile {
    pub layer: String,
    pub weights: Vec<u8>,
    pub acts: Vec<u8>,
}

pub fn real_tile(
    bench: &Path,
    rows: usize,
    cols: usize,
    vectors: usize,
    image: usize,
) -> Result<RealTile> {
    use crate::nn::{eval::Benchmark, graph::im2col, onnx, quant::QParams, quant::QWeights};
    let b = Benchmark::load(bench)?;
    let graph = onnx::load(&b.model_path())?;
    let test = b.split("test")?;
    let x = crate::nn::Tensor::images(&test, image, image + 1, b.scale);
    let captured = std::sync::Mutex::new(None);
    graph.run_with(x, &|l, x| {
        let mut c = captured.lock().unwrap();
        if c.is_none() && l.conv.is_some() && l.k >= rows && l.out_ch >= cols {
            *c = Some((l.clone(), x.clone()));
        }
        Ok(crate::nn::graph::linear_float(l, x))
    })?;
    let (l, x) = captured.into_inner().unwrap().ok_or_else(|| {
        Error::Other(format!(
            "{}: no convolution with K >= {rows} and >= {cols} outputs",
            b.name
        ))
    })?;
    let g = l.conv.clone().unwrap();
    let qw = QWeights::new(&l);
    let qa = QParams::of(&x.data);
    let codes: Vec<u8> = x.data.iter().map(|&v| qa.quantize(v)).collect();
    let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
    let (oh, ow) = g.out_hw(h, w);
    let pos = oh * ow;
    let mut im = vec![0u8; l.k * pos];
    im2col(&codes, 0..c / g.group, h, w, &g, qa.zero, &mut im, pos, 0);
    let weights = (0..rows)
        .flat_map(|r| (0..cols).map(move |col| (r, col)))
        .map(|(r, col)| qw.codes[col * l.k + r])
        .collect();
    let acts = (0..vectors.min(pos))
        .flat_map(|t| (0..rows).map(move |r| (t, r)))
        .map(|(t, r)| im[r * pos + t])
        .collect();
    Ok(RealTile {
        layer: l.name.clone(),
        weights,
        acts,
    })
}

impl Program {
    /// Streams a real tile through every route.
    pub fn push_tile(&mut self, routes: usize, tile: &RealTile) {
        for r in 0..routes {
            self.cmds.push(Cmd::Route(r as u32));
            self.cmds.push(Cmd::Weights(tile.weights.clone()));
            self.cmds.push(Cmd::Stream(tile.acts.clone()));
        }
    }
}
