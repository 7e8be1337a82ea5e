//! Variables and the environment: `$env:` reads and writes, scoped lookup and assignment
//! (`$script:`, `$global:`, `$local:`, `$private:`), `$x.a.b` paths, and the preference variables
//! (`$ErrorActionPreference` and friends) as the engine reads them.

use super::*;

impl Interp<'_> {
    pub fn env_get(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Sets (or with None removes) a process environment variable, keeping the first spelling.
    pub fn env_set(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) if !v.is_empty() => match self
                .env
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
            {
                Some(e) => e.1 = v,
                None => self.env.push((name.to_string(), v)),
            },
            _ => self.env.retain(|(k, _)| !k.eq_ignore_ascii_case(name)),
        }
    }

    // ----- variables -----------------------------------------------------------------------

    pub(super) fn set_var_in(&mut self, scope: usize, name: &str, value: Value) {
        self.scopes[scope].insert(lc(name), (name.to_string(), value));
    }

    /// Reads a variable (innermost scope first) or an automatic variable.
    pub fn get_var(&self, name: &str) -> Option<Value> {
        let l = lc(name);
        match l.as_str() {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            "null" => return Some(Value::Null),
            "?" => return Some(Value::Bool(self.dollar_q)),
            "error" => return Some(Value::Array(self.error_list.clone())),
            "pwd" => return Some(crate::cmdlets::location::path_info(&self.cwd)),
            "psitem" => return self.get_var("_"),
            "ofs" | "_" | "args" | "input" | "matches" | "myinvocation" => {}
            _ => {}
        }
        for s in self.scopes.iter().rev() {
            if let Some((_, v)) = s.get(&l) {
                return Some(v.clone());
            }
        }
        None
    }

    /// Assigns in the current scope (PowerShell's default for `$x = …`).
    pub fn set_var(&mut self, name: &str, value: Value) {
        let l = lc(name);
        if l == "psitem" {
            return self.set_var("_", value);
        }
        let top = self.scopes.len() - 1;
        self.set_var_in(top, name, value);
    }

    pub fn remove_var(&mut self, name: &str) {
        let l = lc(name);
        for s in self.scopes.iter_mut().rev() {
            if s.remove(&l).is_some() {
                return;
            }
        }
    }

    pub(super) fn var_path_get(&self, path: &ast::VariablePath) -> Res<Value> {
        match path.qualifier.as_deref().map(|q| q.to_ascii_lowercase()) {
            Some(q) if q == "env" => Ok(self
                .env_get(&path.name)
                .map(Value::string)
                .unwrap_or(Value::Null)),
            Some(q) if q == "global" => Ok(self.scopes[0]
                .get(&lc(&path.name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)),
            Some(q) if q == "script" => Ok(self.scopes[self.script_scope]
                .get(&lc(&path.name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)),
            Some(q) if q == "local" || q == "private" => Ok(self
                .scopes
                .last()
                .and_then(|s| s.get(&lc(&path.name)))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)),
            Some(q) if q == "variable" => Ok(self.get_var(&path.name).unwrap_or(Value::Null)),
            Some(q) => Err(ErrorRecord::runtime(format!(
                "the variable drive or scope '{q}:' is not supported"
            ))
            .into()),
            None => Ok(self.get_var(&path.name).unwrap_or(Value::Null)),
        }
    }

    pub(super) fn var_path_set(&mut self, path: &ast::VariablePath, value: Value) -> Res<()> {
        let name = path.name.as_str();
        match path.qualifier.as_deref().map(|q| q.to_ascii_lowercase()) {
            Some(q) if q == "env" => {
                let v = match &value {
                    Value::Null => None,
                    v => Some(to_string(v)),
                };
                self.env_set(name, v);
            }
            Some(q) if q == "global" => self.set_var_in(0, name, value),
            Some(q) if q == "script" => self.set_var_in(self.script_scope, name, value),
            Some(q) if q == "local" || q == "private" || q == "variable" => {
                self.set_var(name, value)
            }
            Some(q) => {
                return Err(ErrorRecord::runtime(format!(
                    "the variable drive or scope '{q}:' is not supported"
                ))
                .into())
            }
            None => {
                let l = lc(name);
                if matches!(
                    l.as_str(),
                    "true" | "false" | "null" | "?" | "error" | "pwd" | "home" | "pshome" | "pid"
                ) {
                    if l == "null" {
                        return Ok(()); // `$null = expr` discards.
                    }
                    return Err(ErrorRecord::new(
                        format!(
                            "Cannot overwrite variable {name} because it is read-only or constant."
                        ),
                        "System.Management.Automation.SessionStateUnauthorizedAccessException",
                        "WriteError",
                        "VariableNotWritable",
                    )
                    .into());
                }
                self.set_var(name, value)
            }
        }
        Ok(())
    }

    /// The action for a non-terminating error now: the running cmdlet's `-ErrorAction`, else
    /// `$ErrorActionPreference`.
    pub fn error_action(&self) -> Action {
        if let Some(a) = self.action_override.last() {
            return *a;
        }
        self.pref("ErrorActionPreference", Action::Continue)
    }

    /// A preference variable as an Action (`$WarningPreference`, `$VerbosePreference`, …).
    pub fn pref(&self, name: &str, default: Action) -> Action {
        match self.get_var(name) {
            Some(v) => Action::parse(&to_string(&v)).unwrap_or(default),
            None => default,
        }
    }
}
