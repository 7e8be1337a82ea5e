//! PowerShell values as the interpreter sees them: scalars, `object[]` arrays and hashtables
//! (reference types, shared like .NET's), script blocks, type literals, enum values, and
//! property bags for every object a cmdlet or .NET member returns (`Object` with a kind that
//! says which methods it has).
// ErrorRecord (PowerShell's error, with its message, ids and position) is the error type of
// every fallible operation here; boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

use std::cell::RefCell;
use std::rc::Rc;

/// One PowerShell value.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    /// `[decimal]`, held as a double (document: no 28-digit precision).
    Decimal(f64),
    Byte(u8),
    Char(char),
    Str(Rc<str>),
    /// `object[]` (and `byte[]`, `string[]` — element values carry their own types).
    Array(Rc<RefCell<Vec<Value>>>),
    Hashtable(Rc<RefCell<Hashtable>>),
    ScriptBlock(Rc<crate::ast::ScriptBlock>),
    Object(Rc<RefCell<Object>>),
    /// A type literal `[IO.File]`: its canonical full name.
    Type(Rc<str>),
    /// An enum value: type full name and its numeric value.
    Enum(&'static str, i64),
}

/// A hashtable: insertion-ordered, keys compared like .NET's case-insensitive comparer for
/// strings (PowerShell's `@{}`), other keys by value.
#[derive(Clone, Debug, Default)]
pub struct Hashtable {
    pub ordered: bool,
    pub entries: Vec<(Value, Value)>,
}

impl Hashtable {
    pub fn new(ordered: bool) -> Hashtable {
        Hashtable {
            ordered,
            entries: Vec::new(),
        }
    }

    fn position(&self, key: &Value) -> Option<usize> {
        self.entries.iter().position(|(k, _)| keys_equal(k, key))
    }

    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_str(&self, key: &str) -> Option<&Value> {
        self.get(&Value::str(key))
    }

    pub fn contains(&self, key: &Value) -> bool {
        self.position(key).is_some()
    }

    /// `$h[k] = v` / `$h.k = v`: replaces or appends.
    pub fn set(&mut self, key: Value, value: Value) {
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &Value) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
        }
    }
}

fn keys_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => {
            x.eq_ignore_ascii_case(y) || x.to_lowercase() == y.to_lowercase()
        }
        (Value::Str(_), _) | (_, Value::Str(_)) => false,
        _ => crate::ops::equals(a, b, false),
    }
}

/// Which .NET-ish object a property bag stands for: decides its type name and methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// `[PSCustomObject]@{}` / `New-Object PSObject -Property`.
    Custom,
    FileInfo,
    DirectoryInfo,
    /// Start-Process -PassThru result.
    Process,
    /// Invoke-WebRequest result.
    WebResponse,
    /// Get-FileHash result.
    FileHash,
    /// Get-Item/New-Item on the registry.
    RegistryKey,
    /// Get-ItemProperty result.
    RegistryProperties,
    /// Get-Command result.
    CommandInfo,
    /// `New-Object System.Net.WebClient`.
    WebClient,
    /// `[version]`.
    Version,
    /// `[datetime]` (Get-Date): `props` hold Ticks-like fields.
    DateTime,
    /// `[uri]`.
    Uri,
    /// An ErrorRecord (`$_` in catch, `$Error[0]`).
    ErrorRecord,
    /// An exception (`$_.Exception`).
    Exception,
    /// Measure-Object result.
    Measure,
    /// Select-String result.
    MatchInfo,
    /// Get-ChildItem env: entries (Name/Value).
    DictionaryEntry,
    /// `System.Collections.Generic.List[T]` / ArrayList: items live in the "__items" property.
    List,
    /// `[System.Text.StringBuilder]`.
    StringBuilder,
    /// Group-Object result.
    Group,
    /// Resolve-Path / Get-Location result.
    PathInfo,
    /// `[Text.Encoding]::UTF8` and friends: the "Name" property says which.
    Encoding,
    /// A `[type]` object's members are on `Value::Type`; this is `.GetType()` of a value.
    TypeInfo,
    /// Get-Acl result: the item's binary security descriptor, for Set-Acl.
    Security {
        descriptor: Vec<u8>,
    },
}

/// A property bag with a kind and a type name (`GetType().FullName`, `-is`, format).
#[derive(Clone, Debug)]
pub struct Object {
    pub kind: ObjKind,
    pub type_name: String,
    pub props: Vec<(String, Value)>,
}

impl Object {
    pub fn new(kind: ObjKind, type_name: &str) -> Object {
        Object {
            kind,
            type_name: type_name.to_string(),
            props: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: Value) -> Object {
        self.set(name, value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn set(&mut self, name: &str, value: Value) {
        match self
            .props
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value,
            None => self.props.push((name.to_string(), value)),
        }
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    pub fn string(s: String) -> Value {
        Value::Str(Rc::from(s))
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Rc::new(RefCell::new(items)))
    }

    pub fn object(o: Object) -> Value {
        Value::Object(Rc::new(RefCell::new(o)))
    }

    pub fn hashtable(h: Hashtable) -> Value {
        Value::Hashtable(Rc::new(RefCell::new(h)))
    }

    pub fn bytes(b: &[u8]) -> Value {
        Value::array(b.iter().map(|&x| Value::Byte(x)).collect())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Long(_) | Value::Double(_) | Value::Decimal(_) | Value::Byte(_)
        )
    }

    /// The elements PowerShell enumerates in a pipeline or `foreach`: arrays yield their
    /// elements, lists theirs, everything else is one item ($null is one item for foreach? no:
    /// `foreach ($x in $null)` runs zero times, handled by the caller).
    pub fn enumerate(&self) -> Option<Vec<Value>> {
        match self {
            Value::Array(a) => Some(a.borrow().clone()),
            Value::Object(o) if o.borrow().kind == ObjKind::List => {
                let o = o.borrow();
                match o.get("__items") {
                    Some(Value::Array(a)) => Some(a.borrow().clone()),
                    _ => Some(Vec::new()),
                }
            }
            _ => None,
        }
    }

    /// The value as a flat list for pipelines: array elements, or the single value; `$null` gives
    /// one `$null` item (PowerShell sends `$null` down a pipeline when written explicitly).
    pub fn into_items(self) -> Vec<Value> {
        match self.enumerate() {
            Some(v) => v,
            None => vec![self],
        }
    }

    /// `.GetType().FullName`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(_) => "System.Boolean".into(),
            Value::Int(_) => "System.Int32".into(),
            Value::Long(_) => "System.Int64".into(),
            Value::Double(_) => "System.Double".into(),
            Value::Decimal(_) => "System.Decimal".into(),
            Value::Byte(_) => "System.Byte".into(),
            Value::Char(_) => "System.Char".into(),
            Value::Str(_) => "System.String".into(),
            Value::Array(_) => "System.Object[]".into(),
            Value::Hashtable(h) => {
                if h.borrow().ordered {
                    "System.Collections.Specialized.OrderedDictionary".into()
                } else {
                    "System.Collections.Hashtable".into()
                }
            }
            Value::ScriptBlock(_) => "System.Management.Automation.ScriptBlock".into(),
            Value::Object(o) => o.borrow().type_name.clone(),
            Value::Type(_) => "System.RuntimeType".into(),
            Value::Enum(t, _) => (*t).into(),
        }
    }
}
