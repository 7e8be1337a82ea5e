//! The Authorization value for a request: Basic, a Docker token (GET) or an OAuth2 token
//! (POST with `password` or `refresh_token`), cached per realm, service and scopes.

use base64::Engine;
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use url::Url;

use super::send::error_detail;
use super::{read_limited, Client};
use crate::auth::{parse_challenges, Challenge, Credential, Scopes, TokenKey, TokenResponse};
use crate::error::{display_url, Error, Result};
use crate::reference::Reference;

impl Client {
    /// The Authorization value for a request to `r` needing `scopes`.
    pub(super) async fn authorization(
        &self,
        r: &Reference,
        scopes: &Scopes,
        challenge: Option<&Challenge>,
        fresh: bool,
    ) -> Result<Option<String>> {
        let Some(ch) = challenge else { return Ok(None) };
        let cred = self.creds.credential(r.registry(), r.repository())?;
        if let Some(Credential::Bearer(t)) = &cred {
            return Ok(Some(format!("Bearer {t}")));
        }
        match ch.scheme.as_str() {
            "basic" => Ok(match cred {
                Some(Credential::Basic { username, password }) => {
                    Some(basic_header(&username, &password))
                }
                _ => None,
            }),
            "bearer" => {
                let realm = ch.param("realm").ok_or_else(|| Error::Auth {
                    registry: r.registry().into(),
                    reason: "Bearer challenge without a realm".into(),
                })?;
                let key = TokenKey {
                    realm: realm.to_string(),
                    service: ch.param("service").unwrap_or("").to_string(),
                    scopes: scopes.clone(),
                };
                if !fresh {
                    if let Some(t) = self.tokens.get(&key) {
                        return Ok(Some(format!("Bearer {}", t.value)));
                    }
                }
                let token = self.fetch_token(r, &key, cred.as_ref()).await?;
                let value = format!("Bearer {}", token.value);
                self.tokens.insert(key, token);
                Ok(Some(value))
            }
            other => Err(Error::Auth {
                registry: r.registry().into(),
                reason: format!("unsupported challenge scheme {other:?}"),
            }),
        }
    }

    /// Ask the token server. User/password: Docker GET with Basic (then OAuth2 `password` POST if
    /// the server wants POST); identity token: OAuth2 `refresh_token` POST; nothing: anonymous GET.
    async fn fetch_token(
        &self,
        r: &Reference,
        key: &TokenKey,
        cred: Option<&Credential>,
    ) -> Result<crate::auth::Token> {
        let registry = r.registry().to_string();
        let auth_err = |reason: String| Error::Auth {
            registry: registry.clone(),
            reason,
        };
        let realm = Url::parse(&key.realm)
            .map_err(|e| auth_err(format!("token realm {:?} is not a URL: {e}", key.realm)))?;
        if !matches!(realm.scheme(), "http" | "https") {
            return Err(auth_err(format!(
                "token realm scheme {} is not http(s)",
                realm.scheme()
            )));
        }
        let post = |form: Vec<(&'static str, String)>| {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &form {
                pairs.append_pair(k, v);
            }
            self.http
                .post(realm.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(pairs.finish())
        };
        let scope_str = key.scopes.0.join(" ");
        let oauth_base = |grant: &'static str| {
            vec![
                ("grant_type", grant.to_string()),
                ("service", key.service.clone()),
                ("scope", scope_str.clone()),
                ("client_id", "silo".to_string()),
            ]
        };
        let request = match cred {
            Some(Credential::IdentityToken { token, .. }) => {
                let mut f = oauth_base("refresh_token");
                f.push(("refresh_token", token.clone()));
                post(f)
            }
            _ => {
                let mut u = realm.clone();
                {
                    let mut q = u.query_pairs_mut();
                    if !key.service.is_empty() {
                        q.append_pair("service", &key.service);
                    }
                    for s in &key.scopes.0 {
                        q.append_pair("scope", s);
                    }
                    if let Some(Credential::Basic { username, .. }) = cred {
                        q.append_pair("account", username);
                    }
                }
                let mut b = self.http.get(u);
                if let Some(Credential::Basic { username, password }) = cred {
                    b = b.header(AUTHORIZATION, basic_header(username, password));
                }
                b
            }
        };
        let shown = display_url(&realm);
        let mut resp = request.send().await.map_err(|e| Error::Connect {
            method: "token".into(),
            url: shown.clone(),
            source: e,
        })?;
        if matches!(resp.status().as_u16(), 404 | 405) {
            if let Some(Credential::Basic { username, password }) = cred {
                let mut f = oauth_base("password");
                f.push(("username", username.clone()));
                f.push(("password", password.clone()));
                resp = post(f).send().await.map_err(|e| Error::Connect {
                    method: "token POST".into(),
                    url: shown.clone(),
                    source: e,
                })?;
            }
        }
        let status = resp.status();
        if !status.is_success() {
            let detail = error_detail(resp).await;
            let hint = if status.as_u16() == 401 {
                " — check the credentials (silo login, --creds)"
            } else {
                ""
            };
            return Err(auth_err(format!(
                "token server {shown} answered HTTP {}{detail}{hint}",
                status.as_u16()
            )));
        }
        let body = read_limited(resp, 1 << 20)
            .await
            .map_err(|e| auth_err(format!("reading the token: {e}")))?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("token response is not JSON: {e}")))?;
        parsed
            .into_token()
            .ok_or_else(|| auth_err("token response has no token".into()))
    }
}
fn basic_header(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// Prefer a Bearer challenge, else Basic.
pub(super) fn pick_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let all: Vec<Challenge> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect();
    all.iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| all.iter().find(|c| c.scheme == "basic"))
        .cloned()
}
