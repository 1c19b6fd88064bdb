//! `DIR/report.md` and a self-contained `DIR/report.html`, written from the files in DIR only
//! (`search/search.json`, `ppa/ppa.json`, `chip/chip.json`, `characterize/`), so every number
//! in them can be traced to a file next to it. No timings: the same inputs give the same
//! report, byte for byte.

use super::ChipResult;
use crate::error::{Error, IoContext, Result};
use crate::ppa::energy::ChipModel;
use crate::search::results::Design;
use crate::search::SearchReport;
use crate::util::write_atomic;
use std::fmt::Write as _;
use std::path::Path;

pub struct Written {
    /// a few lines for the terminal
    pub summary: String,
    pub zero_loss_found: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).at(path)?;
    serde_json::from_str(&text).map_err(|e| Error::Input {
        file: path.into(),
        message: format!("{e}; rerun `autoapprox run`"),
    })
}

/// The route of each layer in a design's chip: 0 is the exact fallback, then its MXUs in
/// order of first use (as `Design::spec` numbers them).
fn routes(d: &Design, exact: &str) -> Vec<usize> {
    let mxus = d.mxus(exact);
    d.mapping
        .iter()
        .map(|m| mxus.iter().position(|x| x == m).map_or(0, |i| i + 1))
        .collect()
}

/// Writes report.md and report.html into `dir`.
pub fn write(dir: &Path) -> Result<Written> {
    let rep: SearchReport = read_json(&dir.join("search/search.json"))?;
    let chip: ChipResult = read_json(&dir.join("chip/chip.json"))?;
    let model = ChipModel::load(&dir.join("ppa/ppa.json"))?;
    let p = &rep.problem;
    let exact = p.names[0].clone();
    let design = rep
        .designs
        .iter()
        .find(|d| d.id == chip.design)
        .ok_or_else(|| Error::Input {
            file: dir.join("chip/chip.json"),
            message: format!(
                "design `{}` is not in search/search.json; rerun",
                chip.design
            ),
        })?;
    let exact_test = rep.exact_test_top1.unwrap_or(f64::NAN);
    let best = rep
        .designs
        .iter()
        .filter(|d| d.method.is_some() && rep.zero_loss(d) && d.energy < 100.0 - 1e-9)
        .min_by(|a, b| a.energy.total_cmp(&b.energy).then(a.id.cmp(&b.id)));

    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# autoapprox report: {}\n", p.benchmark);
    let _ = writeln!(
        w,
        "{} mappable layers, {} candidate multipliers (the exact one included), {}x{} MXUs at \
         {:.2} ns with {}. Search: {} at a budget of {} distinct mappings per run, seeds {:?}, \
         τ = {:.2} % top-1 on the {}-image sample (exact int8 {:.2} %), φ = {:.0} % area.\n",
        p.layers.len(),
        p.names.len(),
        rep.rows,
        rep.cols,
        model.clock_ns,
        model.liberty,
        {
            let mut m: Vec<&str> = rep.runs.iter().map(|r| r.method.name()).collect();
            m.dedup();
            m.join(", ")
        },
        rep.budget,
        rep.seeds,
        p.tau,
        rep.sample,
        p.exact_top1,
        p.params.phi
    );
    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(
        w,
        "- Exact int8 network: top-1 **{exact_test:.2} %** on the full test split."
    );
    let _ = writeln!(
        w,
        "- Chosen chip: **{}** ({}): energy **{:.2} %** and area **{:.1} %** of the exact-only \
         chip, {} MXUs, test top-1 **{:.2} %** / top-5 {:.2} % — {}.",
        design.id,
        chip.reason,
        design.energy,
        design.area,
        1 + design.mxus(&exact).len(),
        design.test_top1,
        design.test_top5,
        if rep.zero_loss(design) {
            "zero loss on the test split".to_string()
        } else {
            format!(
                "**not** zero loss ({:+.2} points on the test split)",
                design.test_top1 - exact_test
            )
        }
    );
    match best {
        Some(b) => {
            let _ = writeln!(
                w,
                "- Lowest-energy zero-loss design of any run: **{}** at **{:.2} %** energy, \
                 {:.1} % area, test top-1 {:.2} % (≥ {:.2} %). It was picked on the sample; the \
                 test split only confirms it.",
                b.id, b.energy, b.area, b.test_top1, exact_test
            );
        }
        None => {
            let _ = writeln!(
                w,
                "- **No approximate design of any run is zero-loss on the test split at this \
                 budget** (every chosen design with less energy than the exact chip loses top-1 \
                 on test). A design that agrees with exact int8 on every validation image can \
                 still lose a few test images: no discordance on n images bounds the flip rate \
                 only to about 3/n (95 %). The levers: more held-out validation images, a stricter \
                 confirmation (`[search] hold`), or a stated loss (`[search] tau` below 0)."
            );
        }
    }
    let _ = writeln!(
        w,
        "- RTL: `chip/{}` ({} files, top `{}`), Verilator lint {} warning(s), Yosys {} cells; \
         co-simulation {} MACs in {} result words, **{} mismatches**.\n",
        chip.filelist,
        chip.rtl_files.len(),
        chip.top,
        chip.verilator_warnings.len(),
        chip.yosys_cells,
        chip.cosim_macs,
        chip.cosim_words,
        chip.cosim_mismatches
    );

    let _ = writeln!(w, "## Designs (Table II)\n");
    let _ = writeln!(
        w,
        "Energy and area relative to the exact-only chip; top-1/top-5 re-measured on the full \
         test split (`search/designs.csv`, `search/search.json`). Δ is the top-1 change vs \
         exact int8 on the same images; LCB its {:.0} % lower confidence bound (McNemar, \
         conditional on the discordant images), which feasibility uses.\n",
        100.0 * rep.problem.params.confidence
    );
    w.push_str(&rep.table());
    let _ = writeln!(w, "\n### Runs\n");
    let _ = writeln!(
        w,
        "| run | evaluations | images simulated | feasible on the sample | hypervolume | log |\n|---|---:|---:|---:|---:|---|"
    );
    for r in &rep.runs {
        let _ = writeln!(
            w,
            "| {} s{} | {} | {} | {} | {:.2} | `search/{}` |",
            r.method.name(),
            r.seed,
            r.evaluations,
            r.evaluations * rep.sample,
            r.feasible,
            r.hypervolume,
            r.log
        );
    }
    if rep.exact_test_top1.is_some() {
        let _ = writeln!(w, "\nBest zero-loss design per run (energy, % of exact):\n");
        w.push_str(&rep.comparison());
        let _ = writeln!(
            w,
            "\nHonesty: of the designs each method declares feasible, those that hold on the \
             test split (top-1 at least exact int8's):\n"
        );
        w.push_str(&rep.honesty());
    }
    let _ = writeln!(
        w,
        "\nBudget: every evaluation simulates the {}-image sample (images per run in the runs \
         table); designs are confirmed on {} validation images and re-measured on {} test \
         images. Splits: {}.",
        rep.sample, rep.confirm_images, rep.test_images, rep.validation
    );

    let _ = writeln!(w, "\n## Pareto fronts\n");
    let _ = writeln!(
        w,
        "Energy vs top-1 on the search sample, every method (`search/fronts.json`).\n\n\
         ![Pareto fronts](search/fronts.svg)\n\n![Hypervolume over evaluations](search/hypervolume.svg)\n"
    );
    let _ = writeln!(w, "## Layer sensitivity\n");
    let _ = writeln!(
        w,
        "Top-1 on the sample when only one layer uses a multiplier (`search/calibration.csv`).\n\n\
         ![Sensitivity](search/sensitivity.svg)\n"
    );

    let _ = writeln!(w, "## Route tables\n");
    let shown: Vec<&Design> = rep
        .designs
        .iter()
        .filter(|d| {
            d.id == design.id
                || (d.method == Some(chip.method)
                    && (d.seed == Some(chip.seed) || !chip.method.seeded()))
        })
        .collect();
    for d in &shown {
        let r = routes(d, &exact);
        let _ = writeln!(
            w,
            "### {} ({}){}\n\n`search/designs/{}.toml`; energy {:.2} %, area {:.1} %, test top-1 {:.2} %.\n",
            d.id,
            d.kind.name(),
            if d.id == design.id { " — the chosen chip" } else { "" },
            d.id,
            d.energy,
            d.area,
            d.test_top1
        );
        let _ = writeln!(
            w,
            "| layer | MACs | route | multiplier | energy on it (% of exact chip) | on exact |\n|---|---:|---:|---|---:|---:|"
        );
        for (l, (m, rt)) in d.mapping.iter().zip(&r).enumerate() {
            let c = p.names.iter().position(|n| n == m).unwrap_or(0);
            let _ = writeln!(
                w,
                "| `{}` | {} | {} | {} | {:.3} | {:.3} |",
                p.layers[l], p.macs[l], rt, m, p.energy[l][c], p.energy[l][0]
            );
        }
        w.push('\n');
    }

    let _ = writeln!(w, "## The chosen chip's multipliers\n");
    let mut used = vec![exact.clone()];
    used.extend(design.mxus(&exact));
    let _ = writeln!(
        w,
        "| route | multiplier | MRE % | MXU area µm² | % of exact MXU | PE pJ/MAC | multiplier pJ/MAC |\n|---:|---|---:|---:|---:|---:|---:|"
    );
    let exact_area = model.variant(&exact)?.mxu_area;
    let mut total = 0.0;
    for (i, m) in used.iter().enumerate() {
        let v = model.variant(m)?;
        total += v.mxu_area;
        let c = p.names.iter().position(|n| n == m).unwrap_or(0);
        let _ = writeln!(
            w,
            "| {} | {} | {:.3} | {:.0} | {:.1} | {:.4} | {:.4} |",
            i,
            m,
            p.mre_pct[c],
            v.mxu_area,
            100.0 * v.mxu_area / exact_area,
            v.pe_energy_pj,
            v.mult_energy_pj
        );
    }
    let _ = writeln!(
        w,
        "\nChip area (the MXUs, router and gating excluded): {:.0} µm² = {:.1} % of the exact-only \
         chip's {:.0} µm² (`ppa/ppa.json`). Network energy per image: {:.2} % of the exact chip, \
         {:.2} % saved; idle MXUs are gated off, so the extra MXUs cost area, not energy.\n",
        total,
        100.0 * total / exact_area,
        exact_area,
        design.energy,
        100.0 - design.energy
    );
    for m in design.mxus(&exact) {
        let _ = writeln!(
            w,
            "![error heatmap of {m}](characterize/heatmaps/{m}.svg)\n"
        );
    }

    let _ = writeln!(w, "## Files\n");
    let _ = writeln!(
        w,
        "- Chip spec with its route table: `chip/accelerator.toml`; route table `chip/{}`\n\
         - RTL: `chip/rtl/` ({} Verilog files), filelist `chip/{}`, FuseSoC core `chip/{}`, \
           Yosys script `chip/synth.ys`, OpenROAD-flow-scripts config `chip/{}` + \
           `chip/orfs/constraint.sdc` (`make DESIGN_CONFIG=…/chip/{}` in an ORFS checkout)\n\
         - Lint and co-simulation results: `chip/chip.json`\n\
         - PPA of every variant: `ppa/ppa.md`, `ppa/ppa.json`\n\
         - Characterization: `characterize/characterization.md`, error heatmaps `characterize/heatmaps/`\n\
         - Search: `search/table.md`, evaluation logs `search/evals/*.jsonl`, every design `search/designs/*.toml`\n\
         - Stage times of the last run: `timings.json`",
        chip.routes_csv,
        chip.rtl_files.len(),
        chip.filelist,
        chip.core,
        chip.orfs_config,
        chip.orfs_config
    );

    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    write_atomic(&dir.join("report.html"), html(&md, dir)?.as_bytes())?;

    let summary = format!(
        "{}: exact int8 {:.2} % test top-1; chip {} at {:.2} % energy, {:.1} % area, test top-1 {:.2} % ({}); {}\n",
        p.benchmark,
        exact_test,
        design.id,
        design.energy,
        design.area,
        design.test_top1,
        if rep.zero_loss(design) { "zero loss" } else { "not zero loss" },
        match best {
            Some(b) => format!(
                "lowest-energy zero-loss design {} at {:.2} % energy",
                b.id, b.energy
            ),
            None => "no approximate zero-loss design at this budget".into(),
        }
    );
    Ok(Written {
        summary,
        zero_loss_found: best.is_some(),
    })
}

/// The markdown as one HTML file: tables rendered, every SVG image inlined.
fn html(md: &str, dir: &Path) -> Result<String> {
    use pulldown_cmark::{html::push_html, Event, Options, Parser, Tag, TagEnd};
    let mut events = Vec::new();
    let mut in_image = false;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Image { dest_url, .. }) => {
                let path = dir.join(dest_url.as_ref());
                let svg = std::fs::read_to_string(&path).at(&path)?;
                let body = svg
                    .find("<svg")
                    .map_or(svg.as_str(), |i| &svg[i..])
                    .to_string();
                events.push(Event::Html(
                    format!("<div class=\"fig\">{body}</div>").into(),
                ));
                in_image = true;
            }
            Event::End(TagEnd::Image) => in_image = false,
            _ if in_image => {}
            e => events.push(e),
        }
    }
    let mut body = String::new();
    push_html(&mut body, events.into_iter());
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>autoapprox report</title>\n\
         <style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 6px}}\
         td{{text-align:right}}code{{background:#f4f4f4}}.fig svg{{max-width:100%;height:auto}}</style>\n\
         </head><body>\n{body}</body></html>\n"
    ))
}
