//! One module per verb: its clap arguments and its handler.

pub mod images;
pub mod import;
pub mod info;
pub mod load;
pub mod plugin;
pub mod version;
