//! Prints the parse of a script given as the first argument (a developer aid).
#[path = "../tests/parse_support/mod.rs"]
mod parse_support;

fn main() {
    // The script is the first argument, or the file named after `-f`.
    let args: Vec<String> = std::env::args().collect();
    let src = match args.get(1).map(String::as_str) {
        Some("-f") => {
            std::fs::read_to_string(args.get(2).map_or("", String::as_str)).unwrap_or_default()
        }
        _ => args.get(1).cloned().unwrap_or_default(),
    };
    match powershell::parser::parse(&src) {
        Ok(s) => {
            let text = parse_support::script(&s);
            println!("{}", text.chars().take(2000).collect::<String>());
        }
        Err(e) => println!("ERROR {e}"),
    }
}
