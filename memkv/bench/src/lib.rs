//! memkv-bench: the measuring stick of memkv.
//!
//! - [`sweep`]: `memkv-bench run`, a block-size sweep (put, get, mixed, batch put, batch get,
//!   exists) against memkv servers through the real client engine, with every byte read
//!   checked against a per-key pattern ([`pattern`]).
//! - [`compare`]: `memkv-bench compare`, the side-by-side harness: the machine's limits
//!   ([`limits`], [`pump`]), Redis and memcached through native clients ([`resp`],
//!   [`memcache`]), and memkv in both integrity modes, interleaved and summarised as ratios
//!   ([`summary`]).
//! - [`memory`]: `memkv-bench memory`, resident bytes per key.
//! - [`results`] and [`plot`]: result types, tables, and the SVG plot.
//!
//! See `docs/benchmarks.md` for how to run it and read its output.

pub mod compare;
mod disk_goals;
pub mod diskstats;
pub mod drives;
mod fio_jobs;
pub mod limits;
pub mod memcache;
pub mod memory;
pub mod pattern;
pub mod plot;
pub mod pump;
pub mod resp;
pub mod results;
pub mod servers;
mod sockio;
pub mod summary;
pub mod sweep;
pub mod target;
pub mod workload;
