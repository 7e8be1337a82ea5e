//! Walking the build: the stages a target needs in order, each stage's commands dispatched
//! through the frontend and turned into steps, with progress and located errors.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::{BuildError, BuiltImage, BuiltStage, Engine, LayerOutcome, StageState};
use crate::build::engine::frontend_config::{from_frontend, to_frontend};
use crate::dockerfile::instructions::{self, Command, Instruction, Location, Parsed};
use crate::dockerfile::shell::HostMode;
use crate::dockerfile::stages::{Base, BaseConfig, Stage, StageDispatcher, Step};
use crate::layer::changeset::Timestamp;
use crate::oci;

impl Engine<'_> {
    pub(super) fn build_plan(&mut self) -> Result<BuiltImage, BuildError> {
        let mut built: BTreeMap<usize, BuiltStage> = BTreeMap::new();
        for index in self.plan.build_order() {
            let stage = &self.plan.stages[index];
            let done = self.build_stage(stage, &built)?;
            built.insert(index, done);
        }
        let target = built
            .remove(&self.plan.target)
            .expect("the target stage was built");
        self.finish_image(target.state)
    }

    /// Asks the runtime about every RUN step of the stage before its first step runs, so a step
    /// the runtime cannot run fails the build before anything of the stage happened. With a
    /// remote cache the step may come from it (built elsewhere, e.g. on Windows), so the refusal
    /// is a warning there and the step fails only if it must really run.
    fn check_runs_up_front(
        &self,
        stage: &Stage,
        triggers: &[Command],
        inherit: &BaseConfig,
    ) -> Result<(), BuildError> {
        let mut preview = StageDispatcher::new(self.plan, stage, inherit.clone());
        preview.config.on_build.clear();
        for cmd in triggers.iter().chain(stage.commands.iter()) {
            // Dispatch errors are reported by the real pass, at their step.
            let Ok(dispatched) = preview.dispatch(cmd) else {
                break;
            };
            let Step::Run(run) = &dispatched.step else {
                continue;
            };
            if let Err(reason) = self.runtime.check_step(&run.command_line) {
                if self.remote.is_some() {
                    self.progress.warn(&format!(
                        "{}:{}: the {} runtime cannot run this step ({reason}); the build fails \
                         there unless the cache has it",
                        self.file,
                        cmd.location.start_line,
                        self.runtime.name()
                    ));
                } else {
                    return Err(self.step_error(cmd.location, &cmd.original, reason));
                }
            }
        }
        Ok(())
    }

    fn step_error(&self, location: Location, text: &str, reason: String) -> BuildError {
        self.step_failed(location, text, BuildError::Refused(reason))
    }

    /// `cause`, located at a step.
    fn step_failed(&self, location: Location, text: &str, cause: BuildError) -> BuildError {
        BuildError::Step {
            file: self.file.clone(),
            line: location.start_line,
            text: text.trim().to_string(),
            cause: Box::new(cause),
        }
    }

    /// Gives an error without a location the command's file:line and text.
    fn locate(&self, cmd: &Command, error: BuildError) -> BuildError {
        match error {
            located @ (BuildError::Dockerfile { .. }
            | BuildError::Step { .. }
            | BuildError::RunFailed { .. }) => located,
            cause => self.step_failed(cmd.location, &cmd.original, cause),
        }
    }

    /// `[stage 2/5] TEXT` (BuildKit's progress prefix; the stage name only with several stages).
    fn step_label(&self, stage: &Stage, number: usize, total: usize, text: &str) -> String {
        let mut label = String::from("[");
        if self.multi_platform {
            if let Some(v) = &self.platform.os_version {
                label.push_str(&format!("windows/amd64:{v} "));
            }
        }
        if self.plan.stages.len() > 1 {
            if stage.name.is_empty() {
                label.push_str(&format!("stage-{}", stage.index));
            } else {
                label.push_str(&stage.name);
            }
            label.push(' ');
        }
        label.push_str(&format!("{number}/{total}] {}", text.trim()));
        label
    }

    /// A stage's start on the image `name` (its FROM, or a `--build-context` replacing the
    /// stage): the image resolved as one progress step, its state, config and ONBUILD triggers.
    fn start_on_image(
        &mut self,
        stage: &Stage,
        name: &str,
        label: String,
    ) -> Result<(StageState, BaseConfig, Vec<String>), BuildError> {
        let step = self.progress.begin(label);
        let base = match self.resolve_image(name) {
            Ok(base) => base,
            Err(e) => {
                self.progress.fail(step, &e.to_string());
                return Err(self.step_failed(
                    stage.from.location,
                    &stage.from.original,
                    BuildError::from(e),
                ));
            }
        };
        self.progress
            .output(step.number, &format!("resolved {}", base.manifest_digest));
        self.progress.finish(step, false, None);
        let triggers = base.config.config.on_build.clone().unwrap_or_default();
        let inherit = BaseConfig::image(to_frontend(&base.config));
        let base_history = base.config.history.len();
        Ok((
            StageState {
                config: base.config,
                layers: base.layers,
                flavor: base.flavor,
                base_history,
                files: Rc::new(RefCell::new(None)),
                step_layer_time: None,
                newest_layer_time: None,
            },
            inherit,
            triggers,
        ))
    }

    /// The `--build-context` location that replaces `stage` (a named stage whose name is a
    /// context's, case-insensitively as BuildKit's lowercased stage names).
    fn replacing_context(&self, stage: &Stage) -> Option<String> {
        if stage.name.is_empty() {
            return None;
        }
        self.request
            .contexts
            .names()
            .find(|n| n.eq_ignore_ascii_case(&stage.name))
            .map(str::to_string)
    }

    /// ONBUILD triggers as commands located at the stage's FROM line.
    fn parse_triggers(
        &self,
        stage: &Stage,
        triggers: &[String],
    ) -> Result<Vec<Command>, BuildError> {
        let at = |m: String| self.step_error(stage.from.location, &stage.from.original, m);
        let mut out = Vec::new();
        for trigger in triggers {
            let parsed = crate::dockerfile::parse(trigger.as_bytes())
                .map_err(|e| at(format!("ONBUILD trigger {trigger:?}: {e}")))?;
            let [node] = parsed.ast.children.as_slice() else {
                return Err(at(format!(
                    "onbuild trigger {trigger:?} should be a single expression"
                )));
            };
            match instructions::parse_instruction(node, HostMode::Linux)
                .map_err(|e| at(format!("ONBUILD trigger {trigger:?}: {e}")))?
            {
                Parsed::Command(mut cmd) => {
                    cmd.location = stage.from.location;
                    out.push(cmd);
                }
                Parsed::From(_) => {
                    return Err(at("FROM isn't allowed as an ONBUILD trigger".into()));
                }
            }
        }
        Ok(out)
    }

    fn build_stage(
        &mut self,
        stage: &Stage,
        built: &BTreeMap<usize, BuiltStage>,
    ) -> Result<BuiltStage, BuildError> {
        let layer_steps = stage
            .commands
            .iter()
            .filter(|c| {
                matches!(
                    c.instruction,
                    Instruction::Copy(_)
                        | Instruction::Add(_)
                        | Instruction::Run(_)
                        | Instruction::Workdir(_)
                )
            })
            .count();
        let from_image = matches!(stage.base, Base::Image(_));
        let total = layer_steps + usize::from(from_image);
        let mut number = 0;
        // `--build-context NAME=<image>` where NAME is this stage: the stage is that image, as
        // buildx does; none of its own steps run.
        if let Some(name) = self.replacing_context(stage) {
            let label = self.step_label(stage, 1, 1, &format!("FROM {name} (--build-context)"));
            let (state, inherit, _) = self.start_on_image(stage, &name, label)?;
            return Ok(BuiltStage { state, inherit });
        }
        let (mut state, inherit, triggers) = match &stage.base {
            // A stage a context replaced is an image: its config's ONBUILD triggers run here,
            // as on any FROM image.
            Base::Stage(i) if self.replacing_context(&self.plan.stages[*i]).is_some() => {
                let base = &built[i];
                let mut state = base.state.clone();
                state.files = Rc::new(RefCell::new(None));
                let triggers = state.config.config.on_build.clone().unwrap_or_default();
                (state, base.inherit.clone(), triggers)
            }
            Base::Stage(i) => {
                let base = &built[i];
                let mut state = base.state.clone();
                state.files = Rc::new(RefCell::new(None));
                // The base stage's own ONBUILD lines run here; its config's do not carry over.
                let triggers: Vec<String> = self.plan.stages[*i]
                    .commands
                    .iter()
                    .filter_map(|c| match &c.instruction {
                        Instruction::Onbuild(expr) => Some(expr.clone()),
                        _ => None,
                    })
                    .collect();
                (state, base.inherit.clone(), triggers)
            }
            Base::Image(name) => {
                number += 1;
                let label = self.step_label(stage, number, total, &format!("FROM {name}"));
                self.start_on_image(stage, name, label)?
            }
        };
        let triggers = self.parse_triggers(stage, &triggers)?;
        self.check_runs_up_front(stage, &triggers, &inherit)?;
        let mut dispatcher = StageDispatcher::new(self.plan, stage, inherit);
        // ONBUILD triggers run once, in the first stage built on the image.
        dispatcher.config.on_build.clear();
        for cmd in triggers.iter().chain(stage.commands.iter()) {
            let dispatched = dispatcher
                .dispatch(cmd)
                .map_err(|e| self.step_error(cmd.location, &cmd.original, e.message))?;
            if !matches!(dispatched.step, Step::Config) {
                number += 1;
            }
            let label = self.step_label(
                stage,
                number,
                total.max(number),
                &dispatched.command.original,
            );
            if matches!(cmd.instruction, Instruction::StopSignal(_)) && self.show_warnings {
                self.progress.warn(&format!(
                    "{}:{}: STOPSIGNAL has no effect on Windows containers (they get \
                     CTRL_SHUTDOWN_EVENT); recorded in the config anyway",
                    self.file, cmd.location.start_line
                ));
            }
            match &dispatched.step {
                Step::Config => {}
                Step::MakeDir(workdir) => {
                    let step = self.progress.begin(label);
                    let outcome = self.make_dir(&mut state, workdir, &dispatcher.config.user);
                    self.end_step(step, cmd, outcome)?;
                }
                Step::Copy(copy) => {
                    let step = self.progress.begin(label);
                    let outcome = self.copy(&mut state, cmd, copy, built);
                    self.end_step(step, cmd, outcome)?;
                }
                Step::Run(run) => {
                    let step = self.progress.begin(label);
                    let number = step.number;
                    let outcome = self.run(&mut state, cmd, run, number, built);
                    self.end_step(step, cmd, outcome)?;
                }
            }
            from_frontend(&mut state.config, &dispatcher.config);
            let layer_time = state.step_layer_time.take();
            if !dispatched.created_by.is_empty() {
                let created = layer_time
                    .filter(|_| !dispatched.empty_layer)
                    .map(|t| oci::rfc3339(self.clamped(t)));
                state.config.push_history(
                    dispatched.created_by.clone(),
                    !dispatched.empty_layer,
                    created,
                );
            }
        }
        if self.show_warnings {
            for w in &dispatcher.warnings {
                self.progress.warn(&format!(
                    "{}:{}: {} ({})",
                    self.file, w.line, w.message, w.rule
                ));
            }
        }
        Ok(BuiltStage {
            state,
            inherit: dispatcher.finish(),
        })
    }

    /// Closes a layer step's progress; errors get the command's location.
    fn end_step(
        &mut self,
        step: crate::build::progress::Step,
        cmd: &Command,
        outcome: Result<LayerOutcome, BuildError>,
    ) -> Result<(), BuildError> {
        match outcome {
            Ok(LayerOutcome::Cached(size)) => {
                self.progress.finish(step, true, Some(size));
                Ok(())
            }
            Ok(LayerOutcome::Built(size)) => {
                self.progress.finish(step, false, Some(size));
                Ok(())
            }
            Err(e) => {
                let e = self.locate(cmd, e);
                self.progress.fail(step, &e.to_string());
                Err(e)
            }
        }
    }

    /// A time for the image's metadata, never later than `SOURCE_DATE_EPOCH` when it is set (a
    /// cached layer may have been made before the epoch was chosen).
    pub(super) fn clamped(&self, secs: i64) -> i64 {
        self.epoch.map_or(secs, |epoch| secs.min(epoch))
    }

    /// The time new entries get: `SOURCE_DATE_EPOCH`, else now.
    pub(super) fn layer_time(&self) -> Timestamp {
        Timestamp {
            secs: self.now,
            nanos: 0,
        }
    }
}
