//! Liberty (.lib) reading, in three layers: [`syntax`] (the format's generic syntax: groups,
//! simple and complex attributes with their lines, comments, line continuations), [`library`]
//! (the cell-library view PPA needs: area, leakage, pin capacitances, logic functions,
//! flip-flops, internal energy tables; units normalized on load to time ns, capacitance pF,
//! energy pJ, leakage nW, voltage V) and [`expr`] (Boolean functions). A malformed number is
//! an error naming the file and the line, never a default.
//!
//! No maintained Rust Liberty crate fits: `liberty-parse` 0.1 (MIT, 2019, nom 5) fails on the
//! SkyWater and IHP files; `liberty-io` and `libertyparse` are AGPL, which this MIT crate cannot
//! link. The generic syntax is small, so it is parsed here.

pub mod expr;
pub mod library;
pub mod syntax;

pub use expr::Expr;
pub use library::{Cell, Direction, Ff, InternalPower, Library, Pin, Table};
pub use syntax::{parse, Group};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn expressions_follow_liberty_precedence() {
        let e = Expr::parse("!A&B | C'^D").unwrap();
        for m in 0..16u32 {
            let v = |n: &str| m >> (n.as_bytes()[0] - b'A') & 1 == 1;
            let (a, b, c, d) = (v("A"), v("B"), v("C"), v("D"));
            assert_eq!(e.eval(&v), (!a && b) || (!c ^ d), "{m}");
        }
        let j = Expr::parse("A B + (A1 * !B1)").unwrap();
        let v = |n: &str| matches!(n, "A" | "B");
        assert!(j.eval(&v));
        assert!(Expr::parse("A & (B").is_err());
    }

    #[test]
    fn parses_groups_units_and_tables() {
        let src = r#"/* c */ library (t) { // comment
          time_unit : "1ps"; capacitive_load_unit (1, ff); nom_voltage : 1.2;
          leakage_power_unit : "1pW"; voltage_unit : "1V";
          lu_table_template (tm) { variable_1 : total_output_net_capacitance;
            variable_2 : input_net_transition; index_1 ("1, 2"); index_2 ("10, 20, 30"); }
          cell (X) { area : 2.5; cell_leakage_power : 1500;
            pin (A, B) { direction : input; capacitance : 2; }
            pin (Y) { direction : output; function : "(A*B)'";
              internal_power () { related_pin : "A";
                rise_power (tm) { values ("1, 2, 3", \
                   "4, 5, 6"); } } } }
        }"#;
        let lib = Library::from_str(src, Path::new("t.lib")).unwrap();
        let x = &lib.cells["X"];
        assert_eq!(x.area, 2.5);
        assert!((x.leakage - 1.5).abs() < 1e-12);
        assert_eq!(x.inputs().count(), 2);
        assert!((x.pin("B").unwrap().capacitance - 0.002).abs() < 1e-12);
        let t = x.pin("Y").unwrap().internal_power[0].rise.as_ref().unwrap();
        // transposed to [slew][load]; slew in ns, load in pF, energy fF*V^2 -> pJ
        assert_eq!(t.slew, vec![0.01, 0.02, 0.03]);
        assert_eq!(t.load, vec![0.001, 0.002]);
        assert!((t.at(0.02, 0.002) - 5e-3).abs() < 1e-12);
        assert!((t.at(0.015, 0.0015) - 3e-3).abs() < 1e-12);
        let bad = Library::from_str("library (t) { cell (X) { area : 1 ", Path::new("b.lib"));
        assert!(bad.is_err());
    }

    #[test]
    fn malformed_numbers_are_located_errors_never_defaults() {
        let lib = |cell: &str| {
            format!(
                "library (t) {{\n  nom_voltage : 1.8;\n  lu_table_template (tm) {{ variable_1 : total_output_net_capacitance; index_1 (\"1, 2\"); }}\n  cell (X) {{\n{cell}\n  }}\n}}\n"
            )
        };
        let ok = lib("    area : 2.5;\n    pin (A) { direction : input; capacitance : 0.002; }");
        assert!(Library::from_str(&ok, Path::new("ok.lib")).is_ok());
        for (body, line, what) in [
            ("    area : 2.5x;", 5, "area"),
            ("    area : 1;\n    cell_leakage_power : 1e;", 6, "cell_leakage_power"),
            (
                "    area : 1;\n    pin (A) { direction : input;\n      capacitance : 0,002; }",
                7,
                "capacitance",
            ),
            (
                "    area : 1;\n    pin (Y) { direction : output; internal_power () {\n      rise_power (tm) { values (\"1, 2q\"); } } }",
                7,
                "values",
            ),
        ] {
            let err = Library::from_str(&lib(body), Path::new("bad.lib"))
                .err()
                .unwrap_or_else(|| panic!("accepted {body}"))
                .to_string();
            assert!(
                err.contains("bad.lib") && err.contains(&format!(":{line}")) && err.contains(what),
                "{body}: {err}"
            );
        }
        let unit = "library (t) {\n  nom_voltage : 1.8;\n  time_unit : \"1.2.3ns\";\n}\n";
        let err = Library::from_str(unit, Path::new("u.lib"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("u.lib") && err.contains(":3") && err.contains("time_unit"),
            "{err}"
        );
    }
}
