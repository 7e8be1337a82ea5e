//! Table tests of the parser, one table per Microsoft documentation page of the language
//! (learn.microsoft.com/powershell/module/microsoft.powershell.core/about/<page>). Each row is
//! a script and the tree it must give, rendered compactly by `parse_support` (`(op left right)`,
//! `(cmd Name args)`, `(str parts)`, strings in quotes, barewords plain).

mod parse_support;
use parse_support::{error, show};

fn table(page: &str, rows: &[(&str, &str)]) {
    let mut bad = Vec::new();
    for (src, want) in rows {
        let got = match powershell::parser::parse(src) {
            Ok(s) => parse_support::script(&s),
            Err(e) => format!("ERROR {e}"),
        };
        if got != *want {
            bad.push(format!("  {src:?}\n    want {want}\n    got  {got}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{page}: {} rows differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn errors(page: &str, rows: &[(&str, &str)]) {
    let mut bad = Vec::new();
    for (src, want) in rows {
        match powershell::parser::parse(src) {
            Ok(s) => bad.push(format!("  {src:?} parsed as {}", parse_support::script(&s))),
            Err(e) if !e.to_string().contains(want) => {
                bad.push(format!("  {src:?}: {e} (wanted {want:?})"))
            }
            Err(_) => {}
        }
    }
    assert!(
        bad.is_empty(),
        "{page}: {} rows differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn about_parsing_expression_and_argument_modes() {
    table(
        "about_Parsing",
        &[
            // Expression mode: a statement starting with a value is an expression.
            ("2+2", "(+ 2 2)"),
            ("'text'", "'text'"),
            ("$a -eq 1", "(-eq $a 1)"),
            // Argument mode: a statement starting with a word is a command; operators are text.
            ("Write-Output 2+2", "(cmd Write-Output 2+2)"),
            ("Write-Output (2+2)", "(cmd Write-Output (paren (+ 2 2)))"),
            ("Write-Output $a", "(cmd Write-Output $a)"),
            ("Write-Output $a.Length", "(cmd Write-Output (. $a Length))"),
            ("Write-Output -1", "(cmd Write-Output -1)"),
            ("Write-Output 7z", "(cmd Write-Output 7z)"),
            ("Write-Output 12", "(cmd Write-Output 12)"),
            ("Write-Output 1.2.3", "(cmd Write-Output 1.2.3)"),
            // A variable followed by text is one expandable word.
            (
                "Write-Output $env:TEMP\\x.zip",
                "(cmd Write-Output (str $env:TEMP \"\\\\x.zip\"))",
            ),
            (
                "Write-Output a$($b)c",
                "(cmd Write-Output (str \"a\" $($b) \"c\"))",
            ),
            // A quoted string followed by text is two arguments, text followed by quotes one.
            ("Write-Output \"a\"b", "(cmd Write-Output \"a\" b)"),
            ("Write-Output a\"b c\"d", "(cmd Write-Output ab cd)"),
            // A number-like first word is a command (7z.exe), a real number an expression.
            ("7z x a.zip", "(cmd 7z x a.zip)"),
            ("7 + 1", "(+ 7 1)"),
            // Parameters and the colon form; a lone `--` ends the parameters.
            (
                "Get-Item -Path:C:\\x -Force",
                "(cmd Get-Item -Path:C:\\x -Force)",
            ),
            ("Write-Output -- -Name", "(cmd Write-Output -- bare:-Name)"),
            ("git --version", "(cmd git bare:--version)"),
            (
                "choco install -y --no-progress git",
                "(cmd choco install -y bare:--no-progress git)",
            ),
            // `--%` stops parsing: the rest of the line is passed as it is.
            (
                "icacls x --% /grant Users:(F) $x",
                "(cmd icacls x (--% \"/grant Users:(F) $x\"))",
            ),
            // Call and dot-source operators.
            (
                "& 'C:\\Program Files\\x.exe' /S",
                "(cmd & 'C:\\Program Files\\x.exe' /S)",
            ),
            ("& $exe -v", "(cmd & $exe -v)"),
            (". .\\lib.ps1", "(cmd . .\\lib.ps1)"),
            (".\\setup.exe /quiet", "(cmd .\\setup.exe /quiet)"),
            ("& { 1 }", "(cmd & {1})"),
            // Comma lists in argument mode.
            ("Write-Output a,b, c", "(cmd Write-Output (array a b c))"),
            (
                "Start-Process x -ArgumentList '/i', 'y.msi'",
                "(cmd Start-Process x -ArgumentList (array '/i' 'y.msi'))",
            ),
            // Keywords are case-insensitive; `foreach` is a command after a pipe.
            ("IF ($a) { 1 } ELSE { 2 }", "(if $a {1} else {2})"),
            ("$a | foreach { $_ }", "(pipe $a (cmd foreach {$_}))"),
            ("$a | % { $_ }", "(pipe $a (cmd % {$_}))"),
            ("$a | ? { $_ }", "(pipe $a (cmd ? {$_}))"),
            // Statement separators and line continuation.
            ("a; b\nc", "(cmd a); (cmd b); (cmd c)"),
            ("Write-Output a `\n  b", "(cmd Write-Output a b)"),
            (
                "Get-Item x |\n  Remove-Item",
                "(pipe (cmd Get-Item x) (cmd Remove-Item))",
            ),
            ("$a = 1 +\n 2", "(= $a (+ 1 2))"),
            ("$a = (\n 1\n)", "(= $a (paren 1))"),
            ("Foo -Bar @(\n 1\n 2\n)", "(cmd Foo -Bar @(1; 2))"),
            // A statement ending in a block needs no separator.
            (
                "if ($a) { 1 } Write-Output b",
                "(if $a {1}); (cmd Write-Output b)",
            ),
            // Comments.
            ("Write-Output a # comment", "(cmd Write-Output a)"),
            ("Write-Output a#b", "(cmd Write-Output a#b)"),
            (
                "<# block\n comment #> Write-Output a",
                "(cmd Write-Output a)",
            ),
            ("Write-Output <# inline #> a", "(cmd Write-Output a)"),
        ],
    );
}

#[test]
fn about_parsing_errors() {
    errors(
        "about_Parsing",
        &[
            ("$a $b", "unexpected token '$b'"),
            ("'a' b", "unexpected token 'b'"),
            (
                "1 | 2",
                "expressions are only allowed as the first element of a pipeline",
            ),
            ("a &", "ampersand"),
            ("a && b", "ampersand"),
            ("a || b", "PowerShell 7"),
            ("Write-Output (1", "missing closing ')'"),
            ("if ($a) { 1", "missing closing '}'"),
            ("$a = ", "missing the value to assign"),
            ("1 = 2", "assignment expression is not valid"),
            ("Get-Item |", "empty pipe element"),
            ("$x -eq", "value expression after the '-eq' operator"),
            ("$x -eq foo", "unexpected token 'foo'"),
        ],
    );
}

#[test]
fn about_quoting_rules() {
    table(
        "about_Quoting_Rules",
        &[
            ("'It''s'", "'It's'"),
            ("'$x `n'", "'$x `n'"),
            ("\"a \"\"b\"\"\"", "\"a \\\"b\\\"\""),
            ("\"a `\"b`\"\"", "\"a \\\"b\\\"\""),
            ("\"$x and $y\"", "(str $x \" and \" $y)"),
            ("\"${x}y\"", "(str ${x} \"y\")"),
            ("\"$env:PATH;C:\\x\"", "(str $env:PATH \";C:\\\\x\")"),
            ("\"$($a.Name)\"", "(str $((. $a Name)))"),
            // Member access in a string needs $( ): "$a.Name" is $a then ".Name".
            ("\"$a.Name\"", "(str $a \".Name\")"),
            ("\"$a[0]\"", "(str $a \"[0]\")"),
            ("\"cost: `$5\"", "\"cost: $5\""),
            ("\"100$\"", "\"100$\""),
            ("\"a $ b\"", "\"a $ b\""),
            ("\"a`tb`nc\"", "\"a\\tb\\nc\""),
            // Typographic quotes are quotes.
            ("\u{2018}smart\u{2019}", "'smart'"),
            ("\u{201C}$x\u{201D}", "(str $x)"),
            // Here-strings: the first and last line breaks are not part of the value.
            ("@'\nline $x\n  'quoted'\n'@", "'line $x\n  'quoted''"),
            ("@\"\nHello $name\n\"@", "(str \"Hello \" $name)"),
            ("@\"\nsay \"hi\"\n\"@", "\"say \\\"hi\\\"\""),
            ("@'\n'@", "''"),
            ("$x = @'\na\r\nb\r\n'@", "(= $x 'a\r\nb')"),
            // In a bareword argument, quotes join the word and `$` expands.
            (
                "Write-Output C:\\'Program Files'\\x",
                "(cmd Write-Output C:\\Program Files\\x)",
            ),
            ("Write-Output `$x", "(cmd Write-Output $x)"),
        ],
    );
    errors(
        "about_Quoting_Rules",
        &[
            ("'abc", "missing its terminator"),
            ("\"abc", "missing its terminator"),
            (
                "@'abc'@",
                "no characters are allowed after the here-string header",
            ),
            ("@'\nabc'@", "here-string is missing its terminator"),
            ("\"$x:\"", "':' was not followed by a valid variable name"),
        ],
    );
}

#[test]
fn about_special_characters() {
    table(
        "about_Special_Characters",
        &[
            (
                "\"`0`a`b`f`r`v`'`\"``\"",
                "\"\\0\\u{7}\\u{8}\\u{c}\\r\\u{b}'\\\"`\"",
            ),
            // `e and `u{} are PowerShell 6+: in 5.1 the backtick just quotes the letter.
            ("\"`e`u\"", "\"eu\""),
        ],
    );
}

#[test]
fn about_variables_and_scopes() {
    table(
        "about_Variables / about_Scopes / about_Automatic_Variables",
        &[
            ("$global:x = 1", "(= $global:x 1)"),
            ("$script:x", "$script:x"),
            ("$env:ProgramFiles", "$env:ProgramFiles"),
            ("${env:ProgramFiles(x86)}", "${env:ProgramFiles(x86)}"),
            ("${a b}", "${a b}"),
            ("$_", "$_"),
            ("$?", "$?"),
            ("$$", "$$"),
            ("$^", "$^"),
            ("$LASTEXITCODE", "$LASTEXITCODE"),
            ("$x?", "$x?"),
        ],
    );
}

#[test]
fn about_numeric_literals() {
    table(
        "about_Numeric_Literals",
        &[
            ("42", "42"),
            ("-42", "-42"),
            ("2147483647", "2147483647"),
            ("2147483648", "long:2147483648"),
            ("9223372036854775808", "decimal:9223372036854775808e-0"),
            ("1.5e10", "double:15000000000"),
            ("0x10", "16"),
            ("0xFFFFFFFF", "-1"),
            ("0x100000000", "long:4294967296"),
            ("1.5", "double:1.5"),
            (".5", "double:0.5"),
            ("1e3", "double:1000"),
            ("10l", "long:10"),
            ("1.25d", "decimal:125e-2"),
            ("1kb", "1024"),
            ("1.5MB", "double:1572864"),
            ("2gb", "long:2147483648"),
            ("1tb", "long:1099511627776"),
            ("1..3", "(.. 1 3)"),
            ("1 -5", "(- 1 5)"),
            ("1-5", "(- 1 5)"),
        ],
    );
}

#[test]
fn about_operators_and_precedence() {
    table(
        "about_Operators / about_Operator_Precedence",
        &[
            ("1 + 2 * 3", "(+ 1 (* 2 3))"),
            ("(1 + 2) * 3", "(* (paren (+ 1 2)) 3)"),
            ("1,2 + 3", "(+ (array 1 2) 3)"),
            ("'{0}' -f 1 + 2", "(+ (-f '{0}' 1) 2)"),
            ("1..3 + 4", "(+ (.. 1 3) 4)"),
            ("-not $a -eq $b", "(-eq (-not $a) $b)"),
            ("!$a", "(-not $a)"),
            ("$a -and $b -or $c", "(-or (-and $a $b) $c)"),
            ("$a -band 1 -eq 1", "(-band $a (-eq 1 1))"),
            ("-split 'a b'", "(-split 'a b')"),
            ("-join $a", "(-join $a)"),
            ("'a,b' -split ','", "(-split 'a,b' ',')"),
            ("$a -join ','", "(-join $a ',')"),
            ("$x -replace 'a', 'b'", "(-replace $x (array 'a' 'b'))"),
            ("$x -is [string]", "(-is $x [string])"),
            ("$x -as [int]", "(-as $x [int])"),
            ("-bnot 5", "(-bnot 5)"),
            ("1 -shl 2", "(-shl 1 2)"),
            ("$i++", "(post++ $i)"),
            ("++$i", "(++pre $i)"),
            ("$i--", "(post-- $i)"),
            (",1", "(array 1)"),
            ("@(1)", "@(1)"),
            ("$(1; 2)", "$(1; 2)"),
            ("$a[0]", "(idx $a 0)"),
            ("$a[1,2]", "(idx $a (array 1 2))"),
            ("$a[-1]", "(idx $a -1)"),
            ("$h['k'].Length", "(. (idx $h 'k') Length)"),
            ("$a.b.c", "(. (. $a b) c)"),
            ("$a.'b c'", "(. $a 'b c')"),
            ("$a.$n", "(. $a $n)"),
            ("$s.Replace('a', 'b')", "(. $s Replace('a' 'b'))"),
            ("$s.Trim()", "(. $s Trim())"),
            ("[Math]::Max(1, 2)", "(:: [Math] Max(1 2))"),
            (
                "[IO.Path]::Combine($a, 'b')",
                "(:: [IO.Path] Combine($a 'b'))",
            ),
            (
                "[Text.Encoding]::UTF8.GetString($b)",
                "(. (:: [Text.Encoding] UTF8) GetString($b))",
            ),
            (
                "[System.Collections.Generic.List[string]]::new()",
                "(:: [System.Collections.Generic.List[string]] new())",
            ),
            (
                "(Get-Item x).FullName",
                "(. (paren (cmd Get-Item x)) FullName)",
            ),
            ("$x = 1 -eq 1", "(= $x (-eq 1 1))"),
            ("$a -ne $null", "(-ne $a $null)"),
            ("$a -gt 1 -and $a -lt 5", "(-and (-gt $a 1) (-lt $a 5))"),
        ],
    );
}

#[test]
fn about_comparison_operators() {
    let ops = [
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "like",
        "notlike",
        "match",
        "notmatch",
        "contains",
        "notcontains",
        "in",
        "notin",
        "replace",
        "split",
    ];
    let mut rows = Vec::new();
    for op in ops {
        for prefix in ["", "i", "c"] {
            rows.push((
                format!("$a -{prefix}{op} $b"),
                format!("(-{prefix}{op} $a $b)"),
            ));
            // Operators are case-insensitive.
            rows.push((
                format!("$a -{}{} $b", prefix.to_uppercase(), op.to_uppercase()),
                format!("(-{prefix}{op} $a $b)"),
            ));
        }
    }
    let rows: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    table("about_Comparison_Operators", &rows);
    errors(
        "about_Comparison_Operators",
        &[("$a -foo $b", "unexpected token '-foo'")],
    );
}

#[test]
fn about_assignment_operators() {
    table(
        "about_Assignment_Operators",
        &[
            ("$a = 1", "(= $a 1)"),
            ("$a += 1", "(+= $a 1)"),
            ("$a -= 1", "(-= $a 1)"),
            ("$a *= 2", "(*= $a 2)"),
            ("$a /= 2", "(/= $a 2)"),
            ("$a %= 2", "(%= $a 2)"),
            ("$a = $b = 2", "(= $a (= $b 2))"),
            ("$a, $b = 1, 2", "(= (array $a $b) (array 1 2))"),
            ("[int]$a = '5'", "(= ([int] $a) '5')"),
            ("[string[]]$a = @()", "(= ([string[]] $a) @())"),
            (
                "$env:PATH += ';C:\\go\\bin'",
                "(+= $env:PATH ';C:\\go\\bin')",
            ),
            ("$h.Key = 1", "(= (. $h Key) 1)"),
            ("$a[0] = 1", "(= (idx $a 0) 1)"),
            (
                "$x = Get-Item a | Select-Object -First 1",
                "(= $x (pipe (cmd Get-Item a) (cmd Select-Object -First 1)))",
            ),
            (
                "$x = if ($a) { 1 } else { 2 }",
                "(= $x (if $a {1} else {2}))",
            ),
            ("$x = $null", "(= $x $null)"),
        ],
    );
}

#[test]
fn about_hash_tables_and_arrays() {
    table(
        "about_Hash_Tables / about_Arrays",
        &[
            ("@{}", "@{}"),
            ("@{ a = 1; 'b c' = 2 }", "@{a=1; 'b c'=2}"),
            ("@{\n a = 1\n b = Get-Date\n}", "@{a=1; b=(cmd Get-Date)}"),
            ("[ordered]@{ a = 1 }", "[ordered]@{a=1}"),
            (
                "@{ Name = 'x'; Value = @(1, 2) }",
                "@{Name='x'; Value=@((array 1 2))}",
            ),
            ("@{ 1 = 'one' }", "@{1='one'}"),
            ("@(\n'a'\n'b'\n)", "@('a'; 'b')"),
            ("1, 2, 3", "(array 1 2 3)"),
            ("1,\n2", "(array 1 2)"),
        ],
    );
}

#[test]
fn about_if_switch_loops() {
    table(
        "about_If / about_Switch / about_For / about_Foreach / about_While / about_Do / about_Break / about_Continue",
        &[
            ("if ($a) { 1 }", "(if $a {1})"),
            ("if ($a) { 1 } elseif ($b) { 2 } else { 3 }", "(if $a {1} $b {2} else {3})"),
            ("if ($a)\n{\n 1\n}\nelse\n{\n 2\n}", "(if $a {1} else {2})"),
            ("if (Test-Path x) { 1 }", "(if (cmd Test-Path x) {1})"),
            ("if (-not (Test-Path x)) { 1 }", "(if (-not (paren (cmd Test-Path x))) {1})"),
            ("if ($x = Get-Item a) { 1 }", "(if (= $x (cmd Get-Item a)) {1})"),
            ("foreach ($f in $files) { $f }", "(foreach $f $files {$f})"),
            ("foreach ($f in Get-ChildItem *.zip) { $f }", "(foreach $f (cmd Get-ChildItem *.zip) {$f})"),
            ("ForEach ($i in 1..3) { }", "(foreach $i (.. 1 3) {})"),
            ("for ($i = 0; $i -lt 3; $i++) { $i }", "(for (= $i 0) (-lt $i 3) (post++ $i) {$i})"),
            ("for (;;) { break }", "(for _ _ _ {(break)})"),
            ("while ($true) { continue }", "(while $true {(continue)})"),
            ("do { $i++ } while ($i -lt 3)", "(do {(post++ $i)} while (-lt $i 3))"),
            ("do { $i++ } until ($i -ge 3)", "(do {(post++ $i)} until (-ge $i 3))"),
            (":outer foreach ($a in $b) { break outer }", "(:outer foreach $a $b {(break outer)})"),
            (
                "switch ($x) { 'a' { 1 } 2 { 2 } default { 3 } }",
                "(switch $x 'a' {1} 2 {2} default {3})",
            ),
            ("switch -Regex ($x) { '^a' { 1 } }", "(switch -regex $x '^a' {1})"),
            ("switch -wildcard ($x) {\n a* { 1 }\n}", "(switch -wildcard $x a* {1})"),
            ("switch ($x) { { $_ -gt 1 } { 'big' } }", "(switch $x {(-gt $_ 1)} {'big'})"),
        ],
    );
    errors(
        "about_If",
        &[
            ("if $a { 1 }", "missing '(' after 'if'"),
            ("if ($a) { 1 } else if ($b) { 2 }", "write 'elseif'"),
            ("else { 1 }", "unexpected keyword 'else'"),
            ("foreach ($a $b) { }", "missing 'in'"),
        ],
    );
}

#[test]
fn about_try_catch_finally_and_throw() {
    table(
        "about_Try_Catch_Finally / about_Throw / about_Return / about_Trap",
        &[
            ("try { 1 } catch { 2 }", "(try {1} catch {2})"),
            ("try { 1 } finally { 2 }", "(try {1} finally {2})"),
            (
                "try { 1 }\ncatch [System.Net.WebException], [System.IO.IOException] { 2 }\ncatch { 3 }\nfinally { 4 }",
                "(try {1} catch[System.Net.WebException][System.IO.IOException] {2} catch {3} finally {4})",
            ),
            ("throw", "(throw)"),
            ("throw 'bad'", "(throw 'bad')"),
            ("throw (\"x {0}\" -f 1)", "(throw (paren (-f \"x {0}\" 1)))"),
            ("exit 1", "(exit 1)"),
            ("exit $LASTEXITCODE", "(exit $LASTEXITCODE)"),
            ("exit", "(exit)"),
            ("return $x", "(return $x)"),
            ("trap { continue }", "(trap {(continue)})"),
            ("trap [System.Exception] { 1 }", "(trap [System.Exception] {1})"),
        ],
    );
    errors(
        "about_Try_Catch_Finally",
        &[("try { 1 }", "missing its catch or finally")],
    );
}

#[test]
fn about_functions_and_script_blocks() {
    table(
        "about_Functions / about_Functions_Advanced_Parameters / about_Script_Blocks",
        &[
            ("function f { 1 }", "(function f {1})"),
            ("function Get-Thing($a, $b = 2) { $a }", "(function Get-Thing {(param $a $b=2) $a})"),
            ("filter f { $_ }", "(filter f {$_})"),
            (
                "function f {\n [CmdletBinding()]\n param(\n  [Parameter(Mandatory)][string]$Name,\n  [Parameter(Mandatory=$true, Position=0)] $Path,\n  [switch]$Force\n )\n $Name\n}",
                "(function f {[CmdletBinding()](param [Parameter(Mandatory)][string]$Name [Parameter(Mandatory=$true Position=0)]$Path [switch]$Force) $Name})",
            ),
            ("function f { begin { 1 } process { 2 } end { 3 } }", "(function f {begin{1} process{2} end{3}})"),
            ("function global:f { }", "(function global:f {})"),
            ("param($a) $a", "(param $a) $a"),
            ("[CmdletBinding()] param([string[]]$x = @('a')) $x", "[CmdletBinding()](param [string[]]$x=@('a')) $x"),
            ("$sb = { param($x) $x * 2 }", "(= $sb {(param $x) (* $x 2)})"),
            ("& $sb 3", "(cmd & $sb 3)"),
        ],
    );
    // The text of a script block is kept as written.
    let s = parse_support::parse("$b = { Write-Host  'x' }");
    let powershell::ast::StatementKind::Assignment { value, .. } = &s.body.end.statements[0].kind
    else {
        panic!()
    };
    let powershell::ast::StatementKind::Pipeline(p) = &value.kind else {
        panic!()
    };
    let powershell::ast::PipelineElement::Expression { expr, .. } = &p.elements[0] else {
        panic!()
    };
    let powershell::ast::ExprKind::ScriptBlock(sb) = &expr.kind else {
        panic!()
    };
    assert_eq!(sb.text, " Write-Host  'x' ");
    errors(
        "about_Functions",
        &[
            (
                "function f($a) { param($b) }",
                "both after its name and in a param() block",
            ),
            ("function { }", "missing the function name"),
            ("$x; param($a)", "param() must be the first statement"),
        ],
    );
}

#[test]
fn about_type_literals_and_casts() {
    table(
        "about_Type_Accelerators / about_Casting / about_Arrays",
        &[
            ("[int]'5'", "([int] '5')"),
            ("[int] '5'", "([int] '5')"),
            ("[string[]]$a", "([string[]] $a)"),
            ("[int[,]]", "[int[,]]"),
            ("[System.Collections.Generic.Dictionary[string,int]]", "[System.Collections.Generic.Dictionary[string,int]]"),
            ("[Collections.Generic.List[[string]]]", "[Collections.Generic.List[string]]"),
            ("[Net.SecurityProtocolType]::Tls12", "(:: [Net.SecurityProtocolType] Tls12)"),
            ("[Net.SecurityProtocolType]::Tls12 -bor [Net.SecurityProtocolType]::Tls11", "(-bor (:: [Net.SecurityProtocolType] Tls12) (:: [Net.SecurityProtocolType] Tls11))"),
            ("[int]$a + 1", "(+ ([int] $a) 1)"),
            ("[int] -1", "([int] -1)"),
            ("[int]", "[int]"),
            ("$x -is [int] -and $y", "(-and (-is $x [int]) $y)"),
            ("[string]::IsNullOrEmpty($x)", "(:: [string] IsNullOrEmpty($x))"),
            ("[void](New-Item x)", "([void] (paren (cmd New-Item x)))"),
        ],
    );
    errors(
        "about_Type_Accelerators",
        &[
            ("[int", "missing closing ']'"),
            ("[ordered]5", "only be applied to a hashtable"),
        ],
    );
}

#[test]
fn about_redirection() {
    table(
        "about_Redirection",
        &[
            ("git version > out.txt", "(cmd git version (1> out.txt))"),
            ("git version >> out.txt", "(cmd git version (1>> out.txt))"),
            ("git version 2>&1", "(cmd git version (2>&1))"),
            ("git version 2> $null", "(cmd git version (2> $null))"),
            ("git version 2>$null", "(cmd git version (2> $null))"),
            ("git version *> all.txt", "(cmd git version (*> all.txt))"),
            ("git version 3>&1 4>&1", "(cmd git version (3>&1) (4>&1))"),
            (
                "git version *>&1 | Out-Null",
                "(pipe (cmd git version (*>&1)) (cmd Out-Null))",
            ),
            (
                "'text' > $env:TEMP\\f.txt",
                "(redir 'text' (1> (str $env:TEMP \"\\\\f.txt\")))",
            ),
            // Inside a word `>` is text (PowerShell only sees a redirection at a token start).
            ("Write-Output a>b", "(cmd Write-Output a>b)"),
        ],
    );
    errors(
        "about_Redirection",
        &[
            ("Get-Content < in.txt", "'<' operator is reserved"),
            ("git version 2>&2", "only merging into the success stream"),
            ("git version >", "missing the file specification"),
        ],
    );
}

#[test]
fn about_splatting() {
    table(
        "about_Splatting",
        &[
            ("Copy-Item @params", "(cmd Copy-Item @params)"),
            (
                "Copy-Item @params -WhatIf",
                "(cmd Copy-Item @params -WhatIf)",
            ),
            ("Write-Output user@host", "(cmd Write-Output user@host)"),
        ],
    );
    errors(
        "about_Splatting",
        &[(
            "@params",
            "splatting (@name) is only allowed as a command argument",
        )],
    );
}

#[test]
fn unsupported_syntax_is_a_clear_error() {
    errors(
        "about_Classes / about_Enum / about_Using / about_Data_Sections / about_Workflows",
        &[
            ("class Foo { }", "the 'class' statement is not supported"),
            ("enum E { A }", "the 'enum' statement is not supported"),
            (
                "using namespace System",
                "the 'using' statement is not supported",
            ),
            ("data { 'x' }", "the 'data' statement is not supported"),
            (
                "workflow w { }",
                "the 'workflow' statement is not supported",
            ),
        ],
    );
}

#[test]
fn positions_are_line_and_column() {
    let e = powershell::parser::parse("Write-Host a\n  $x $y").unwrap_err();
    assert_eq!((e.span.line, e.span.col), (2, 6), "{e}");
    assert_eq!(
        e.to_string(),
        "2:6: unexpected token '$y' in expression or statement"
    );
    let src = "a\n  Get-Item  x   # note\n$y = 1 ;";
    let s = parse_support::parse(src);
    let st = &s.body.end.statements[1];
    // A statement's span ends with its last token, not with the blanks or comment after it.
    assert_eq!(
        (st.span.line, st.span.col, st.span.start, st.span.end),
        (2, 3, 4, 15)
    );
    assert_eq!(s.body.end.statements[2].span.text(src), "$y = 1");
    // Columns count characters, not bytes.
    let e = powershell::parser::parse("'é' $x").unwrap_err();
    assert_eq!((e.span.line, e.span.col), (1, 5), "{e}");
}

#[test]
fn bounds() {
    let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    assert!(error(&deep).contains("nests deeper than 200"));
    let deep = format!("{}1{}", "@(".repeat(500), ")".repeat(500));
    assert!(error(&deep).contains("nests deeper than 200"));
    let deep = "-".repeat(1000) + "1";
    assert!(powershell::parser::parse(&deep).is_err() || show(&deep).starts_with('('));
    let big = "#".repeat(powershell::ast::MAX_SCRIPT_BYTES + 1);
    assert!(error(&big).contains("at most 1048576"));
    // Nesting within the bound parses.
    let ok = format!("{}1{}", "(".repeat(50), ")".repeat(50));
    assert!(show(&ok).ends_with(&")".repeat(50)));
}

#[test]
fn long_single_line_scripts_parse_in_linear_time() {
    // Columns count characters; a one-line script with many statements must not rescan the line
    // for every node (it took minutes before the line index had block checkpoints).
    let src = format!("'é'; {}", "1;".repeat(100_000));
    let start = std::time::Instant::now();
    let script = parse_support::parse(&src);
    assert_eq!(script.body.end.statements.len(), 100_001);
    let last = script
        .body
        .end
        .statements
        .last()
        .map(|s| s.span)
        .unwrap_or_default();
    assert_eq!((last.line, last.col), (1, 6 + 2 * 99_999));
    assert!(start.elapsed().as_secs() < 60, "took {:?}", start.elapsed());
}
