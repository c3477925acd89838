//! Shared support for hostctl's end-to-end tests (the tests themselves are the files in
//! `tests/`).
//!
//! - [`images`]: real image archives built from Debian's `busybox-static`: layer tars with
//!   whiteouts, `docker save` archives (legacy and Docker ≥ 25 layouts), OCI image layouts,
//!   multi-layer images, and hostile archives a correct loader must refuse.

pub mod images;
