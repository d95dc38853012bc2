//! The page shell, the form parts every page uses, and the responses with the headers of
//! PAGES.md. All markup is maud: escaped by default; this file and its siblings never use
//! `PreEscaped`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use maud::{DOCTYPE, Markup, html};
use portal_core::DomainError;
use portal_core::error::FieldError;
use portal_core::tenants::TenantRecord;

use super::assets;
use super::messages::Msg;

/// The CSP of every page (PAGES.md): nothing inline, everything from this origin.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every page response carries.
fn page_headers(response: &mut Response<Bytes>, cookies: &[String], cache: &'static str) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// An HTML page.
pub(crate) fn html_response(
    status: StatusCode,
    body: Markup,
    cookies: &[String],
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.into_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    page_headers(&mut response, cookies, "no-store");
    response
}

/// `303 See Other` (post-redirect-get, and landing links losing their token).
pub(crate) fn see_other(location: &str, cookies: &[String]) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    page_headers(&mut response, cookies, "no-store");
    response
}

/// A static file or the theme: cacheable, with the same security headers.
pub(crate) fn asset_response(
    content_type: &'static str,
    body: impl Into<Bytes>,
    cache: &'static str,
) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    page_headers(&mut response, &[], cache);
    response
}

/// What the shell needs of the tenant.
pub(crate) struct Shell<'a> {
    pub(crate) account: &'a str,
    pub(crate) business_name: &'a str,
    /// Shown only when it is on the portal's own origin (the CSP allows images from `'self'`
    /// alone); otherwise the business name stands in its place.
    pub(crate) logo_url: Option<&'a str>,
}

impl<'a> Shell<'a> {
    pub(crate) fn of(tenant: &'a TenantRecord, portal_url: &str) -> Self {
        let origin = origin_of(portal_url);
        let logo_url = tenant
            .branding
            .logo_url
            .as_deref()
            .filter(|url| origin_of(url) == origin && !origin.is_empty());
        Shell {
            account: &tenant.account,
            business_name: &tenant.business_name,
            logo_url,
        }
    }

    /// A path of this tenant's pages.
    pub(crate) fn path(&self, page: &str) -> String {
        format!("/a/{}/{page}", self.account)
    }

    /// The whole document: title, banner with the business, main content.
    pub(crate) fn page(&self, title: &str, content: Markup) -> Markup {
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " – " (self.business_name) }
                    link rel="stylesheet" href=(self.path(&format!("assets/{}", assets::stylesheet_name())));
                    link rel="stylesheet" href=(self.path("theme.css"));
                }
                body {
                    a.skip href="#main" { (Msg::SkipToContent) }
                    header.brand {
                        div.wrap {
                            @if let Some(logo) = self.logo_url {
                                img src=(logo) alt=(self.business_name);
                            } @else {
                                p { (self.business_name) }
                            }
                        }
                    }
                    main #main .wrap {
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
    }
}

/// `scheme://host[:port]` of a URL (empty when it has none).
pub(crate) fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

/// The errors of a submitted form: by field, and those of the form as a whole.
#[derive(Debug, Default)]
pub(crate) struct FormErrors {
    pub(crate) fields: BTreeMap<String, String>,
    pub(crate) general: Vec<String>,
}

impl FormErrors {
    pub(crate) fn none() -> Self {
        Self::default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    pub(crate) fn general(msg: impl Into<String>) -> Self {
        Self {
            fields: BTreeMap::new(),
            general: vec![msg.into()],
        }
    }

    pub(crate) fn field(&mut self, name: &str, msg: impl Into<String>) {
        self.fields
            .entry(name.to_owned())
            .or_insert_with(|| msg.into());
    }

    /// A domain error in words: field errors by field (renamed through `rename`, for forms
    /// whose field names differ from the API's), anything else for the form.
    pub(crate) fn from_domain(err: &DomainError, rename: &[(&str, &str)]) -> Self {
        let mut errors = Self::default();
        match err {
            DomainError::Validation(list) => {
                for e in list {
                    let name = rename
                        .iter()
                        .find(|(api, _)| *api == e.field)
                        .map_or(e.field.as_str(), |(_, form)| form);
                    errors.field(name, field_message(e));
                }
            }
            other => errors.general.push(error_message(other)),
        }
        errors
    }

    /// The error summary: announced by screen readers, each entry a link to its field.
    pub(crate) fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div.error-summary role="alert" aria-labelledby="error-summary-title" {
                    h2 #error-summary-title { (Msg::ErrorSummaryTitle) }
                    ul {
                        @for msg in &self.general {
                            li { (msg) }
                        }
                        @for (field, msg) in &self.fields {
                            li { a href=(format!("#{}", field_id(field))) { (msg) } }
                        }
                    }
                }
            }
        }
    }
}

/// A domain error (not a field error) in words, from the catalogue by its API code.
pub(crate) fn error_message(err: &DomainError) -> String {
    let code = crate::problem::code_of(err);
    match err {
        DomainError::TooManyAttempts { retry_after } => {
            let minutes = ((retry_after + 59) / 60).max(1).to_string();
            Msg::ErrorTooManyAttempts.fill(&[("minutes", &minutes)])
        }
        DomainError::WrongCurrentPassword => Msg::ErrorWrongCurrentPassword.en().to_owned(),
        _ => Msg::by_id(&format!("error.{code}"))
            .unwrap_or(Msg::ErrorGeneric)
            .en()
            .to_owned(),
    }
}

/// A field error in words.
pub(crate) fn field_message(e: &FieldError) -> String {
    match e.code {
        "password_policy" => {
            let min = portal_core::passwords::MIN_LENGTH.to_string();
            let max = portal_core::passwords::MAX_LENGTH.to_string();
            let rules: Vec<String> = e
                .rules
                .iter()
                .flatten()
                .filter_map(|r| Msg::by_id(&format!("rule.{r}")))
                .map(|m| m.fill(&[("min", &min), ("max", &max)]))
                .collect();
            Msg::FieldPasswordPolicy.fill(&[("rules", &rules.join(", "))])
        }
        code => match Msg::by_id(&format!("field.{code}")) {
            Some(m) => m.en().to_owned(),
            // A code without its own text: the domain's own words for the rule.
            None => e.detail.clone(),
        },
    }
}

/// The element id of a field (`guardian.first_name` → `f-guardian-first_name`).
pub(crate) fn field_id(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("f-{cleaned}")
}

/// A text-like input with its label, hint and error.
pub(crate) struct Input<'a> {
    pub(crate) name: &'a str,
    pub(crate) label: &'a str,
    pub(crate) kind: &'static str,
    pub(crate) value: &'a str,
    pub(crate) autocomplete: &'static str,
    pub(crate) required: bool,
    pub(crate) hint: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub(crate) fn new(name: &'a str, label: &'a str, kind: &'static str) -> Self {
        Self {
            name,
            label,
            kind,
            value: "",
            autocomplete: "off",
            required: true,
            hint: None,
        }
    }

    pub(crate) fn value(mut self, value: &'a str) -> Self {
        self.value = value;
        self
    }

    pub(crate) fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }

    pub(crate) fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    pub(crate) fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub(crate) fn render(&self, errors: &FormErrors) -> Markup {
        let id = field_id(self.name);
        let error = errors.fields.get(self.name);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let described: Vec<&str> = [
            self.hint.map(|_| hint_id.as_str()),
            error.map(|_| error_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Passwords are never echoed back into a page.
        let value = if self.kind == "password" {
            ""
        } else {
            self.value
        };
        html! {
            div.field.invalid[error.is_some()] {
                label for=(id) { (self.label) }
                @if let Some(hint) = self.hint {
                    p.hint #(hint_id) { (hint) }
                }
                @if let Some(error) = error {
                    p.field-error #(error_id) { (error) }
                }
                input #(id) name=(self.name) type=(self.kind) value=(value)
                    autocomplete=(self.autocomplete) required[self.required]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
            }
        }
    }
}

/// A checkbox with its label (and error).
pub(crate) fn checkbox(name: &str, label: &str, checked: bool, errors: &FormErrors) -> Markup {
    let id = field_id(name);
    let error = errors.fields.get(name);
    let error_id = format!("{id}-error");
    html! {
        @if let Some(error) = error {
            p.field-error #(error_id) { (error) }
        }
        div.check {
            input #(id) type="checkbox" name=(name) value="yes" checked[checked]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| error_id.as_str())];
            label for=(id) { (label) }
        }
    }
}

/// A `<select>` with its label.
pub(crate) fn select(
    name: &str,
    label: &str,
    options: &[(&str, Msg)],
    selected: &str,
    errors: &FormErrors,
) -> Markup {
    let id = field_id(name);
    let error = errors.fields.get(name);
    let error_id = format!("{id}-error");
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) }
            @if let Some(error) = error {
                p.field-error #(error_id) { (error) }
            }
            select #(id) name=(name) aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| error_id.as_str())] {
                @for (value, text) in options {
                    option value=(value) selected[*value == selected] { (text) }
                }
            }
        }
    }
}

/// A form posting to `action` with its CSRF token.
pub(crate) fn form(action: &str, csrf: &str, content: Markup) -> Markup {
    html! {
        form method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (content)
        }
    }
}

/// A form that is only a button (sign out, resend, cancel, revoke…).
pub(crate) fn button_form(action: &str, csrf: &str, label: &str, secondary: bool) -> Markup {
    html! {
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            @if secondary {
                button.secondary type="submit" { (label) }
            } @else {
                button type="submit" { (label) }
            }
        }
    }
}

/// A confirmation after a redirect.
pub(crate) fn notice(msg: Option<Msg>) -> Markup {
    html! {
        @if let Some(msg) = msg {
            div.notice role="status" { p { (msg) } }
        }
    }
}
