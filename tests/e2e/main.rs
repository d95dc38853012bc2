//! One test binary: end-to-end tests over HTTP against portal-local (embedded store and
//! DynamoDB on moto), the store conformance suite, the AWS adapters against moto, the Lambda
//! events and the OpenAPI coverage.

mod support;

mod aws_messaging;
mod ddb_calls;
mod faults;
mod foundation;
mod functions;
mod hardening;
mod hardening_edges;
mod key_rotation;
mod lambda_events;
mod mail_ceiling;
mod office_staff;
mod openapi_coverage;
mod operator;
mod pages;
mod pages_family;
mod pages_signup;
mod passwords;
mod purge;
mod secondary;
mod signals;
mod signup;
mod store_conformance;
