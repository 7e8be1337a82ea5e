//! Word expansion of a parsed command (BuildKit's `SupportsSingleWordExpansion` and friends):
//! which words of which instruction are expanded, with a given lexer and environment.

use crate::dockerfile::shell::{Env, LexError, Lexer};

use super::{
    parse_mount, Command, Instruction, InstructionError, Mount, RunCommand, SourcesAndDest,
};

impl Command {
    /// Expands the words BuildKit expands for this instruction with `lexer` and `env` (the
    /// stage environment *before* the instruction). Instructions BuildKit does not expand (RUN
    /// command text, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER, ARG — whose
    /// default is expanded when the ARG is dispatched) are returned unchanged.
    pub fn expand(&self, lexer: &Lexer, env: &Env) -> Result<Command, InstructionError> {
        let err = |e: String| InstructionError::new(e, self.location);
        let word = |w: &str| {
            lexer
                .process_word(w, env)
                .map_err(|e: LexError| e.to_string())
        };
        let mut out = self.clone();
        match &mut out.instruction {
            Instruction::Env(kvs) | Instruction::Label(kvs) => {
                for kv in kvs.iter_mut() {
                    kv.key = word(&kv.key).map_err(err)?;
                    kv.value = word(&kv.value).map_err(err)?;
                }
            }
            Instruction::Add(add) => {
                expand_paths(&mut add.paths, &word).map_err(err)?;
                add.chown = word(&add.chown).map_err(err)?;
                add.chmod = word(&add.chmod).map_err(err)?;
                add.checksum = word(&add.checksum).map_err(err)?;
                for e in add.exclude.iter_mut() {
                    *e = word(e).map_err(err)?;
                }
            }
            Instruction::Copy(copy) => {
                if copy.from.find('$').is_some_and(|i| i + 1 < copy.from.len()) {
                    return Err(err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into()));
                }
                expand_paths(&mut copy.paths, &word).map_err(err)?;
                copy.chown = word(&copy.chown).map_err(err)?;
                copy.chmod = word(&copy.chmod).map_err(err)?;
                for e in copy.exclude.iter_mut() {
                    *e = word(e).map_err(err)?;
                }
            }
            Instruction::Workdir(p) | Instruction::User(p) | Instruction::StopSignal(p) => {
                *p = word(p).map_err(err)?;
            }
            Instruction::Volume(vs) => {
                for v in vs.iter_mut() {
                    *v = word(v).map_err(err)?;
                }
            }
            Instruction::Expose(ports) => {
                let mut expanded = Vec::new();
                for p in ports.iter() {
                    expanded.extend(
                        lexer
                            .process_words(p, env)
                            .map_err(|e| err(e.to_string()))?,
                    );
                }
                *ports = expanded;
            }
            Instruction::Run(run) => {
                let mut specs = Vec::new();
                for spec in &run.mount_specs {
                    // Validate with expansion; keep the spec text expanded field by field.
                    let mut f = |v: &str| word(v);
                    parse_mount(spec, Some(&mut f)).map_err(err)?;
                    specs.push(spec.clone());
                }
                run.mount_specs = specs;
            }
            _ => {}
        }
        Ok(out)
    }
}

impl RunCommand {
    /// The `--mount`s with every value expanded in `env`.
    pub fn mounts(&self, lexer: &Lexer, env: &Env) -> Result<Vec<Mount>, String> {
        self.mount_specs
            .iter()
            .map(|spec| {
                let mut f = |v: &str| lexer.process_word(v, env).map_err(|e| e.to_string());
                parse_mount(spec, Some(&mut f))
            })
            .collect()
    }
}

fn expand_paths(
    paths: &mut SourcesAndDest,
    word: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(), String> {
    for s in paths.sources.iter_mut() {
        *s = word(s)?;
    }
    paths.dest = word(&paths.dest)?;
    Ok(())
}
