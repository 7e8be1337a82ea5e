//! Prints the parse of a script given as the first argument (a developer aid).
#[path = "../tests/parse_support/mod.rs"]
mod parse_support;

fn main() {
    let src = std::env::args().nth(1).unwrap_or_default();
    match powershell::parser::parse(&src) {
        Ok(s) => println!("{}", parse_support::script(&s)),
        Err(e) => println!("ERROR {e}"),
    }
}
