use powershell::host::TestHost;
#[test]
fn smoke() {
    let d = tempfile::tempdir().unwrap();
    let mut h = TestHost::new(d.path());
    let src = "$ErrorActionPreference = 'Stop'; $x = 1 + 2; Write-Host \"x=$x\"; $a = @(1,2,3) | ForEach-Object { $_ * 2 }; Write-Host ($a -join ','); '{0:N2}' -f 3.14159";
    let code = powershell::run_script(src, "test", &mut h, vec![], "C:\\");
    println!("out={}\nerr={}", h.out, h.err);
    assert_eq!(code, 0);
}
