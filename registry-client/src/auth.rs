//! Authentication pieces that need no network: the `Credential` kinds (with redacting `Debug`),
//! `WWW-Authenticate` challenge parsing (RFC 7235 auth-params, quoted strings with escapes,
//! several challenges in one header), scope strings, and the token cache keyed by
//! (realm, service, scopes). The HTTP side of token fetching lives in `client.rs`.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// What a user gave us to prove who they are. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password (Basic, or the Docker token flow with Basic).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken` in docker config), exchanged by POST.
    IdentityToken { username: String, token: String },
    /// A ready bearer token (`registrytoken`), sent as is.
    Bearer(String),
}

impl Credential {
    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Basic { username, .. } | Credential::IdentityToken { username, .. } => {
                Some(username)
            }
            Credential::Bearer(_) => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credential::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
            Credential::Bearer(_) => write!(f, "Bearer(<redacted>)"),
        }
    }
}

/// One parsed challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased scheme: `basic`, `bearer`, …
    pub scheme: String,
    /// Parameters with lowercased names.
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `error="insufficient_scope"`: the token was valid but lacked an action.
    pub fn insufficient_scope(&self) -> bool {
        self.param("error") == Some("insufficient_scope")
    }
}

/// Parse every challenge in a `WWW-Authenticate` value. Unparseable tails are dropped, not fatal:
/// the caller reports "no usable challenge" with the raw header's scheme names.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b',' | b'=' | b'"') {
            *i += 1;
        }
        header[s..*i].to_string()
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let scheme = token(&mut i).to_ascii_lowercase();
        if scheme.is_empty() {
            break;
        }
        let mut params = HashMap::new();
        loop {
            // Look ahead: `name=` starts a parameter; a bare token starts the next challenge.
            let save = i;
            skip_ws(&mut i);
            let name = token(&mut i);
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            if name.is_empty() || i >= b.len() || b[i] != b'=' {
                i = save;
                break;
            }
            i += 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    // Push whole UTF-8 characters.
                    let ch = header[i..].chars().next().unwrap_or('\u{fffd}');
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i = (i + 1).min(b.len()); // closing quote
                v
            } else {
                token(&mut i)
            };
            params.insert(name.to_ascii_lowercase(), value);
        }
        out.push(Challenge { scheme, params });
        // Skip to the next comma-separated item if we stopped on garbage.
        if i < b.len() && !matches!(b[i], b' ' | b'\t' | b',') {
            i += 1;
        }
    }
    out
}

/// Token scopes for one operation, in the order they are requested. The push scope comes first
/// because some registries only honour the first scope of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scopes(pub Vec<String>);

impl Scopes {
    /// `repository:<repo>:pull`.
    pub fn pull(repo: &str) -> Self {
        Scopes(vec![format!("repository:{repo}:pull")])
    }

    /// `repository:<repo>:pull,push`, plus `repository:<from>:pull` for each mount source.
    pub fn push(repo: &str, mount_from: &[&str]) -> Self {
        let mut v = vec![format!("repository:{repo}:pull,push")];
        for f in mount_from {
            if *f != repo {
                let s = format!("repository:{f}:pull");
                if !v.contains(&s) {
                    v.push(s);
                }
            }
        }
        Scopes(v)
    }

    /// Add a scope a challenge asked for, keeping the existing order.
    pub fn with(mut self, scope: &str) -> Self {
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if !self.0.iter().any(|have| have == s) {
                self.0.push(s.to_string());
            }
        }
        self
    }
}

/// Cache key of a token: which server issued it for what.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub realm: String,
    pub service: String,
    pub scopes: Scopes,
}

/// A bearer token and when to stop using it. `Debug` redacts it.
#[derive(Clone)]
pub struct Token {
    pub value: String,
    pub expires: Instant,
    /// A refresh token the server returned (OAuth2 `access_type=offline`).
    pub refresh_token: Option<String>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Token(<redacted>, expires in {:?})",
            self.expires.saturating_duration_since(Instant::now())
        )
    }
}

/// Token response of both the Docker GET flow and OAuth2 POST.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// Turn the response into a token; a missing lifetime means 60 s (the Docker spec's default).
    pub fn into_token(self) -> Option<Token> {
        let value = self.token.filter(|t| !t.is_empty()).or(self.access_token)?;
        // Renew 10 s early so a request never leaves with a token that expires on the way.
        let ttl = self.expires_in.unwrap_or(60).max(20) - 10;
        Some(Token {
            value,
            expires: Instant::now() + Duration::from_secs(ttl),
            refresh_token: self.refresh_token,
        })
    }
}

/// Tokens by (realm, service, scopes).
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: std::sync::Mutex<HashMap<TokenKey, Token>>,
}

impl TokenCache {
    pub fn get(&self, key: &TokenKey) -> Option<Token> {
        let map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|t| t.expires > Instant::now()).cloned()
    }

    pub fn insert(&self, key: TokenKey, token: Token) {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key, token);
    }

    pub fn remove(&self, key: &TokenKey) {
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = parse_challenges(
            r#"Bearer realm="http://127.0.0.1:5003/token",service="test-registry",scope="repository:test/img1:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("http://127.0.0.1:5003/token"));
        assert_eq!(c[0].param("service"), Some("test-registry"));
        assert_eq!(c[0].param("scope"), Some("repository:test/img1:pull"));
        assert!(!c[0].insufficient_scope());
    }

    #[test]
    fn insufficient_scope_and_escapes_and_multiple() {
        let c = parse_challenges(
            r#"Bearer realm="https://a/t",error="insufficient_scope",scope="repository:x:pull,push", Basic realm="say \"hi\"""#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].insufficient_scope());
        assert_eq!(c[0].param("scope"), Some("repository:x:pull,push"));
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].param("realm"), Some("say \"hi\""));
    }

    #[test]
    fn basic_unquoted_and_garbage() {
        let c = parse_challenges("Basic realm=basic-realm");
        assert_eq!(c[0].param("realm"), Some("basic-realm"));
        assert!(parse_challenges("").is_empty());
        // Garbage must not panic or loop.
        for g in [
            "=",
            "\"",
            "Bearer =\"",
            "Bearer realm=\"unterminated",
            ",,,",
            "Bearer a=b=c",
        ] {
            let _ = parse_challenges(g);
        }
    }

    #[test]
    fn push_scope_first_and_dedup() {
        let s = Scopes::push("dst/img", &["src/img", "dst/img", "src/img"]);
        assert_eq!(
            s.0,
            vec!["repository:dst/img:pull,push", "repository:src/img:pull"]
        );
        let s = Scopes::pull("a").with("repository:b:pull repository:a:pull");
        assert_eq!(s.0, vec!["repository:a:pull", "repository:b:pull"]);
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credential::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        let i = Credential::IdentityToken {
            username: "u".into(),
            token: "refresh-SECRET".into(),
        };
        let b = Credential::Bearer("tok-SECRET".into());
        let t = Token {
            value: "jwt-SECRET".into(),
            expires: Instant::now(),
            refresh_token: Some("rt-SECRET".into()),
        };
        let all = format!("{c:?} {i:?} {b:?} {t:?}");
        assert!(!all.contains("hunter2") && !all.contains("SECRET"), "{all}");
        assert!(all.contains("redacted"));
    }

    #[test]
    fn token_cache_expiry() {
        let cache = TokenCache::default();
        let key = TokenKey {
            realm: "r".into(),
            service: "s".into(),
            scopes: Scopes::pull("a"),
        };
        cache.insert(
            key.clone(),
            Token {
                value: "v".into(),
                expires: Instant::now() - Duration::from_secs(1),
                refresh_token: None,
            },
        );
        assert!(cache.get(&key).is_none());
        let t = TokenResponse {
            token: None,
            access_token: Some("x".into()),
            expires_in: Some(300),
            refresh_token: None,
        }
        .into_token()
        .unwrap();
        cache.insert(key.clone(), t);
        assert_eq!(cache.get(&key).unwrap().value, "x");
        let other = TokenKey {
            scopes: Scopes::push("a", &[]),
            ..key
        };
        assert!(cache.get(&other).is_none());
    }
}
