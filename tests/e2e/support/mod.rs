pub mod app;
pub mod aws;
pub mod browser;
pub mod faults;
