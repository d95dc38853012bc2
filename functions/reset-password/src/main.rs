//! The `reset-password` Lambda function: forgotten, reset, changed and office-set passwords.

#[tokio::main]
async fn main() -> Result<(), portal_lambda::Error> {
    portal_lambda::run(portal_http::Function::ResetPassword).await
}
