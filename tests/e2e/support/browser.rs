//! A minimal browser for the hosted pages over HTTP: keeps cookies (by hand, since the pages'
//! `__Host-` cookies are `Secure` and the test server is plain HTTP), follows no redirect by
//! itself, sends `Sec-Fetch-Site: same-origin` like a browser submitting the site's own form,
//! and fills a form's CSRF token from the last page it read.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

use super::app::TestApp;

pub struct Browser<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// The `csrf` value of the last page read that had one.
    pub csrf: Option<String>,
}

/// A page response.
pub struct PageReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
    /// The raw `Set-Cookie` values.
    pub set_cookies: Vec<String>,
}

impl PageReply {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "page: {}", self.html);
        self
    }

    /// Asserts a `303` to a path ending with `to` and returns the location.
    #[track_caller]
    pub fn expect_redirect(&self, to: &str) -> String {
        assert_eq!(self.status.as_u16(), 303, "page: {}", self.html);
        let location = self.location().expect("a Location").to_owned();
        assert!(
            location.split('?').next().unwrap_or("").ends_with(to),
            "redirected to {location}, not {to}"
        );
        location
    }

    /// The page's text without tags (for assertions on what a person reads).
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in self.html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&amp;", "&")
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            csrf: None,
        }
    }

    /// `/a/{account}/{page}`.
    pub fn path(&self, page: &str) -> String {
        self.app.at(page)
    }

    pub async fn get(&mut self, page: &str) -> PageReply {
        self.send(Method::GET, &self.path(page), None, &[]).await
    }

    /// GET a full path (e.g. a mailed link's path and query).
    pub async fn get_path(&mut self, path: &str) -> PageReply {
        self.send(Method::GET, path, None, &[]).await
    }

    /// Follows `303`s (GET) from a reply until a page.
    pub async fn follow(&mut self, mut reply: PageReply) -> PageReply {
        for _ in 0..5 {
            if reply.status != StatusCode::SEE_OTHER {
                return reply;
            }
            let location = reply.location().expect("a Location").to_owned();
            reply = self.send(Method::GET, &location, None, &[]).await;
        }
        reply
    }

    /// POSTs a form with the last page's CSRF token.
    pub async fn post(&mut self, page: &str, fields: &[(&str, &str)]) -> PageReply {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let body = encode(&all);
        self.send(Method::POST, &self.path(page), Some(body), &[])
            .await
    }

    /// POSTs raw form fields (no CSRF added) with extra headers: attacks.
    pub async fn post_raw(
        &mut self,
        page: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> PageReply {
        let body = encode(fields);
        self.send(Method::POST, &self.path(page), Some(body), headers)
            .await
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> PageReply {
        let mut req = self.client.request(method, self.app.url(path));
        if !self.cookies.is_empty() {
            let cookie: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", cookie.join("; "));
        }
        if headers.is_empty() {
            req = req.header("sec-fetch-site", "same-origin");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let html = resp.text().await.expect("body");
        let set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        if let Some(csrf) = attribute_after(&html, "name=\"csrf\" value=\"") {
            self.csrf = Some(csrf);
        }
        PageReply {
            status,
            headers,
            html,
            set_cookies,
        }
    }
}

/// The value of an attribute that follows `marker` in `html`, up to the closing quote.
pub fn attribute_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

/// `application/x-www-form-urlencoded`.
pub fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
