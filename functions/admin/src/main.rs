//! `portal-admin`: the ops command for a deployed stage. Same domain code as the Lambdas, on the
//! stage's DynamoDB table, with the standard AWS environment (region, credentials, profile,
//! `AWS_ENDPOINT_URL`). It never creates the table: a missing table is an error (deploy the stack
//! first).
//!
//! The owner's password is read from the terminal (a prompt without echo, asked twice) or, with
//! `--password-stdin`, as one line from standard input; never from an argument, which would land
//! in shell history and in the process list.
//!
//! Every change is written to the tenant's audit log with actor kind `operator` and the
//! operator's name: `--operator NAME`, else `$PORTAL_OPERATOR`, else `$USER`. The commands are
//! thin: the flows are the domain's (`portal_core::operator` and the modules it names).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use clap::{Args, Parser, Subcommand};
use portal_aws::{DynamoStore, SdkPolicy, SesMailer, SnsSender};
use portal_core::account::AccountName;
use portal_core::audit::Actor;
use portal_core::clock::{SystemClock, parse_rfc3339_millis, rfc3339_epoch};
use portal_core::contact::parse_text;
use portal_core::error::{Conflict, FieldErrors};
use portal_core::onboarding::NewTenant;
use portal_core::operator::{LoginName, StateChange};
use portal_core::passwords::PasswordHasherConfig;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::StoreError;
use portal_core::tenants::{DailyMailLimit, Settings, SettingsChange};
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

/// A subcommand's exit codes: the ones every command has, then its own, then the environment.
macro_rules! exit_codes {
    ($($own:literal),*) => {
        concat!(
            "Exit codes: 0 done; 1 failure (AWS unreachable, credentials refused, unexpected); \
             2 usage error (a change without an operator name too)",
            $("; ", $own,)*
            ".\n\nUses the standard AWS environment (AWS_PROFILE or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL). The table is \
             the stack output TableName. Changes are audited with the operator's name \
             (--operator, else PORTAL_OPERATOR, else USER)."
        )
    };
}

/// Every exit code (`portal-admin --help`).
const EXIT_CODES: &str = exit_codes!(
    "3 invalid input (every invalid field is listed)",
    "4 the tenant already exists",
    "5 the table, the tenant or the login does not exist"
);
const CREATE_EXIT: &str = exit_codes!(
    "3 invalid input (every invalid field is listed)",
    "4 the tenant already exists",
    "5 the table does not exist"
);
const TERMS_EXIT: &str = exit_codes!("3 invalid --version", "5 the table does not exist");
const TENANT_EXIT: &str = exit_codes!(
    "3 invalid input (every invalid field is listed)",
    "5 the table or the tenant does not exist"
);
const LIST_EXIT: &str = exit_codes!("5 the table does not exist");
const LOGIN_EXIT: &str = exit_codes!(
    "3 invalid input (every invalid field is listed)",
    "5 the table, the tenant or the login does not exist"
);
const LINK_EXIT: &str = exit_codes!(
    "2 also without a portal URL (--portal-url or PORTAL_URL)",
    "3 invalid --account",
    "5 the table or the tenant does not exist"
);

#[derive(Debug, Parser)]
#[command(
    name = "portal-admin",
    version,
    about = "Operate a deployed portal stage: tenants, suspension, sessions, logins, audit, \
             Terms & Conditions, SMS credits.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// The stage's DynamoDB table (stack output TableName).
    #[arg(long, global = true, env = "TABLE_NAME", value_name = "TABLE")]
    table: Option<String>,

    /// Who is running the command, for the tenant's audit log (actor kind `operator`); else
    /// $USER.
    #[arg(long, global = true, env = "PORTAL_OPERATOR", value_name = "NAME")]
    operator: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a tenant and its owner. The owner's password is read from the terminal (asked
    /// twice, not echoed) or, with --password-stdin, as one line from standard input.
    #[command(after_help = CREATE_EXIT)]
    CreateTenant(CreateTenant),
    /// Publish a new Terms & Conditions version: every staff member must accept it at their next
    /// request. (A platform record: no tenant's audit log.)
    #[command(after_help = TERMS_EXIT)]
    PublishTerms {
        /// The new version, e.g. 2026-07.
        #[arg(long, value_name = "VERSION")]
        version: String,
    },
    /// Add SMS credits to a tenant (a negative amount removes credits, never below zero).
    #[command(after_help = TENANT_EXIT)]
    AddSmsCredits {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// Credits to add; negative to remove.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        amount: i64,
    },
    /// Set a tenant's ceiling on validation-code and invitation mails per UTC day (default
    /// 1000), e.g. for a large school's start of term.
    #[command(after_help = TENANT_EXIT)]
    SetDailyMailLimit {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// Mails per UTC day, 1 to 1000000.
        #[arg(long, value_name = "N")]
        limit: i64,
    },
    /// Print a tenant's settings, suspension (and the current Terms & Conditions version) as
    /// JSON. No secrets are printed.
    #[command(after_help = TENANT_EXIT)]
    ShowTenant {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },
    /// Print every tenant as JSON lines, by account name: account, business_name, suspended
    /// (with suspended_at and suspension_reason), created_at.
    #[command(after_help = LIST_EXIT)]
    ListTenants,
    /// Suspend a tenant: its logins, sign-ups, invitation acceptance and reset requests answer
    /// 403 account_suspended, and every session it has ends now. Already suspended: nothing
    /// changes.
    #[command(after_help = TENANT_EXIT)]
    SuspendTenant {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// Why, for the audit log and list-tenants (up to 500 characters).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Lift a tenant's suspension (the sessions it ended stay ended).
    #[command(after_help = TENANT_EXIT)]
    ResumeTenant {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },
    /// Clear a login's failed attempts, so the next right password works at once.
    #[command(after_help = LOGIN_EXIT)]
    UnlockLogin {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        #[command(flatten)]
        user: User,
    },
    /// End one user's sessions (and reset links), or with no user every session of the tenant,
    /// however many: their next request answers 401.
    #[command(after_help = LOGIN_EXIT)]
    EndSessions {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        #[command(flatten)]
        user: AnyUser,
    },
    /// Print a single-use password reset link for the tenant's owner (valid 30 minutes; the
    /// same link and completion as the portal's), to hand over through a verified channel.
    #[command(after_help = LINK_EXIT)]
    OwnerResetLink {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// The portal's base URL (the stage's portalUrl context value), which the link starts with.
        #[arg(long, env = "PORTAL_URL", value_name = "URL")]
        portal_url: Option<String>,
    },
    /// Print a tenant's audit log as JSON lines, oldest first.
    #[command(after_help = TENANT_EXIT)]
    ExportAudit {
        /// The tenant's account name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// Only entries at or after this time (RFC 3339, e.g. 2026-07-01T00:00:00Z).
        #[arg(long, value_name = "RFC3339")]
        from: Option<String>,
        /// Only entries at or before this time, to the second (RFC 3339).
        #[arg(long, value_name = "RFC3339")]
        to: Option<String>,
    },
}

/// Exactly one user, by login.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct User {
    /// A staff member, by username.
    #[arg(long, value_name = "USERNAME")]
    staff_username: Option<String>,
    /// A guardian, by login email.
    #[arg(long, value_name = "EMAIL")]
    guardian_email: Option<String>,
}

/// At most one user, by login (none: the whole tenant).
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
struct AnyUser {
    /// A staff member, by username (without a user: every session of the tenant).
    #[arg(long, value_name = "USERNAME")]
    staff_username: Option<String>,
    /// A guardian, by login email (without a user: every session of the tenant).
    #[arg(long, value_name = "EMAIL")]
    guardian_email: Option<String>,
}

/// The login a pair of flags names, if any.
fn login_name(staff: &Option<String>, guardian: &Option<String>) -> Option<LoginName> {
    match (staff, guardian) {
        (Some(u), _) => Some(LoginName::Staff(u.clone())),
        (None, Some(e)) => Some(LoginName::Guardian(e.clone())),
        (None, None) => None,
    }
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
    /// The owner's first name.
    #[arg(long, value_name = "NAME")]
    owner_first_name: String,
    /// The owner's last name.
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
            DomainError::NotFound => Self::new(
                exit::NOT_FOUND,
                format!("no such login in tenant {account} (nothing was changed)"),
            ),
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
    let mut out = std::io::stdout().lock();
    match runtime.block_on(run(cli, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("portal-admin: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Writes one line of output (a JSON document).
fn emit(out: &mut dyn Write, line: &str) -> Result<(), Failure> {
    writeln!(out, "{line}")
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot write the output: {e}")))
}

/// The operator's name for the audit log: `--operator` / `PORTAL_OPERATOR`, else `USER`.
fn operator(given: Option<&str>) -> Result<Actor, Failure> {
    let from_user = std::env::var("USER").ok();
    let name = given
        .or(from_user.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                "no operator name: pass --operator NAME or set PORTAL_OPERATOR (or USER)",
            )
        })?;
    let name = parse_text(name, "operator", 100).map_err(|e| Failure::invalid(vec![e]))?;
    Ok(Actor::operator(&name))
}

/// Epoch milliseconds of an RFC 3339 flag.
fn parse_time(raw: &str, field: &str) -> Result<i64, FieldError> {
    parse_rfc3339_millis(raw).ok_or_else(|| {
        FieldError::new(
            field,
            "invalid",
            "use an RFC 3339 time, e.g. 2026-07-01T00:00:00Z",
        )
    })
}

async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), Failure> {
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
    let mut errors = FieldErrors::new();
    match &cli.command {
        Command::CreateTenant(args) => {
            // Every field but the password (not read yet).
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
        }
        Command::AddSmsCredits { account, .. }
        | Command::ShowTenant { account }
        | Command::SuspendTenant { account, .. }
        | Command::ResumeTenant { account }
        | Command::UnlockLogin { account, .. }
        | Command::EndSessions { account, .. } => {
            parse_account(account, &mut errors);
        }
        Command::OwnerResetLink {
            account,
            portal_url,
        } => {
            parse_account(account, &mut errors);
            if portal_url.as_deref().is_none_or(|u| u.trim().is_empty()) {
                return Err(Failure::new(
                    exit::USAGE,
                    "no portal URL: pass --portal-url URL or set PORTAL_URL (the stage's portalUrl)",
                ));
            }
        }
        Command::ExportAudit {
            account, from, to, ..
        } => {
            parse_account(account, &mut errors);
            if let Some(from) = from {
                errors.take(parse_time(from, "from"));
            }
            if let Some(to) = to {
                errors.take(parse_time(to, "to"));
            }
        }
        Command::SetDailyMailLimit { account, limit } => {
            parse_account(account, &mut errors);
            errors.take(DailyMailLimit::parse(*limit, "limit"));
        }
        Command::PublishTerms { version } => {
            errors.take(parse_text(version, "version", 64));
        }
        Command::ListTenants => {}
    }
    errors.finish().map_err(|e| Failure::domain(e, None))?;
    // Reads are not audited; publish-terms changes a platform record, in no tenant's log.
    let changes = !matches!(
        cli.command,
        Command::ShowTenant { .. }
            | Command::ListTenants
            | Command::ExportAudit { .. }
            | Command::PublishTerms { .. }
    );
    let actor = if changes {
        Some(operator(cli.operator.as_deref())?)
    } else {
        None
    };
    let actor = || actor.clone().expect("an operator for every change");

    let portal = connect(&table, &cli.command).await?;
    match cli.command {
        Command::CreateTenant(args) => {
            let created = create_tenant(&portal, args, actor()).await?;
            emit(out, &created)
        }
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
            emit(out, &json!({ "terms_version": current }).to_string())
        }
        Command::AddSmsCredits { account, amount } => {
            let account = account_name(&account);
            let credits = portal
                .add_sms_credits(&account, amount, actor())
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            emit(
                out,
                &json!({ "account": account, "sms_credits": credits }).to_string(),
            )
        }
        Command::SetDailyMailLimit { account, limit } => {
            let account = account_name(&account);
            let limit =
                DailyMailLimit::parse(limit, "limit").map_err(|e| Failure::invalid(vec![e]))?;
            let change = SettingsChange::default().with_daily_mail_limit(limit);
            let settings = portal
                .update_settings(&account, actor(), &change, None)
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            emit(
                out,
                &json!({ "account": account, "daily_mail_limit": settings.daily_mail_limit })
                    .to_string(),
            )
        }
        Command::ShowTenant { account } => show_tenant(&portal, &account, out).await,
        Command::ListTenants => {
            let mut after = None;
            loop {
                let page = portal
                    .list_tenants(after)
                    .await
                    .map_err(|e| Failure::domain(e, None))?;
                for tenant in &page.tenants {
                    emit(out, &json!(tenant).to_string())?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok(()),
                }
            }
        }
        Command::SuspendTenant { account, reason } => {
            let account = account_name(&account);
            let change = portal
                .suspend_tenant(&account, actor(), reason.as_deref())
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            if change == StateChange::Unchanged {
                eprintln!("portal-admin: tenant {account} was already suspended; nothing changed");
            } else {
                eprintln!(
                    "portal-admin: suspended tenant {account}; every session of it has ended"
                );
            }
            emit(
                out,
                &json!({"account": account, "suspended": true, "change": change}).to_string(),
            )
        }
        Command::ResumeTenant { account } => {
            let account = account_name(&account);
            let change = portal
                .resume_tenant(&account, actor())
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            if change == StateChange::Unchanged {
                eprintln!("portal-admin: tenant {account} was not suspended; nothing changed");
            }
            emit(
                out,
                &json!({"account": account, "suspended": false, "change": change}).to_string(),
            )
        }
        Command::UnlockLogin { account, user } => {
            let account = account_name(&account);
            let login = login_name(&user.staff_username, &user.guardian_email)
                .expect("clap requires one user");
            let user_id = portal
                .unlock_login(&account, &login, actor())
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            emit(
                out,
                &json!({"account": account, "user_id": user_id, "unlocked": true}).to_string(),
            )
        }
        Command::EndSessions { account, user } => {
            let account = account_name(&account);
            match login_name(&user.staff_username, &user.guardian_email) {
                Some(login) => {
                    let user_id = portal
                        .end_user_sessions(&account, &login, actor())
                        .await
                        .map_err(|e| Failure::domain(e, Some(&account)))?;
                    emit(
                        out,
                        &json!({"account": account, "scope": "user", "user_id": user_id})
                            .to_string(),
                    )
                }
                None => {
                    portal
                        .end_tenant_sessions(&account, actor())
                        .await
                        .map_err(|e| Failure::domain(e, Some(&account)))?;
                    emit(
                        out,
                        &json!({"account": account, "scope": "tenant"}).to_string(),
                    )
                }
            }
        }
        Command::OwnerResetLink { account, .. } => {
            let account = account_name(&account);
            let link = portal
                .owner_reset_link(&account, actor())
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            eprintln!(
                "portal-admin: a single-use reset link for the owner of {account}, valid until {}: hand it over through a verified channel only",
                link.expires_at
            );
            emit(out, &json!(link).to_string())
        }
        Command::ExportAudit { account, from, to } => {
            let account = account_name(&account);
            let from = from.as_deref().and_then(parse_rfc3339_millis);
            // Inclusive to the second (entries show whole seconds).
            let to = to
                .as_deref()
                .and_then(parse_rfc3339_millis)
                .map(|ms| ms.div_euclid(1000) * 1000 + 999);
            portal
                .tenant(&account)
                .await
                .map_err(|e| Failure::domain(e, Some(&account)))?;
            let mut after = None;
            loop {
                let page = portal
                    .audit_range_page(&account, from, to, after)
                    .await
                    .map_err(|e| Failure::domain(e, Some(&account)))?;
                for entry in &page.entries {
                    emit(out, &json!(entry).to_string())?;
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok(()),
                }
            }
        }
    }
}

async fn show_tenant(portal: &Portal, account: &str, out: &mut dyn Write) -> Result<(), Failure> {
    let account = account_name(account);
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
        "suspended": tenant.suspended.is_some(),
        "suspended_at": tenant.suspended.as_ref().map(|s| rfc3339_epoch(s.at)),
        "suspension_reason": tenant.suspended.and_then(|s| s.reason),
        "terms_version": terms,
        "settings": settings,
    });
    let text = serde_json::to_string_pretty(&shown)
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot print the tenant: {e}")))?;
    emit(out, &text)
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

async fn create_tenant(
    portal: &Portal,
    args: CreateTenant,
    actor: Actor,
) -> Result<String, Failure> {
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
            actor,
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
async fn connect(table: &str, command: &Command) -> Result<Portal, Failure> {
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
    // The admin sends no mail and no SMS and issues no session token, but the service needs
    // its ports: the real adapters (never called here) and a signer on a random key. Reset
    // links need no key (a random token stored by its hash), only the portal's URL.
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
        // Standard output is the command's answer: no metric lines in it.
        metrics: Arc::new(portal_core::metrics::NoMetrics),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer,
        portal_url: match command {
            Command::OwnerResetLink { portal_url, .. } => {
                portal_url.as_deref().unwrap_or_default().trim().to_owned()
            }
            _ => String::new(),
        },
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

    /// Every flag and subcommand says what it is, and every subcommand lists its exit codes.
    #[test]
    fn every_flag_and_subcommand_has_help() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        let check_args = |cmd: &clap::Command, missing: &mut Vec<String>| {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{} --{id}", cmd.get_name()));
                }
            }
        };
        check_args(&cli, &mut missing);
        for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
            if sub.get_about().is_none() {
                missing.push(format!("{} (about)", sub.get_name()));
            }
            let codes = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !codes.starts_with("Exit codes: 0 done; 1 failure") {
                missing.push(format!("{} (exit codes)", sub.get_name()));
            }
            check_args(sub, &mut missing);
        }
        assert!(missing.is_empty(), "without help: {missing:?}");
    }

    /// The top-level list names every code the command exits with.
    #[test]
    fn the_exit_codes_are_all_listed() {
        for code in [
            exit::FAILURE,
            exit::USAGE,
            exit::INVALID_INPUT,
            exit::EXISTS,
            exit::NOT_FOUND,
        ] {
            assert!(
                EXIT_CODES.contains(&format!("; {code} ")),
                "{code} in {EXIT_CODES}"
            );
        }
    }

    #[test]
    fn a_login_is_one_user_at_most() {
        let both = Cli::try_parse_from([
            "portal-admin",
            "unlock-login",
            "--account",
            "ab",
            "--staff-username",
            "u",
            "--guardian-email",
            "g@x.test",
        ])
        .unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
        let none =
            Cli::try_parse_from(["portal-admin", "unlock-login", "--account", "ab"]).unwrap_err();
        assert_eq!(none.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        Cli::try_parse_from(["portal-admin", "end-sessions", "--account", "ab"])
            .expect("end-sessions without a user: the whole tenant");
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
