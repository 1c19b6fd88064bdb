//! The mapping search (ARCHITECTURE.md "The search problem"): calibration, the relaxed problem and
//! its barrier objective, the shared evaluation cache, GP Bayesian optimization and the
//! baselines, Pareto fronts and the chosen designs.

pub mod bench;
pub mod calibrate;
pub mod driver;
pub mod evaluator;
pub mod gpbo;
pub mod methods;
pub mod oracle;
pub mod problem;
pub mod results;

pub use driver::{search, SearchOptions, SearchReport};
