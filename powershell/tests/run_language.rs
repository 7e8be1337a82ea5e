//! Language features through `run_script`, one table per about_* page of the PowerShell
//! documentation (learn.microsoft.com, Windows PowerShell 5.1): each row a script and the exact
//! console output Windows PowerShell 5.1 prints for it.

mod run_support;

use run_support::*;

fn check(rows: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (script, want) in rows {
        let r = run(script);
        if r.out() != *want || r.code != 0 {
            failures.push(format!(
                "{script}\n   want {want:?}\n    got {:?} (exit {}) {}",
                r.out(),
                r.code,
                r.err()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// about_Arithmetic_Operators
#[test]
fn arithmetic() {
    check(&[
        ("1 + 2", "3\n"),
        ("'1' + 2", "12\n"),
        ("1 + '2'", "3\n"),
        ("7 / 2", "3.5\n"),
        ("6 / 3", "2\n"),
        ("7 % 3", "1\n"),
        ("-7 % 3", "-1\n"),
        ("[int]::MaxValue + 1", "2147483648\n"),
        ("(([int]::MaxValue + 1)).GetType().Name", "Double\n"),
        ("'ab' * 3", "ababab\n"),
        ("(1,2) * 2 -join ','", "1,2,1,2\n"),
        ("@(1,2) + 3 -join ','", "1,2,3\n"),
        ("$a = @(1); $a += 2; $a += 'x'; $a -join ','", "1,2,x\n"),
        ("0.1 + 0.2", "0.3\n"),
        ("1e3", "1000\n"),
        ("0x10 + 1", "17\n"),
        ("1kb", "1024\n"),
        ("5 - '2'", "3\n"),
        ("$x = 5; $x++; $x--; ++$x; $x", "6\n"),
        ("$i = 10; $i -= 3; $i *= 2; $i /= 7; $i", "2\n"),
        ("[int]2.5; [int]3.5; [int]'7'", "2\n4\n7\n"),
        ("-5 + 2", "-3\n"),
        ("$null + 1", "1\n"),
        ("1..5 -join ' '", "1 2 3 4 5\n"),
        ("5..3 -join ' '", "5 4 3\n"),
        ("[math]::Round(2.5); [math]::Round(2.567, 2)", "2\n2.57\n"),
        ("3 -band 1; 1 -bor 2; 6 -bxor 3; 1 -shl 4", "1\n3\n5\n16\n"),
    ]);
}

/// about_Comparison_Operators
#[test]
fn comparison() {
    check(&[
        ("'abc' -eq 'ABC'", "True\n"),
        ("'abc' -ceq 'ABC'", "False\n"),
        ("1 -eq '1'", "True\n"),
        ("'1.0' -eq 1", "False\n"),
        ("1 -eq '1.0'", "True\n"),
        ("(1,2,3,2 -eq 2) -join ','", "2,2\n"),
        ("(1,2,3 -ne 2) -join ','", "1,3\n"),
        ("'b' -gt 'a'; 10 -gt 9; '10' -gt '9'", "True\nTrue\nFalse\n"),
        ("'file.ZIP' -like '*.zip'", "True\n"),
        ("'file.zip' -notlike 'f?le.*'", "False\n"),
        (
            "'version 1.2.3' -match '(\\d+)\\.(\\d+)'; $Matches[0]; $Matches[2]",
            "True\n1.2\n2\n",
        ),
        ("'abc' -match '(?<first>a)'; $Matches.first", "True\na\n"),
        ("'x' -notmatch 'y'", "True\n"),
        ("(('a1','b2','c') -match '\\d') -join ','", "a1,b2\n"),
        (
            "1,2,3 -contains 2; 1,2,3 -notcontains 5; 2 -in 1,2; 'A' -in 'a','b'",
            "True\nTrue\nTrue\nTrue\n",
        ),
        ("$null -eq $null; $null -eq 0", "True\nFalse\n"),
        ("[version]'1.10' -gt [version]'1.9'", "True\n"),
        (
            "'a' -is [string]; 1 -is [int]; 1 -isnot [string]; (1,2) -is [array]",
            "True\nTrue\nTrue\nTrue\n",
        ),
        (
            "('5' -as [int]) + 1; ('x' -as [int]) -eq $null",
            "6\nTrue\n",
        ),
    ]);
}

/// about_Logical_Operators, about_Booleans
#[test]
fn logic_and_truth() {
    check(&[
        (
            "$true -and $false; $true -or $false; $true -xor $true; -not $true; !$false",
            "False\nTrue\nFalse\nFalse\nTrue\n",
        ),
        (
            "[bool]''; [bool]'False'; [bool]0; [bool]@(); [bool]@(0); [bool]@(0,0); [bool]$null",
            "False\nTrue\nFalse\nFalse\nFalse\nTrue\nFalse\n",
        ),
        ("if ('') { 'yes' } else { 'no' }", "no\n"),
        (
            "if (@()) { 'yes' } elseif (1) { 'one' } else { 'no' }",
            "one\n",
        ),
    ]);
}

/// about_Operators (-f, -join, -split, -replace), about_Quoting_Rules, about_Special_Characters
#[test]
fn string_operators_and_quoting() {
    check(&[
        ("'{0}-{1}' -f 'a', 2", "a-2\n"),
        ("'{0,5}|{0,-5}|' -f 42", "   42|42   |\n"),
        ("'{0:N2}' -f 1234.567", "1,234.57\n"),
        ("'{0:X}' -f 255; '{0:x4}' -f 255", "FF\n00ff\n"),
        ("'{0:D3}' -f 7", "007\n"),
        ("'{{{0}}}' -f 1", "{1}\n"),
        ("(1,2,3) -join '+'", "1+2+3\n"),
        ("-join ('a','b')", "ab\n"),
        ("('a,b,,c' -split ',').Count", "4\n"),
        ("('a1b2c' -split '\\d') -join '|'", "a|b|c\n"),
        ("(-split ' a  b ') -join '|'", "a|b\n"),
        ("'hello world' -replace 'o', '0'", "hell0 w0rld\n"),
        (
            "'John Smith' -replace '(\\w+) (\\w+)', '$2, $1'",
            "Smith, John\n",
        ),
        ("'ABC' -replace 'b'", "AC\n"),
        ("'ABC' -creplace 'b', 'x'", "ABC\n"),
        (
            "$x = 'w'; \"a $x $($x.Length + 1) `$x `t|\"",
            "a w 2 $x \t|\n",
        ),
        ("'single $x'", "single $x\n"),
        ("\"it''s\"; 'it''s'", "it''s\nit's\n"),
        ("$a = 1,2,3; \"$a\"", "1 2 3\n"),
        ("$OFS = '-'; $a = 1,2,3; \"$a\"", "1-2-3\n"),
        ("@'\nline1\n  $x\n'@", "line1\n  $x\n"),
        ("$x = 'v'; @\"\nval: $x\n\"@", "val: v\n"),
        ("\"a`r`nb\".Length", "4\n"),
    ]);
}

/// about_Variables, about_Scopes, about_Environment_Variables, about_Automatic_Variables
#[test]
fn variables_scopes_env() {
    check(&[
        ("$x = 1; function f { $x = 2; $x }; f; $x", "2\n1\n"),
        ("$x = 1; function f { $script:x = 2 }; f; $x", "2\n"),
        ("function f { $global:g = 'G' }; f; $g", "G\n"),
        ("$x = 1; & { $x = 5 }; $x; . { $x = 6 }; $x", "1\n6\n"),
        ("$env:FOO = 'bar'; $env:foo; ${env:FOO}", "bar\nbar\n"),
        (
            "$env:FOO = 'bar'; $env:FOO = $null; $env:FOO -eq $null",
            "True\n",
        ),
        ("$env:ProgramFiles", "C:\\Program Files\n"),
        (
            "$PSVersionTable.PSVersion.Major; $PSVersionTable.PSEdition",
            "5\nDesktop\n",
        ),
        ("$true; $false; $null", "True\nFalse\n"),
        ("$PWD.Path; (Get-Location).Path", "C:\\app\nC:\\app\n"),
        ("$HOME", "C:\\Users\\ContainerAdministrator\n"),
        ("${my var} = 3; ${my var}", "3\n"),
        ("$a, $b = 1, 2; $b; $a", "2\n1\n"),
        ("$a, $b = 1, 2, 3; $b -join ','", "2,3\n"),
        ("[string]$s = 5; $s.GetType().Name", "String\n"),
        (
            "Set-Variable -Name v -Value 9; Get-Variable v -ValueOnly; $v",
            "9\n9\n",
        ),
        ("$ErrorActionPreference", "Continue\n"),
        (
            "$MyInvocation.MyCommand.Path -eq $null; $MyInvocation.ScriptName -eq ''",
            "True\nTrue\n",
        ),
    ]);
}

/// about_If, about_Switch, about_For, about_Foreach, about_While, about_Do, about_Break, about_Continue
#[test]
fn flow_control() {
    check(&[
        ("foreach ($i in 1..3) { $i * 2 }", "2\n4\n6\n"),
        ("foreach ($i in $null) { 'never' }; 'done'", "done\n"),
        ("for ($i = 0; $i -lt 3; $i++) { $i }", "0\n1\n2\n"),
        ("$i = 0; while ($i -lt 3) { $i++ }; $i", "3\n"),
        ("$i = 0; do { $i++ } while ($i -lt 3); $i", "3\n"),
        ("$i = 0; do { $i++ } until ($i -ge 5); $i", "5\n"),
        ("foreach ($i in 1..5) { if ($i -eq 2) { continue }; if ($i -eq 4) { break }; $i }", "1\n3\n"),
        (":outer foreach ($a in 1..3) { foreach ($b in 1..3) { if ($b -eq 2) { continue outer }; \"$a$b\" } }", "11\n21\n31\n"),
        ("switch (3) { 1 { 'one' } 3 { 'three' } default { 'other' } }", "three\n"),
        ("switch ('x') { 1 { 'one' } default { 'other' } }", "other\n"),
        ("switch -Wildcard ('setup.exe') { '*.msi' { 'msi' } '*.exe' { 'exe' } }", "exe\n"),
        ("switch -Regex ('v1.2') { '^v(\\d+)' { $Matches[1] } }", "1\n"),
        ("switch (1,2) { 1 { 'a' } 2 { 'b' } }", "a\nb\n"),
        ("switch (5) { { $_ -gt 3 } { 'big' } }", "big\n"),
        ("$r = if ($true) { 'y' } else { 'n' }; $r", "y\n"),
    ]);
}

/// about_Functions, about_Functions_Advanced_Parameters, about_Script_Blocks, about_Splatting
#[test]
fn functions_and_script_blocks() {
    check(&[
        ("function Add($a, $b) { $a + $b }; Add 1 2; Add -b 3 -a 4", "3\n7\n"),
        ("function f { param([switch]$Loud, $Name = 'def') if ($Loud) { $Name.ToUpper() } else { $Name } }; f; f x -Loud", "def\nX\n"),
        // A default ends at the comma that separates the next parameter.
        ("function g { param($Name = 'def', [switch]$Loud) if ($Loud) { $Name.ToUpper() } else { $Name } }; g; g x -Loud", "def\nX\n"),
        ("function f { param([int]$n) $n + 1 }; f '41'", "42\n"),
        ("function f { \"args: $args\" }; f a b", "args: a b\n"),
        ("function f { return 5; 'not' }; f", "5\n"),
        ("function f { 1; 2 }; $r = f; $r.Count", "2\n"),
        ("& { param($x) $x * 3 } 2; $sb = { param($x) $x * 3 }; $sb.Invoke(3)", "6\n9\n"),
        ("$sb = { 'hi' }; $sb.ToString()", " 'hi' \n"),
        ("function f { process { $_ * 10 } }; 1,2 | f", "10\n20\n"),
        ("filter dbl { $_ * 2 }; 1,2,3 | dbl", "2\n4\n6\n"),
        ("function f { begin { 'b' } process { \"p$_\" } end { 'e' } }; 1,2 | f", "b\np1\np2\ne\n"),
        ("function j($Path, $ChildPath) { \"$Path\\$ChildPath\" }; $p = @{ Path = 'C:\\x'; ChildPath = 'y' }; j @p", "C:\\x\\y\n"),
        ("function f { param($a, $b) \"$a-$b\" }; $arr = 1, 2; f @arr", "1-2\n"),
        ("function f { [CmdletBinding()] param([Parameter(Mandatory=$true)]$n) $n }; f 3", "3\n"),
        ("function f { param([Parameter(ValueFromPipeline=$true)]$x) process { \"<$x>\" } }; 'a','b' | f", "<a>\n<b>\n"),
        ("function Get-Thing { 'thing' }; Get-Thing", "thing\n"),
    ]);
}

/// about_Arrays, about_Hash_Tables, about_Properties, about_Methods
#[test]
fn collections_and_members() {
    check(&[
        ("$a = 1,2,3; $a.Count; $a[0]; $a[-1]; $a[1..2] -join ','", "3\n1\n3\n2,3\n"),
        ("@().Count; @(1).Count; (,1).Count", "0\n1\n1\n"),
        ("$a = @(); $a.Length", "0\n"),
        ("$h = @{ b = 2; a = 1 }; $h.a; $h['B']; $h.Count", "1\n2\n2\n"),
        ("$h = @{}; $h.x = 1; $h['y'] = 2; $h.Add('z', 3); $h.ContainsKey('Z'); $h.Keys.Count", "True\n3\n"),
        ("$h = [ordered]@{ z = 1; a = 2 }; $h.Keys -join ','", "z,a\n"),
        ("$h = @{ a = 1 }; $h.Remove('a'); $h.Count", "0\n"),
        ("$o = [PSCustomObject]@{ Name = 'n'; Size = 3 }; $o.Name; $o.Size + 1", "n\n4\n"),
        ("$o = [PSCustomObject]@{ A = 1 }; $o.A = 2; $o.A", "2\n"),
        ("$items = @([PSCustomObject]@{ N = 'a' }, [PSCustomObject]@{ N = 'b' }); $items.N -join ','", "a,b\n"),
        ("'  x  '.Trim(); 'abc'.ToUpper(); 'a,b'.Split(',').Count; 'hello'.Substring(1, 3); 'abc'.Replace('b', 'X')", "x\nABC\n2\nell\naXc\n"),
        ("'Hello'.StartsWith('He'); 'Hello'.EndsWith('LO'); 'Hello'.Contains('ll'); 'Hello'.IndexOf('l')", "True\nFalse\nTrue\n2\n"),
        ("'5'.PadLeft(3, '0'); 'ab'.Length; 'C:\\a\\'.TrimEnd('\\')", "005\n2\nC:\\a\n"),
        ("(1,2,3).Contains(2); @(1,2).IndexOf(2)", "True\n1\n"),
        ("$l = New-Object System.Collections.Generic.List[string]; $l.Add('a'); $l.Add('b'); $l.Count; $l[1]", "2\nb\n"),
        ("(1).ToString(); (255).ToString('X2'); (1.5).ToString()", "1\nFF\n1.5\n"),
        ("$s = 'x'; $s.GetType().FullName", "System.String\n"),
        ("$d = [datetime]'2020-01-02 03:04:05'; \"$d\"; [string]$d; $d", "01/02/2020 03:04:05\n01/02/2020 03:04:05\n\nThursday, January 2, 2020 3:04:05 AM\n\n"),
        ("(Get-Date -Year 2020 -Month 1 -Day 2 -Hour 3 -Minute 4 -Second 5).ToString('yyyy-MM-dd HH:mm:ss')", "2020-01-02 03:04:05\n"),
    ]);
}

/// about_Try_Catch_Finally, about_Throw
#[test]
fn try_catch_throw() {
    check(&[
        ("try { throw 'boom' } catch { \"caught: $_\" }", "caught: boom\n"),
        ("try { throw 'x' } catch { $_.Exception.Message } finally { 'fin' }", "x\nfin\n"),
        ("try { 1/0 } catch [System.Management.Automation.RuntimeException] { $_.Exception.Message }", "Attempted to divide by zero.\n"),
        ("try { Get-Item C:\\nope -ErrorAction Stop } catch [System.Management.Automation.ItemNotFoundException] { 'nf' }", "nf\n"),
        ("try { Get-Item C:\\nope -ErrorAction Stop } catch { $_.CategoryInfo.Category }", "ObjectNotFound\n"),
        ("try { nosuch.exe } catch [System.Management.Automation.CommandNotFoundException] { 'cnf' }", "cnf\n"),
        ("try { [IO.File]::ReadAllText('C:\\nope.txt') } catch [System.IO.FileNotFoundException] { 'fnf' }", "fnf\n"),
        ("try { try { throw 'in' } finally { 'f1' } } catch { \"out $_\" }", "f1\nout in\n"),
        ("try { throw 'a' } catch { try { throw $_ } catch { \"re: $_\" } }", "re: a\n"),
        ("$ErrorActionPreference = 'Stop'; try { Write-Error 'we' } catch { \"c: $_\" }", "c: we\n"),
    ]);
}

/// about_Pipelines, about_Redirection
#[test]
fn pipelines_and_redirection() {
    check(&[
        ("1..5 | Where-Object { $_ -gt 3 }", "4\n5\n"),
        ("1..3 | ? { $_ -ne 2 } | % { $_ * 10 }", "10\n30\n"),
        ("'a','bb','ccc' | Where-Object Length -gt 1", "bb\nccc\n"),
        ("'a','bb' | ForEach-Object Length", "1\n2\n"),
        (
            "'a','b' | ForEach-Object -Begin { 'start' } -Process { $_ } -End { 'end' }",
            "start\na\nb\nend\n",
        ),
        ("3,1,2 | Sort-Object", "1\n2\n3\n"),
        (
            "3,1,2 | Sort-Object -Descending | Select-Object -First 2",
            "3\n2\n",
        ),
        ("1,1,2 | Select-Object -Unique", "1\n2\n"),
        ("1..10 | Select-Object -Last 2 -Skip 1", "9\n10\n"),
        (
            "(1..4 | Measure-Object -Sum).Sum; (1..4 | Measure-Object).Count",
            "10\n4\n",
        ),
        (
            "[PSCustomObject]@{ N = 'x' } | Select-Object -ExpandProperty N",
            "x\n",
        ),
        ("'b','a' | Sort-Object | Out-String", "a\r\nb\r\n\n"),
        (
            "Write-Output 1 2 3 | Measure-Object | Select-Object -ExpandProperty Count",
            "3\n",
        ),
        ("$x = 'a' | Out-Null; $x -eq $null", "True\n"),
        ("'a' > $null; 'b'", "b\n"),
        ("Write-Error 'e' 2>$null; 'after'", "after\n"),
        ("$r = Write-Error 'e2' 2>&1; $r.Exception.Message", "e2\n"),
        ("@('x','y') | Group-Object | ForEach-Object Count", "1\n1\n"),
    ]);
}

/// about_Type_Operators, about_Type_Accelerators, casts
#[test]
fn casts_and_types() {
    check(&[
        ("[int]'42' + 1; [string]42 + 1; [bool]'x'", "43\n421\nTrue\n"),
        ("[int]' 12 '; [double]'1e3'; [int]'0x10'", "12\n1000\n16\n"),
        ("[char]65; [int][char]'A'", "A\n65\n"),
        ("[string[]]$a = 1,2; $a[0].GetType().Name", "String\n"),
        ("[version]'1.2.3'; ([version]'1.2.3').Minor", "1.2.3\n2\n"),
        ("[uri]'https://h.test/a/b?q=1' | ForEach-Object Host", "h.test\n"),
        ("[datetime]'2021-03-04' | ForEach-Object DayOfWeek", "Thursday\n"),
        ("[Net.SecurityProtocolType]::Tls12; [int][Net.SecurityProtocolType]::Tls12", "Tls12\n3072\n"),
        ("[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor 3072 -bor 768; [Net.ServicePointManager]::SecurityProtocol", "Tls11, Tls12\n"),
        ("[void](1 + 1); 'v'", "v\n"),
        ("[Environment]::NewLine.Length; [Environment]::Is64BitOperatingSystem", "2\nTrue\n"),
        ("[System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('aGk='))", "hi\n"),
        ("[Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes('a'))", "YQA=\n"),
        ("[IO.Path]::Combine('C:\\a', 'b', 'c.txt'); [IO.Path]::GetFileName('C:\\a\\b.zip'); [IO.Path]::GetExtension('x.tar.gz')", "C:\\a\\b\\c.txt\nb.zip\n.gz\n"),
        ("[IO.Path]::GetFileNameWithoutExtension('C:\\a\\b.zip'); [IO.Path]::GetDirectoryName('C:\\a\\b.zip')", "b\nC:\\a\n"),
        ("[string]::IsNullOrEmpty(''); [string]::Join(',', @('a','b')); [string]::Format('{0}!', 'x')", "True\na,b\nx!\n"),
        ("[Environment]::GetFolderPath('ProgramFiles'); [Environment]::GetFolderPath([Environment+SpecialFolder]::CommonApplicationData)", "C:\\Program Files\nC:\\ProgramData\n"),
    ]);
}
