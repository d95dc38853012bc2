pub mod app;
pub mod aws;
pub mod faults;
pub mod browser;
