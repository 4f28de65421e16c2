//! Redaction: secret values never reach an output, a log or an error message, in any form.
//!
//! Two rules, applied where text leaves the process (stderr, stdout, a webhook) and where an error
//! message is made (AWS and Kubernetes errors, job log tails):
//!
//! - **By value** ([`Secrets`], and the process-wide set behind [`register`]): every secret value
//!   empi-infra holds (the generated DB password and Django key, the copies of the user's secrets,
//!   the AWS credentials of the environment) is registered when it is read or made, and any copy of
//!   it becomes [`SENSITIVE`] — also its derived forms: upper- and lower-cased, reversed, base64
//!   (standard and URL-safe, padded or not, and embedded in a longer base64 string, as a Kubernetes
//!   Secret holds a file), hex, percent-encoded and JSON-escaped; and any piece of at least
//!   [`FRAGMENT`] characters of any of those (a half of a password, the middle of its base64). The
//!   match is one pass over the text with a set of [`FRAGMENT`]-character windows, so its cost is
//!   linear in the text's length whatever the number of secrets.
//! - **By key** ([`message`] only): what an error message holds after a key named like a secret
//!   (`"SecretString": "…"`, `password=…`, `X-Amz-Security-Token=…`), a URL's password
//!   (`postgres://user:…@host`) and the value of AWS's `Value '…' at 'secretString'` are withheld,
//!   for a secret empi-infra never saw (an endpoint echoing a request or answer it was not asked
//!   for). Outputs that are documents (plans, drift reports) get only the rule by value: a script in a
//!   manifest that says `password=master["password"]` is shown as it is applied.
//!
//! Values shorter than [`MIN_SECRET`] are not registered: matching them would garble ordinary text
//! (`test` is the local cloud's secret key), and no secret empi-infra makes or is given is that short.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::RwLock;

use serde_json::Value;

use crate::resource::{SENSITIVE, UNKNOWN};

/// The shortest value [`register`] takes as a secret.
pub const MIN_SECRET: usize = 8;

/// The shortest piece of a secret (or of one of its encodings) that is redacted on its own.
pub const FRAGMENT: usize = 12;

/// A set of secret values and every form of them that is redacted.
#[derive(Default)]
pub struct Secrets {
    /// Every `FRAGMENT`-byte window of every form, ASCII-lower-cased.
    windows: HashSet<[u8; FRAGMENT]>,
    /// Forms shorter than `FRAGMENT` (a short secret itself), lower-cased; matched whole.
    short: Vec<Vec<u8>>,
    /// The values added, to add each once.
    seen: HashSet<String>,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Secrets of these values.
    pub fn of<S: AsRef<str>>(values: &[S]) -> Secrets {
        let mut s = Secrets::new();
        for v in values {
            s.add(v.as_ref());
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Adds a secret value (and its derived forms); `false` when it is too short or known already.
    pub fn add(&mut self, secret: &str) -> bool {
        if secret.len() < MIN_SECRET || secret == SENSITIVE || !self.seen.insert(secret.to_string())
        {
            return false;
        }
        for form in forms(secret.as_bytes()) {
            let form = form.to_ascii_lowercase();
            if form.len() >= FRAGMENT {
                for w in form.windows(FRAGMENT) {
                    self.windows.insert(w.try_into().expect("a window of FRAGMENT bytes"));
                }
            } else if form.len() >= MIN_SECRET && !self.short.contains(&form) {
                self.short.push(form);
            }
        }
        true
    }

    /// The byte ranges of `text` that hold a secret in some form: merged, on character boundaries.
    pub fn ranges(&self, text: &str) -> Vec<Range<usize>> {
        if self.is_empty() || text.len() < MIN_SECRET {
            return Vec::new();
        }
        let lower = text.as_bytes().to_ascii_lowercase();
        let mut found: Vec<Range<usize>> = Vec::new();
        let mut mark = |r: Range<usize>| match found.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => found.push(r),
        };
        if !self.windows.is_empty() && lower.len() >= FRAGMENT {
            for (i, w) in lower.windows(FRAGMENT).enumerate() {
                if self
                    .windows
                    .contains(<&[u8; FRAGMENT]>::try_from(w).expect("a window of FRAGMENT bytes"))
                {
                    mark(i..i + FRAGMENT);
                }
            }
        }
        for s in &self.short {
            let mut at = 0;
            while let Some(i) = find(&lower[at..], s) {
                mark(at + i..at + i + s.len());
                at += i + 1;
            }
        }
        found.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for mut r in found {
            while !text.is_char_boundary(r.start) {
                r.start -= 1;
            }
            while !text.is_char_boundary(r.end) {
                r.end += 1;
            }
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }

    /// Whether `text` holds a secret in some form.
    pub fn contains(&self, text: &str) -> bool {
        !self.ranges(text).is_empty()
    }

    /// `text` with every secret in it, in any form, replaced by [`SENSITIVE`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let ranges = self.ranges(text);
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for r in ranges {
            out.push_str(&text[at..r.start]);
            out.push_str(SENSITIVE);
            at = r.end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The forms of a secret that are looked for (each also in any letter case, and any piece of
/// [`FRAGMENT`] characters of each).
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![secret.to_vec(), secret.iter().rev().copied().collect()];
    // the encodings of the value as it is and lower- and upper-cased (a base64 or hex of a
    // lower-cased copy is not a case change of the original's)
    let mut cased = vec![secret.to_vec(), secret.to_ascii_lowercase(), secret.to_ascii_uppercase()];
    cased.dedup();
    for v in &cased {
        for alignment in 0..3 {
            let core = base64_core(v, alignment);
            out.push(core.iter().map(|&c| url_safe(c)).collect());
            out.push(core);
        }
        out.push(hex::encode(v).into_bytes());
        out.push(percent(v, false));
        out.push(percent(v, true));
        out.push(v.iter().flat_map(|b| format!("%{b:02X}").into_bytes()).collect());
        if let Ok(s) = std::str::from_utf8(v) {
            let json = serde_json::to_string(s).unwrap_or_default();
            out.push(json.trim_matches('"').as_bytes().to_vec());
        }
    }
    out.sort();
    out.dedup();
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 without padding.
fn base64(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize]);
        }
    }
    out
}

fn url_safe(c: u8) -> u8 {
    match c {
        b'+' => b'-',
        b'/' => b'_',
        c => c,
    }
}

/// The characters of the base64 of a longer text that hold `secret` starting `alignment` bytes
/// into a 3-byte group: only those that depend on the secret's bytes alone, so they are the same
/// whatever comes before and after it.
fn base64_core(secret: &[u8], alignment: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; alignment];
    bytes.extend_from_slice(secret);
    let enc = base64(&bytes);
    // characters that also hold bits of the bytes before: none, two (one of them wholly), three
    let skip = [0, 2, 3][alignment];
    // the last character of a partial group also holds bits of the byte after
    let cut = usize::from(bytes.len() % 3 != 0);
    if enc.len() < skip + cut {
        return Vec::new();
    }
    enc[skip..enc.len() - cut].to_vec()
}

/// Percent-encoding (RFC 3986: unreserved characters kept); `form`: a space as `+`, as HTML forms
/// and `application/x-www-form-urlencoded` bodies write it.
fn percent(v: &[u8], form: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b),
            b' ' if form => out.push(b'+'),
            b => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
    out
}

// ── the process's secrets ──────────────────────────────────────────────────────────

static SECRETS: RwLock<Option<Secrets>> = RwLock::new(None);

/// Registers a secret value this process holds: from now on it (in any form) is redacted from
/// everything [`values`], [`message`] and [`json`] see.
pub fn register(secret: &str) {
    if secret.len() < MIN_SECRET {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    s.get_or_insert_with(Secrets::new).add(secret);
}

fn with<T>(f: impl FnOnce(&Secrets) -> T, none: T) -> T {
    let s = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    match s.as_ref() {
        Some(s) if !s.is_empty() => f(s),
        _ => none,
    }
}

/// Whether `text` holds a registered secret in some form.
pub fn contains(text: &str) -> bool {
    with(|s| s.contains(text), false)
}

/// `text` with every registered secret, in any form, replaced by [`SENSITIVE`]: for documents
/// and reports (plans, drift), where only values are redacted.
pub fn values(text: &str) -> Cow<'_, str> {
    with(|s| Cow::Owned(s.redact(text).into_owned()), Cow::Borrowed(text))
}

/// Every string of a JSON document through [`values`] (keys too).
pub fn json(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(r) = values(s) {
                *s = r;
            }
        }
        Value::Array(xs) => xs.iter_mut().for_each(json),
        Value::Object(m) => {
            if m.keys().any(|k| contains(k)) {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    json(&mut x);
                    m.insert(values(&k).into_owned(), x);
                }
            } else {
                m.values_mut().for_each(json);
            }
        }
        _ => {}
    }
}

/// An error message, a log line or a job's log as it may be shown: registered secrets in any form
/// replaced ([`values`]), and what follows a secret-named key, a URL's password and the value of
/// AWS's `Value '…' at '<secret member>'` withheld ([`by_key`]).
pub fn message(text: &str) -> String {
    by_key(&values(text)).into_owned()
}

// ── by key ───────────────────────────────────────────────────────────────────────

/// Key names (lower-cased, without `_`, `-` and `.`) whose values are secrets: a key ending in one.
const SECRET_KEY_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "secretstring",
    "secretbinary",
    "secretkey",
    "secretaccesskey",
    "privatekey",
    "apikey",
    "token",
];

/// Whether a key names a secret (`password`, `DB_PASSWORD`, `client_secret`, `SecretString`,
/// `X-Amz-Security-Token`; not `secret_name` or `password_history_size`).
pub fn secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    !k.is_empty() && SECRET_KEY_ENDINGS.iter().any(|e| k.ends_with(e))
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// What follows a secret-named key, a URL's password, and the value of AWS's validation message
/// `Value '…' at '<member>'` for a secret-named member, withheld (replaced by [`SENSITIVE`]).
/// Placeholders, empty values, booleans, objects and lists after such a key are left alone.
pub fn by_key(text: &str) -> Cow<'_, str> {
    let mut cut: Vec<Range<usize>> = Vec::new();
    cut.extend(keyed_values(text));
    cut.extend(url_passwords(text));
    cut.extend(validation_values(text));
    if cut.is_empty() {
        return Cow::Borrowed(text);
    }
    cut.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in cut {
        if r.start < at {
            at = at.max(r.end);
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(SENSITIVE);
        at = r.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// A quote that opens a value: `"`, `'`, or one of them escaped once (`\"` inside a JSON string).
fn quote_at(b: &[u8], i: usize) -> Option<&'static [u8]> {
    match (b.get(i), b.get(i + 1)) {
        (Some(b'"'), _) => Some(b"\""),
        (Some(b'\''), _) => Some(b"'"),
        (Some(b'\\'), Some(b'"')) => Some(b"\\\""),
        (Some(b'\\'), Some(b'\'')) => Some(b"\\'"),
        _ => None,
    }
}

/// Where a value opened by `quote` at `start` ends: its closing quote (one not escaped at the
/// quote's level), else the end of the line.
fn value_end(b: &[u8], start: usize, quote: Option<&[u8]>) -> usize {
    let eol = b[start..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| start + i);
    let Some(q) = quote else {
        return b[start..eol]
            .iter()
            .position(|&c| {
                c.is_ascii_whitespace()
                    || matches!(
                        c,
                        b',' | b';' | b'&' | b'}' | b')' | b']' | b'"' | b'\'' | b'<' | b'\\'
                    )
            })
            .map_or(eol, |i| start + i);
    };
    let mark = q[q.len() - 1];
    let level = q.len() - 1; // backslashes that escape the quote itself
    for i in start..eol {
        if b[i] != mark {
            continue;
        }
        let run = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        let closes = if level == 0 { run % 2 == 0 } else { run % 4 == 1 };
        if closes {
            return i - level;
        }
    }
    eol
}

/// Whether the value at `i` is one that is not withheld: a placeholder, empty, a boolean or null,
/// an object or a list (`quoted`: no, a string; an object's own secret keys are found on their own).
fn harmless(b: &[u8], i: usize, end: usize, quoted: bool) -> bool {
    let v = &b[i..end.max(i)];
    let rest = &b[i..];
    v.is_empty()
        || rest.starts_with(SENSITIVE.as_bytes())
        || rest.starts_with(UNKNOWN.as_bytes())
        || (!quoted && matches!(rest.first(), Some(b'{' | b'[')))
        || (!quoted && matches!(v, b"true" | b"false" | b"null" | b"None"))
}

/// Values after secret-named keys: `"password": "…"`, `\"SecretString\":\"…\"`, `password=…`,
/// `token: …`.
fn keyed_values(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !is_key_char(b[i]) || (i > 0 && is_key_char(b[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_key_char(b[i]) {
            i += 1;
        }
        if !secret_key(&text[start..i]) {
            continue;
        }
        let mut j = i;
        let quoted = quote_at(b, j);
        if let Some(q) = quoted {
            j += q.len();
        }
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        let separator = match b.get(j) {
            Some(b'=') => b.get(j + 1) != Some(&b'='),
            // `key: value`, `"key":"value"`; not `arn:…:secret:name`
            Some(b':') => {
                quoted.is_some()
                    || b.get(j + 1)
                        .is_some_and(|&c| c == b' ' || c == b'\t' || quote_at(b, j + 1).is_some())
            }
            _ => false,
        };
        if !separator {
            continue;
        }
        let equals = b[j] == b'=';
        j += 1;
        while j < b.len() && matches!(b[j], b' ' | b'\t') {
            j += 1;
        }
        let open = quote_at(b, j);
        // `key: value` unquoted is prose as often as not (`db.password: missing`)
        if !equals && quoted.is_none() && open.is_none() {
            continue;
        }
        let v = j + open.map_or(0, <[u8]>::len);
        let end = value_end(b, v, open);
        if !harmless(b, v, end, open.is_some())
            && text.is_char_boundary(v)
            && text.is_char_boundary(end)
        {
            out.push(v..end);
            i = end.max(i);
        }
    }
    out
}

/// The password of every URL with one: `scheme://user:PASSWORD@host`.
fn url_passwords(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = text[from..].find("://") {
        let start = from + k + 3;
        let end = b[start..]
            .iter()
            .position(|&c| {
                c.is_ascii_whitespace()
                    || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'\\' | b'<' | b'>')
            })
            .map_or(b.len(), |i| start + i);
        if let Some(at) = text[start..end].rfind('@') {
            if let Some(colon) = text[start..start + at].find(':') {
                let (p, q) = (start + colon + 1, start + at);
                if p < q && !harmless(b, p, q, true) {
                    out.push(p..q);
                }
            }
        }
        from = start;
    }
    out
}

/// AWS's validation messages: `Value '…' at 'secretString' failed to satisfy constraint`.
fn validation_values(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = text[from..].find("Value '") {
        let v = from + k + "Value '".len();
        let Some(at) = text[v..].find("' at '") else { break };
        let member_start = v + at + "' at '".len();
        let member_end = text[member_start..].find('\'').map_or(text.len(), |i| member_start + i);
        if secret_key(&text[member_start..member_end]) && v < v + at {
            out.push(v..v + at);
        }
        from = member_end.min(text.len());
        if from <= v {
            from = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "Xk3vQ9pLmZ2rT8wYbN4cJ6hF1sD7gA0eUiOo5qWe";

    fn b64(s: &[u8]) -> String {
        String::from_utf8(base64(s)).unwrap()
    }

    fn padded(s: &[u8]) -> String {
        let mut e = b64(s);
        while e.len() % 4 != 0 {
            e.push('=');
        }
        e
    }

    fn redacted(secrets: &Secrets, text: &str) -> String {
        let r = secrets.redact(text).into_owned();
        assert!(r.contains(SENSITIVE), "not redacted: {text:?} → {r:?}");
        r
    }

    #[test]
    fn base64_is_the_standard_encoding() {
        assert_eq!(padded(b""), "");
        assert_eq!(padded(b"f"), "Zg==");
        assert_eq!(padded(b"fo"), "Zm8=");
        assert_eq!(padded(b"foo"), "Zm9v");
        assert_eq!(padded(b"foobar"), "Zm9vYmFy");
        assert_eq!(padded(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn the_value_itself_and_its_cased_and_reversed_copies() {
        let s = Secrets::of(&[PASSWORD]);
        let reversed: String = PASSWORD.chars().rev().collect();
        for copy in
            [PASSWORD.to_string(), PASSWORD.to_lowercase(), PASSWORD.to_uppercase(), reversed]
        {
            let text = format!("error: bad value {copy} in request");
            assert_eq!(redacted(&s, &text), "error: bad value (sensitive) in request");
        }
    }

    #[test]
    fn halves_and_any_piece_of_twelve_characters() {
        let s = Secrets::of(&[PASSWORD]);
        let (a, b) = PASSWORD.split_at(20);
        for piece in [a, b, &PASSWORD[7..19], &PASSWORD[25..]] {
            let r = redacted(&s, &format!("x {piece} y"));
            assert!(!r.contains(piece), "{r}");
            assert_eq!(r, "x (sensitive) y");
        }
        let reversed_half: String = a.chars().rev().collect();
        assert_eq!(redacted(&s, &format!("[{reversed_half}]")), "[(sensitive)]");
        // eleven characters are not enough to tell a piece of a secret from chance
        assert_eq!(
            s.redact(&format!("x {} y", &PASSWORD[..11])),
            format!("x {} y", &PASSWORD[..11])
        );
    }

    #[test]
    fn base64_standard_and_url_safe_padded_or_not() {
        // bytes that give `+` and `/` in standard base64
        let secret = "pass>>>?word~~~secret??";
        let s = Secrets::of(&[secret]);
        let std = padded(secret.as_bytes());
        assert!(std.contains('+') || std.contains('/'), "{std}");
        let url: String = std.chars().map(|c| url_safe(c as u8) as char).collect();
        for form in [
            std.clone(),
            std.trim_end_matches('=').to_string(),
            url.clone(),
            url.trim_end_matches('=').to_string(),
        ] {
            let r = redacted(&s, &format!("data: {form}\n"));
            assert!(r.len() <= "data: (sensitive)==\n".len(), "{form} → {r}");
        }
        // the base64 of a lower-cased copy
        let lower = b64(PASSWORD.to_lowercase().as_bytes());
        let r = redacted(&Secrets::of(&[PASSWORD]), &lower);
        assert!(r.len() < 16, "{r}");
    }

    #[test]
    fn base64_embedded_in_a_longer_document_at_any_offset() {
        // a Kubernetes Secret's data: the base64 of a whole config file holding the password
        let s = Secrets::of(&[PASSWORD]);
        for prefix in ["", "a", "ab", "{\"db\": {\"password\": \"", "DATABASE_URL=postgres://tuva:"]
        {
            let file = format!("{prefix}{PASSWORD}\"}}, \"debug\": false}}");
            for enc in
                [b64(file.as_bytes()), padded(file.as_bytes()).replace('+', "-").replace('/', "_")]
            {
                let r = s.redact(&enc).into_owned();
                assert!(r.contains(SENSITIVE), "offset {}: {enc}", prefix.len());
                // what is left cannot give the password back: no more than 2 characters of its span
                let core = base64_core(PASSWORD.as_bytes(), prefix.len() % 3);
                assert!(!r.contains(std::str::from_utf8(&core[..FRAGMENT]).unwrap()), "{r}");
                assert!(r.len() < enc.len() - core.len() + SENSITIVE.len() + 4, "{enc} → {r}");
            }
        }
    }

    #[test]
    fn hex_lower_and_upper() {
        let s = Secrets::of(&[PASSWORD]);
        let hex = hex::encode(PASSWORD);
        for form in [hex.clone(), hex.to_uppercase(), format!("0x{hex}")] {
            assert!(!redacted(&s, &form).contains(&hex[..FRAGMENT]), "{form}");
        }
        // hex of a lower-cased copy
        assert!(s.contains(&hex::encode(PASSWORD.to_lowercase())));
    }

    #[test]
    fn percent_encoded_and_form_encoded() {
        let secret = "p@ss w/rd:Secret#2024!";
        let s = Secrets::of(&[secret]);
        for form in [
            "p%40ss%20w%2Frd%3ASecret%232024%21",
            "p%40ss+w%2Frd%3ASecret%232024%21",
            "p%40ss%20w%2frd%3aSecret%232024%21",
            "%70%40%73%73%20%77%2F%72%64%3A%53%65%63%72%65%74%23%32%30%32%34%21",
        ] {
            assert_eq!(
                redacted(&s, &format!("url?x={form}&y=1")),
                "url?x=(sensitive)&y=1",
                "{form}"
            );
        }
    }

    #[test]
    fn json_escaped_copies() {
        let secret = "quo\"te\\back\nslash-secret";
        let s = Secrets::of(&[secret]);
        let json = serde_json::json!({ "SecretString": secret }).to_string();
        assert!(!redacted(&s, &json).contains("back"), "{json}");
    }

    #[test]
    fn non_ascii_text_and_secrets_stay_on_character_boundaries() {
        let secret = "mot-de-passe-égal-à-lui-même";
        let s = Secrets::of(&[secret]);
        let text = format!("« {secret} » — {}", &secret[..13]);
        assert_eq!(redacted(&s, &text), "« (sensitive) » — (sensitive)");
        let around = format!("é{}é", &PASSWORD[..14]);
        assert_eq!(redacted(&Secrets::of(&[PASSWORD]), &around), "é(sensitive)é");
    }

    #[test]
    fn short_values_are_not_secrets_and_ordinary_text_is_left_alone() {
        let mut s = Secrets::new();
        assert!(!s.add("test"), "the local cloud's key");
        assert!(!s.add(SENSITIVE));
        assert!(s.add("8charpwd"));
        assert!(!s.add("8charpwd"), "added once");
        assert_eq!(redacted(&s, "a 8CHARPWD b"), "a (sensitive) b");
        assert_eq!(redacted(&s, "dwprahc8"), "(sensitive)");
        let text = "database.instance: create failed: AccessDenied: User is not authorized to perform CreateDBInstance";
        let s = Secrets::of(&[
            PASSWORD,
            "a-django-secret-key-of-64-characters-made-of-letters-and-digits0",
        ]);
        assert_eq!(s.redact(text), text);
        assert!(matches!(s.redact(text), Cow::Borrowed(_)));
    }

    #[test]
    fn two_secrets_next_to_each_other_are_one_redaction() {
        let other = "Zq8WmX3nVb7tYr2LpK5s";
        let s = Secrets::of(&[PASSWORD, other]);
        assert_eq!(
            redacted(&s, &format!("{PASSWORD}{other} and {other}")),
            "(sensitive) and (sensitive)"
        );
    }

    #[test]
    fn the_process_set_redacts_strings_and_keys_of_json_documents() {
        let secret = "process-wide-secret-7Hq2Lx9Vbn";
        register(secret);
        register("short");
        assert!(contains(&secret.to_uppercase()));
        let mut doc = serde_json::json!({"a": [format!("x{secret}x"), 1, "short"], secret: {"b": b64(secret.as_bytes())}});
        json(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({"a": ["x(sensitive)x", 1, "short"], "(sensitive)": {"b": "(sensitive)"}})
        );
        assert_eq!(values("nothing here"), "nothing here");
    }

    #[test]
    fn keys_that_name_a_secret() {
        for k in [
            "password",
            "DB_PASSWORD",
            "client_secret",
            "SecretString",
            "X-Amz-Security-Token",
            "django.secret_key",
            "apiKey",
        ] {
            assert!(secret_key(k), "{k}");
        }
        for k in [
            "secret_name",
            "password_history_size",
            "secret_arn_env",
            "token_endpoint",
            "SecretId",
            "name",
            "",
        ] {
            assert!(!secret_key(k), "{k}");
        }
    }

    #[test]
    fn by_key_withholds_what_follows_a_secret_named_key() {
        for (text, want) in [
            (
                r#"{"password": "hunter2", "user": "tuva"}"#,
                r#"{"password": "(sensitive)", "user": "tuva"}"#,
            ),
            (
                r#"{"SecretString":"{\"db\":{\"password\":\"p\\\"w\"}}","Name":"x"}"#,
                r#"{"SecretString":"(sensitive)","Name":"x"}"#,
            ),
            (
                r#"echo: {\"password\": \"abc\", \"user\": \"tuva\"}"#,
                r#"echo: {\"password\": \"(sensitive)\", \"user\": \"tuva\"}"#,
            ),
            ("DB_PASSWORD=abc123 next", "DB_PASSWORD=(sensitive) next"),
            ("secret_key: 'k3y' rest", "secret_key: '(sensitive)' rest"),
            (
                "?X-Amz-Security-Token=FQoG%2Fabc&X-Amz-Signature=1",
                "?X-Amz-Security-Token=(sensitive)&X-Amz-Signature=1",
            ),
            ("client_secret=s3cr3t", "client_secret=(sensitive)"),
            (
                "Authorization: token: \"12345\"\nnext line",
                "Authorization: token: \"(sensitive)\"\nnext line",
            ),
            ("{'PASSWORD': 'x1', 'HOST': 'db'}", "{'PASSWORD': '(sensitive)', 'HOST': 'db'}"),
        ] {
            assert_eq!(by_key(text), want, "{text}");
        }
    }

    #[test]
    fn by_key_leaves_arns_placeholders_and_prose_alone() {
        for text in [
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:empi-local/tuva-empi-config-AbCdEf",
            "User is not authorized to perform secretsmanager:GetSecretValue on resource x",
            r#"{"password": "(sensitive)", "secret_key": "(known after apply)", "token": null, "apikey": ""}"#,
            r#"{"password": {"inner": 1}, "secret": true}"#,
            "password authentication failed for user \"tuva_empi_app\"",
            "the config secret lacks the generated db.password or django.secret_key; restore a previous version",
            "a == b where password == x",
            "config document: db.password: missing; django.secret_key: expected string, found 5",
        ] {
            assert_eq!(by_key(text), text);
        }
    }

    #[test]
    fn by_key_withholds_url_passwords_and_aws_validation_values() {
        assert_eq!(
            by_key("could not connect to postgres://tuva:hunter2@db.internal:5432/tuva"),
            "could not connect to postgres://tuva:(sensitive)@db.internal:5432/tuva"
        );
        assert_eq!(by_key("see https://example.com:443/x"), "see https://example.com:443/x");
        assert_eq!(
            by_key("1 validation error detected: Value 'abc{\"x\": 1}' at 'secretString' failed to satisfy constraint"),
            "1 validation error detected: Value '(sensitive)' at 'secretString' failed to satisfy constraint"
        );
        assert_eq!(
            by_key("Value 'empi-local' at 'name' failed to satisfy constraint"),
            "Value 'empi-local' at 'name' failed to satisfy constraint"
        );
    }

    #[test]
    fn message_applies_both_rules() {
        let secret = "message-rule-secret-Qm4Tz8Kp";
        register(secret);
        let text =
            format!("failed: {} and {{\"client_secret\": \"never-seen\"}}", hex::encode(secret));
        assert_eq!(message(&text), "failed: (sensitive) and {\"client_secret\": \"(sensitive)\"}");
    }
}
