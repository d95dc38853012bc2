//! `portal-admin`: the ops command for a deployed stage. Same domain code as the Lambdas, on the
//! stage's DynamoDB table, with the standard AWS environment (region, credentials, profile,
//! `AWS_ENDPOINT_URL`). It never creates the table: a missing table is an error (deploy the stack
//! first).
//!
//! The owner's password is read from the terminal (a prompt without echo, asked twice) or, with
//! `--password-stdin`, as one line from standard input; never from an argument, which would land
//! in shell history and in the process list.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use clap::{Args, Parser, Subcommand};
use portal_aws::{DynamoStore, SdkPolicy, SesMailer, SnsSender};
use portal_core::account::AccountName;
use portal_core::clock::{SystemClock, rfc3339_epoch};
use portal_core::contact::parse_text;
use portal_core::error::{Conflict, FieldErrors};
use portal_core::onboarding::NewTenant;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::StoreError;
use portal_core::tenants::{Settings, SettingsChange};
use portal_core::token_signer::TokenSigner;
use portal_core::{DomainError, FieldError, Portal};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// `portal_aws::sdk_config`'s environment with longer timeouts: the Lambdas' 2 s per attempt and
/// 5 s per operation serve a 10 s function budget; an operator's command has none, and a
/// create-tenant whose transaction timed out after it was applied would be retried into a
/// misleading "already exists".
const OPS_POLICY: SdkPolicy = SdkPolicy {
    attempt_timeout: Duration::from_secs(20),
    operation_timeout: Duration::from_secs(60),
    ..SdkPolicy::DEFAULT
};

/// Exit codes (also in `--help`).
mod exit {
    /// AWS unreachable, credentials refused, anything unexpected.
    pub const FAILURE: u8 = 1;
    /// Usage error (clap's own code).
    pub const USAGE: u8 = 2;
    pub const INVALID_INPUT: u8 = 3;
    pub const EXISTS: u8 = 4;
    pub const NOT_FOUND: u8 = 5;
}

const EXIT_CODES: &str = "\
Exit codes: 0 done; 1 failure (AWS unreachable, credentials refused, unexpected); 2 usage error; \
3 invalid input (every invalid field is listed); 4 the tenant already exists; 5 the table or the \
tenant does not exist.

Uses the standard AWS environment (AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
AWS_REGION, AWS_ENDPOINT_URL). The table is the stack output TableName.";

#[derive(Debug, Parser)]
#[command(
    name = "portal-admin",
    version,
    about = "Operate a deployed portal stage: tenants, Terms & Conditions, SMS credits.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// The stage's DynamoDB table (stack output TableName).
    #[arg(long, global = true, env = "TABLE_NAME", value_name = "TABLE")]
    table: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a tenant and its owner. The owner's password is read from the terminal (asked
    /// twice, not echoed) or, with --password-stdin, as one line from standard input.
    #[command(after_help = EXIT_CODES)]
    CreateTenant(CreateTenant),
    /// Publish a new Terms & Conditions version: every staff member must accept it at their next
    /// request.
    #[command(after_help = EXIT_CODES)]
    PublishTerms {
        /// The new version, e.g. 2026-07.
        #[arg(long, value_name = "VERSION")]
        version: String,
    },
    /// Add SMS credits to a tenant (a negative amount removes credits, never below zero).
    #[command(after_help = EXIT_CODES)]
    AddSmsCredits {
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// Credits to add; negative to remove.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        amount: i64,
    },
    /// Print a tenant's settings (and the current Terms & Conditions version) as JSON. No
    /// secrets are printed.
    #[command(after_help = EXIT_CODES)]
    ShowTenant {
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },
}

#[derive(Debug, Args)]
struct CreateTenant {
    /// Account name: 2 to 63 lower-case letters, digits and '-' (the /a/{account} of every URL).
    #[arg(long, value_name = "ACCOUNT")]
    account: String,
    /// The business's name as customers see it.
    #[arg(long, value_name = "NAME")]
    business_name: String,
    /// The owner's username (sign-in name).
    #[arg(long, value_name = "USERNAME")]
    owner_username: String,
    #[arg(long, value_name = "NAME")]
    owner_first_name: String,
    #[arg(long, value_name = "NAME")]
    owner_last_name: String,
    /// The owner's email (optional; where password resets go).
    #[arg(long, value_name = "EMAIL")]
    owner_email: Option<String>,
    /// The owner's mobile phone, E.164 (optional), e.g. +61400000000.
    #[arg(long, value_name = "PHONE")]
    owner_phone: Option<String>,
    /// Read the owner's password as one line from standard input instead of prompting.
    #[arg(long)]
    password_stdin: bool,
}

/// A failure to report: the message for stderr and the exit code.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn invalid(errors: Vec<FieldError>) -> Self {
        let mut message = String::from("invalid input:");
        for e in errors {
            message.push_str(&format!("\n  {}: {}", flag_name(&e.field), e.detail));
            if let Some(rules) = &e.rules {
                message.push_str(&format!(" (failed: {})", rules.join(", ")));
            }
            message.push_str(&format!(" [{}]", e.code));
        }
        Self::new(exit::INVALID_INPUT, message)
    }

    fn domain(e: DomainError, account: Option<&AccountName>) -> Self {
        let account = account.map(|a| a.as_str()).unwrap_or("?");
        match e {
            DomainError::Validation(errors) => Self::invalid(errors),
            DomainError::Conflict(Conflict::AccountExists) => Self::new(
                exit::EXISTS,
                format!("tenant {account} already exists (nothing was changed)"),
            ),
            DomainError::AccountNotFound => {
                Self::new(exit::NOT_FOUND, format!("tenant {account} does not exist"))
            }
            DomainError::Store(StoreError::Unavailable(reason)) => Self::new(
                exit::FAILURE,
                format!(
                    "DynamoDB is unavailable ({reason}); nothing or only part may have been done: check with show-tenant"
                ),
            ),
            other => Self::new(exit::FAILURE, other.to_string()),
        }
    }
}

/// The command-line name of a domain field: `owner.first_name` → `--owner-first-name`; the
/// password is not an argument.
fn flag_name(field: &str) -> String {
    if field == "owner.password" || field == "password" {
        return "owner password (stdin)".into();
    }
    format!("--{}", field.replace(['.', '_'], "-"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portal-admin: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{output}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("portal-admin: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(cli: Cli) -> Result<String, Failure> {
    let table = match cli.table.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => {
            return Err(Failure::new(
                exit::USAGE,
                "no table: pass --table TABLE or set TABLE_NAME (the stack output TableName)",
            ));
        }
    };
    // Arguments first, so a typo fails before any AWS call or password prompt.
    match &cli.command {
        Command::CreateTenant(args) => {
            // Every field but the password (not read yet).
            let mut errors = FieldErrors::new();
            parse_account(&args.account, &mut errors);
            if let Err(e) = parse_tenant(args, None) {
                match e {
                    DomainError::Validation(es) => es
                        .into_iter()
                        .filter(|e| e.field != "owner.password")
                        .for_each(|e| errors.push(e)),
                    other => return Err(Failure::domain(other, None)),
                }
            }
            errors.finish().map_err(|e| Failure::domain(e, None))?;
        }
        Command::AddSmsCredits { account, .. } | Command::ShowTenant { account } => {
            let mut errors = FieldErrors::new();
            parse_account(account, &mut errors);
            errors.finish().map_err(|e| Failure::domain(e, None))?;
        }
        Command::PublishTerms { version } => {
            parse_text(version, "version", 64).map_err(|e| Failure::invalid(vec![e]))?;
        }
    }

    let portal = connect(&table).await?;
    match cli.command {
        Command::CreateTenant(args) => create_tenant(&portal, args).await,
        Command::PublishTerms { version } => {
            portal
                .publish_terms(&version)
                .await
                .map_err(|e| Failure::domain(e, None))?;
            let current = portal
                .current_terms()
                .await
                .map_err(|e| Failure::domain(e, None))?;
            eprintln!(
                "portal-admin: published Terms & Conditions {current}: staff must accept it at their next request"
            );
            Ok(json!({ "terms_version": current }).to_string())
        }
        Command::AddSmsCredits { account, amount } => {
            let account = account_name(&account);
            let credits = portal
                .add_sms_credits(&account, amount)
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            Ok(json!({ "account": account, "sms_credits": credits }).to_string())
        }
        Command::ShowTenant { account } => {
            let account = account_name(&account);
            let tenant = portal
                .tenant(&account)
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            let settings: Settings = portal
                .settings(&account)
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            let terms = portal
                .current_terms()
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            let shown = json!({
                "account": tenant.account,
                "owner_staff_id": tenant.owner_staff_id,
                "created_at": rfc3339_epoch(tenant.created_at),
                "terms_version": terms,
                "settings": settings,
            });
            serde_json::to_string_pretty(&shown)
                .map_err(|e| Failure::new(exit::FAILURE, format!("cannot print the tenant: {e}")))
        }
    }
}

fn parse_account(raw: &str, errors: &mut FieldErrors) -> Option<AccountName> {
    let parsed = AccountName::parse(raw.trim());
    if parsed.is_none() {
        errors.push(FieldError::new(
            "account",
            "invalid",
            "use 2 to 63 lower-case letters, digits and '-', starting with a letter or digit",
        ));
    }
    parsed
}

/// An account already checked by [`parse_account`] in `run`.
fn account_name(raw: &str) -> AccountName {
    AccountName::parse(raw.trim()).expect("checked before connecting")
}

/// The business name and the owner, every invalid field listed at once.
fn parse_tenant(
    args: &CreateTenant,
    password: Option<SecretString>,
) -> Result<(String, NewStaff), DomainError> {
    let mut errors = FieldErrors::new();
    let business_name = errors.take(parse_text(&args.business_name, "business_name", 200));
    let owner = match NewStaff::parse(
        StaffInput {
            username: Some(args.owner_username.clone()),
            first_name: Some(args.owner_first_name.clone()),
            last_name: Some(args.owner_last_name.clone()),
            email: args.owner_email.clone(),
            phone: args.owner_phone.clone(),
            password,
            user_group_id: None,
            advanced_permissions: None,
        },
        "owner.",
    ) {
        Ok(owner) => Some(owner),
        Err(DomainError::Validation(es)) => {
            es.into_iter().for_each(|e| errors.push(e));
            None
        }
        Err(e) => return Err(e),
    };
    errors.finish()?;
    match (business_name, owner) {
        (Some(business_name), Some(owner)) => Ok((business_name, owner)),
        _ => Err(DomainError::Internal("validation lost an error".into())),
    }
}

async fn create_tenant(portal: &Portal, args: CreateTenant) -> Result<String, Failure> {
    let account = account_name(&args.account);
    let password = read_password(args.password_stdin)?;
    let (business_name, owner) =
        parse_tenant(&args, Some(password)).map_err(|e| Failure::domain(e, Some(&account)))?;
    let username = owner.username.as_str().to_owned();
    let owner_staff_id = portal
        .create_tenant(NewTenant {
            account: account.clone(),
            business_name,
            owner,
            settings: SettingsChange::default(),
            sms_credits: 0,
        })
        .await
        .map_err(|e| Failure::domain(e, Some(&account)))?;
    eprintln!("portal-admin: created tenant {account} with owner {username} ({owner_staff_id})");
    Ok(json!({ "account": account, "owner_staff_id": owner_staff_id }).to_string())
}

/// The owner's password: one line of standard input with `--password-stdin`, else a prompt on
/// the terminal (asked twice). Never an argument.
fn read_password(from_stdin: bool) -> Result<SecretString, Failure> {
    let io_failure =
        |e: std::io::Error| Failure::new(exit::FAILURE, format!("cannot read the password: {e}"));
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(io_failure)?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        return Ok(SecretString::from(line));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            exit::USAGE,
            "standard input is not a terminal: pass --password-stdin to read the owner's password from it",
        ));
    }
    let first =
        SecretString::from(rpassword::prompt_password("Owner password: ").map_err(io_failure)?);
    let again = SecretString::from(
        rpassword::prompt_password("Owner password again: ").map_err(io_failure)?,
    );
    if first.expose_secret() != again.expose_secret() {
        return Err(Failure::new(
            exit::INVALID_INPUT,
            "the two passwords differ; nothing was changed",
        ));
    }
    Ok(first)
}

/// The domain service on the stage's table, after checking that the table exists.
async fn connect(table: &str) -> Result<Portal, Failure> {
    let config = OPS_POLICY
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await;
    if config.region().is_none() {
        return Err(Failure::new(
            exit::FAILURE,
            "no AWS region: set AWS_REGION (or a profile with a region)",
        ));
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    // A missing table would only surface as "store unavailable" from the first read: ask first.
    match dynamodb.describe_table().table_name(table).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Err(Failure::new(
                exit::NOT_FOUND,
                format!("table {table} does not exist (deploy the stack first)"),
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                exit::FAILURE,
                format!(
                    "cannot describe table {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ),
            ));
        }
    }
    // The admin sends no mail and no SMS and issues no token, but the service needs its ports:
    // the real adapters (never called here) and a signer on a random key.
    let mail_from = std::env::var("MAIL_FROM").unwrap_or_else(|_| "no-reply@invalid".into());
    let key = portal_core::tokens::new_token()
        .map_err(|e| Failure::domain(e.into(), None))?
        .0
        .into_bytes();
    let signer = TokenSigner::new(&key.into()).map_err(|e| Failure::domain(e, None))?;
    Ok(Portal {
        store: Arc::new(DynamoStore::new(dynamodb, table)),
        mailer: Arc::new(SesMailer::new(
            aws_sdk_sesv2::Client::new(&config),
            mail_from,
        )),
        sms: Arc::new(SnsSender::new(aws_sdk_sns::Client::new(&config))),
        clock: Arc::new(SystemClock),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer,
        portal_url: std::env::var("PORTAL_URL").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn there_is_no_password_argument() {
        let err = Cli::try_parse_from([
            "portal-admin",
            "--table",
            "t",
            "create-tenant",
            "--account",
            "ab",
            "--business-name",
            "B",
            "--owner-username",
            "u",
            "--owner-first-name",
            "F",
            "--owner-last-name",
            "L",
            "--password",
            "Sw1m-Sch00l!x",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn fields_are_named_as_flags() {
        assert_eq!(flag_name("owner.first_name"), "--owner-first-name");
        assert_eq!(flag_name("business_name"), "--business-name");
        assert_eq!(flag_name("owner.password"), "owner password (stdin)");
    }
}
