pub mod app;
pub mod aws;
