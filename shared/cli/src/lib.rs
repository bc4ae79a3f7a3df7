//! The command's planning and porting tools, which only the `logsieve` command needs: what a
//! configuration costs (`plan`), a CloudWatch dashboard for it (`dashboard`), and CloudWatch
//! metric filters turned into rules (`import`). The pipeline itself is the `logsieve` crate.

pub mod arrival;
pub mod dashboard;
pub mod export;
pub mod import;
pub mod plan;
pub mod stdout;
pub mod tags_file;
