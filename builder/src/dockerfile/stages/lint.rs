//! BuildKit lint rules that look at the AST only (instruction spelling).

use super::LintWarning;
use crate::dockerfile::ast::Node;

/// Lint rules that look at instruction spelling only.
pub(super) fn lint_ast(ast: &Node) -> Vec<LintWarning> {
    let mut out = Vec::new();
    let (mut upper, mut lower) = (0, 0);
    for n in &ast.children {
        if n.value == n.value.to_uppercase() {
            upper += 1;
        } else if n.value == n.value.to_lowercase() {
            lower += 1;
        }
    }
    let majority_upper = upper >= lower;
    for n in &ast.children {
        let name = &n.value;
        let ok = if majority_upper {
            *name == name.to_uppercase()
        } else {
            *name == name.to_lowercase()
        };
        if !ok {
            out.push(LintWarning {
                rule: "ConsistentInstructionCasing",
                message: format!(
                    "Command '{name}' should match the case of the command majority ({})",
                    if majority_upper {
                        "uppercase"
                    } else {
                        "lowercase"
                    }
                ),
                line: n.start_line,
            });
        }
        let lower_name = name.to_lowercase();
        let args: Vec<&str> = n.args().map(|a| a.value.as_str()).collect();
        match lower_name.as_str() {
            "from" if args.len() == 3 => {
                let from_upper = *name == name.to_uppercase();
                let from_lower = *name == name.to_lowercase();
                let as_kw = args[1];
                if (from_upper && as_kw != as_kw.to_uppercase()) || (from_lower && as_kw != as_kw.to_lowercase()) {
                    out.push(LintWarning {
                        rule: "FromAsCasing",
                        message: "'as' and 'FROM' keywords' casing do not match".into(),
                        line: n.start_line,
                    });
                }
                if args[2] != args[2].to_lowercase() {
                    out.push(LintWarning {
                        rule: "StageNameCasing",
                        message: format!("Stage name '{}' should be lowercase", args[2]),
                        line: n.start_line,
                    });
                }
            }
            "maintainer" => out.push(LintWarning {
                rule: "MaintainerDeprecated",
                message: "Maintainer instruction is deprecated in favor of using label".into(),
                line: n.start_line,
            }),
            // Triplets key, value, separator; an empty separator is the legacy form.
            "env" | "label" if args.len() >= 3 && args[2].is_empty() => {
                out.push(LintWarning {
                    rule: "LegacyKeyValueFormat",
                    message: format!(
                        "\"{0} key=value\" should be used instead of legacy \"{0} key value\" format",
                        name.to_uppercase()
                    ),
                    line: n.start_line,
                });
            }
            "cmd" | "entrypoint" if !n.json && !args.is_empty() => out.push(LintWarning {
                rule: "JSONArgsRecommended",
                message: format!(
                    "JSON arguments recommended for {} to prevent unintended behavior related to OS signals",
                    name.to_uppercase()
                ),
                line: n.start_line,
            }),
            _ => {}
        }
    }
    out
}
