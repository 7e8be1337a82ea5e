//! The token-server fixture for distribution's `auth.token` mode: the Docker token flow
//! (`GET realm?service=&scope=` with optional Basic credentials) and the OAuth2 flow
//! (`POST realm` form with `grant_type=password` or `refresh_token`; `access_type=offline` also
//! returns a refresh token). Tokens are JWTs signed RS256 or ES256 with a key made at run time,
//! carrying the certificate in `x5c` (the registry trusts it through `rootcertbundle`).
//!
//! Policy: anonymous callers get `pull` only; a known user gets every action asked for. Every
//! request is recorded (scopes asked, scopes granted) so tests can assert, e.g., that a mount asked
//! for one token covering both repositories.

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};

use crate::http::{parse_form, write_response, Request, Server};
use crate::pki::{IssuerKey, SigningAlg};

/// One request the token server answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `GET` (Docker flow) or `POST` (OAuth2 flow).
    pub method: String,
    /// OAuth2 `grant_type` (`password`, `refresh_token`); empty for GET.
    pub grant_type: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// The `scope` values asked for, in order (`repository:name:pull,push`).
    pub scopes: Vec<String>,
    /// The HTTP status returned.
    pub status: u16,
}

struct Issuer {
    key: IssuerKey,
    issuer: String,
    users: Vec<(String, String)>,
    log: Mutex<Vec<TokenRequest>>,
    rng: SystemRandom,
}

/// A running token server (stopped on drop).
pub struct TokenServer {
    server: Server,
    issuer: Arc<Issuer>,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("addr", &self.addr())
            .finish()
    }
}

impl TokenServer {
    /// Starts the server for tokens from `issuer` signed with `key`, accepting `users`
    /// (user, password) pairs.
    pub fn start(key: IssuerKey, issuer: &str, users: &[(&str, &str)]) -> TokenServer {
        let issuer = Arc::new(Issuer {
            key,
            issuer: issuer.to_string(),
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            log: Mutex::new(Vec::new()),
            rng: SystemRandom::new(),
        });
        let shared = issuer.clone();
        let server = Server::start("token-server", move |conn| shared.serve(conn));
        TokenServer { server, issuer }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The realm URL to configure in the registry (`http://127.0.0.1:PORT/token`).
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr())
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.issuer.log.lock().unwrap().clone()
    }
}

impl Issuer {
    fn serve(&self, conn: TcpStream) {
        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
        let mut writer = match conn.try_clone() {
            Ok(w) => w,
            Err(_) => return,
        };
        let mut reader = BufReader::new(conn);
        let Ok(Some(req)) = Request::read_from(&mut reader, 64 * 1024) else {
            return;
        };
        let (status, body) = self.answer(&req);
        let _ = write_response(
            &mut writer,
            status,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
    }

    fn answer(&self, req: &Request) -> (u16, serde_json::Value) {
        let method = req.head.method().to_string();
        let (params, grant_type, user) = match method.as_str() {
            "GET" => {
                let params = req.query();
                match req.head.header("authorization") {
                    Some(auth) => match self.basic_user(auth) {
                        Some(u) => (params, String::new(), Some(u)),
                        None => return self.deny(method, String::new(), scopes_of(&params)),
                    },
                    None => (params, String::new(), None),
                }
            }
            "POST" => {
                let params = parse_form(&String::from_utf8_lossy(&req.body));
                let grant = param(&params, "grant_type").unwrap_or_default();
                let user = match grant.as_str() {
                    "password" => {
                        let u = param(&params, "username").unwrap_or_default();
                        let p = param(&params, "password").unwrap_or_default();
                        self.check(&u, &p).then_some(u)
                    }
                    "refresh_token" => param(&params, "refresh_token")
                        .and_then(|t| t.strip_prefix("refresh-").map(str::to_string))
                        .filter(|u| self.users.iter().any(|(name, _)| name == u)),
                    _ => None,
                };
                match user {
                    Some(u) => (params, grant, Some(u)),
                    None => return self.deny(method, grant, scopes_of(&params)),
                }
            }
            _ => return (405, serde_json::json!({"errors":[{"code":"UNSUPPORTED"}]})),
        };
        let scopes = scopes_of(&params);
        let service = param(&params, "service").unwrap_or_default();
        let token = self.sign(user.as_deref(), &service, &scopes);
        let mut body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": "2026-01-01T00:00:00Z",
        });
        if method == "POST" && param(&params, "access_type").as_deref() == Some("offline") {
            body["refresh_token"] = format!("refresh-{}", user.clone().unwrap_or_default()).into();
        }
        self.log.lock().unwrap().push(TokenRequest {
            method,
            grant_type,
            user,
            scopes,
            status: 200,
        });
        (200, body)
    }

    fn deny(
        &self,
        method: String,
        grant_type: String,
        scopes: Vec<String>,
    ) -> (u16, serde_json::Value) {
        self.log.lock().unwrap().push(TokenRequest {
            method,
            grant_type,
            user: None,
            scopes,
            status: 401,
        });
        (
            401,
            serde_json::json!({"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}),
        )
    }

    fn check(&self, user: &str, password: &str) -> bool {
        self.users.iter().any(|(u, p)| u == user && p == password)
    }

    fn basic_user(&self, auth: &str) -> Option<String> {
        let encoded = auth.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (u, p) = decoded.split_once(':')?;
        self.check(u, p).then(|| u.to_string())
    }

    /// A signed JWT granting `scopes` (filtered by policy) to `user`.
    fn sign(&self, user: Option<&str>, service: &str, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|scope| grant(user.is_some(), scope))
            .collect();
        let b64url = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": self.key.alg.jws_name(),
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.key.cert_der)],
        });
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&self.rng, &mut jti).unwrap();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": user.unwrap_or(""),
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": hex::encode(jti),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = match self.key.alg {
            SigningAlg::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(&self.key.pkcs8_der).expect("RSA PKCS#8 key");
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    signing_input.as_bytes(),
                    &mut sig,
                )
                .expect("RS256 signing");
                sig
            }
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &self.key.pkcs8_der,
                    &self.rng,
                )
                .expect("P-256 PKCS#8 key");
                pair.sign(&self.rng, signing_input.as_bytes())
                    .expect("ES256 signing")
                    .as_ref()
                    .to_vec()
            }
        };
        format!("{signing_input}.{}", b64url(&signature))
    }
}

fn param(params: &[(String, String)], key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Every `scope` value; one parameter may hold several space-separated scopes.
fn scopes_of(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
        .collect()
}

/// The `access` claim entry for one scope (`type:name:actions`; names may contain `:port`).
fn grant(authenticated: bool, scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let allowed: Vec<&str> = actions
        .split(',')
        .filter(|a| *a == "pull" || (authenticated && matches!(*a, "push" | "delete" | "*")))
        .collect();
    Some(serde_json::json!({"type": kind, "name": name, "actions": allowed}))
}
