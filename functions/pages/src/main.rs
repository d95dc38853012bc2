//! The `pages` Lambda function: the hosted pages (HTML) route group of the route table.

#[tokio::main]
async fn main() -> Result<(), portal_lambda::Error> {
    portal_lambda::run(portal_http::Function::Pages).await
}
