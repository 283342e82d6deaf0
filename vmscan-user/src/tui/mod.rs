//! The live terminal UI. `state` holds what the user chose and what the UI
//! remembers between frames, `view` draws (no I/O), and this module runs the
//! loop: input, ticks and data arrive as one [`UiEvent`] enum.

pub mod state;
pub mod view;

use std::time::Duration;

use anyhow::Context as _;
use ratatui::{
    Terminal,
    backend::Backend,
    crossterm::event::{self, Event as CtEvent, KeyEventKind},
};
use tokio::sync::mpsc;

use crate::{
    live::Session,
    model::lruvec::Model,
    probe::loader::LoadOptions,
    replay::{Replay, Step},
};
pub use state::{App, Tab};

/// What the UI loop reacts to.
pub enum UiEvent {
    Key(event::KeyEvent),
    Resize,
    Tick,
    Quit,
}

/// Restores the terminal when dropped (ratatui::try_init also installs a
/// panic hook that restores it).
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the live UI on this host until the user quits.
pub async fn run_live(interval: Duration, load: LoadOptions) -> anyhow::Result<()> {
    // Load before touching the terminal, so errors print normally.
    let mut session = Session::start(load)?;
    session.track_misses();
    session.drop_privileges();
    let mut app = App::new(
        session.loaded.hooks.clone(),
        (&session.loaded.system).into(),
    );
    app.update_from(&session.model);
    app.hook_missed = session.hook_missed();

    if crate::stop::requested() {
        // Stopped while starting: no screen to draw and take down again.
        return Ok(());
    }
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let _guard = Guard;
    let (tx, mut rx) = mpsc::channel::<UiEvent>(64);
    spawn_input_thread(tx.clone());

    let mut stop = crate::stop::Signals::new()?;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    draw(&mut terminal, &app)?;
    loop {
        let ev = tokio::select! {
            Some(ev) = rx.recv() => ev,
            _ = tick.tick() => UiEvent::Tick,
            r = session.pump_events() => {
                app.log_events(&r?.records, &session.model);
                continue;
            }
            _ = stop.recv() => UiEvent::Quit,
        };
        match ev {
            UiEvent::Quit => break,
            UiEvent::Tick => {
                session.tick()?;
                app.log_events(&session.tick_events().records, &session.model);
                if !app.paused {
                    app.update_from(&session.model);
                    app.hook_missed = session.hook_missed();
                }
            }
            UiEvent::Resize => {}
            UiEvent::Key(k) => {
                if !handle_key(&mut app, &session.model, k) {
                    break;
                }
            }
        }
        draw(&mut terminal, &app)?;
    }
    Ok(())
}

/// Replays a recording in the UI at `speed` (ticks are paced by their
/// recorded interval), then keeps the final state on screen until q.
pub async fn run_replay(path: &std::path::Path, speed: f64) -> anyhow::Result<()> {
    let mut replay = Replay::open(path)?;
    let mut app = App::new(replay.hooks(), replay.host());
    let mut model = replay.model();
    let name = crate::text::fit(&path.display().to_string(), 40);
    app.notice = Some(format!(
        "replay of {name} ({}) at {speed}x",
        replay.header().hostname
    ));
    let mut terminal = ratatui::try_init().context("setting up the terminal")?;
    let _guard = Guard;
    let (tx, mut rx) = mpsc::channel::<UiEvent>(64);
    spawn_input_thread(tx);
    let mut stop = crate::stop::Signals::new()?;
    let mut finished = false;
    let mut wait = Duration::ZERO;
    draw(&mut terminal, &app)?;
    loop {
        let ev = tokio::select! {
            Some(ev) = rx.recv() => ev,
            _ = tokio::time::sleep(wait), if !finished && !app.paused => UiEvent::Tick,
            _ = stop.recv() => UiEvent::Quit,
        };
        match ev {
            UiEvent::Quit => break,
            UiEvent::Key(k) => {
                if !handle_key(&mut app, &model, k) {
                    break;
                }
            }
            UiEvent::Resize => {}
            UiEvent::Tick => match replay_tick(&mut replay, &mut model, &mut app) {
                Some(secs) => wait = Duration::from_secs_f64(secs / speed),
                None => finished = true,
            },
        }
        draw(&mut terminal, &app)?;
    }
    Ok(())
}

/// Applies the recording up to and including its next tick, logging its
/// records; returns the tick's recorded interval, or None at the end.
fn replay_tick(replay: &mut Replay, model: &mut Model, app: &mut App) -> Option<f64> {
    match replay.next_tick() {
        Step::Tick(t) => {
            app.log_events(&t.records, model);
            t.apply(model);
            app.update_from(model);
            Some(t.secs)
        }
        Step::End { records, .. } => {
            app.log_events(&records, model);
            model.apply_records(&records);
            app.notice = Some("replay finished: press q to quit".into());
            None
        }
        Step::Stopped { error, records } => {
            app.log_events(&records, model);
            model.apply_records(&records);
            app.notice = Some(format!("replay stopped: {error}"));
            None
        }
    }
}

/// Hands a key to the app; returns false to quit. The lruvec table, built
/// only while shown, is filled in first where the key reads it and after
/// where the key switched to a view that shows it.
fn handle_key(app: &mut App, model: &Model, k: event::KeyEvent) -> bool {
    if app.key_reads_lruvecs(&k) {
        app.fill_lruvecs(model);
    }
    let go_on = app.handle_key(k);
    if app.shows_lruvecs() {
        app.fill_lruvecs(model);
    }
    go_on
}

fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &App) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    terminal
        .draw(|f| view::render(f, app))
        .context("drawing the terminal UI")?;
    Ok(())
}

/// Reads terminal input on a thread of its own (crossterm's read blocks).
fn spawn_input_thread(tx: mpsc::Sender<UiEvent>) {
    std::thread::spawn(move || {
        loop {
            let ev = match event::read() {
                Ok(CtEvent::Key(k)) if k.kind == KeyEventKind::Press => UiEvent::Key(k),
                Ok(CtEvent::Resize(_, _)) => UiEvent::Resize,
                Ok(_) => continue,
                Err(_) => UiEvent::Quit,
            };
            if tx.blocking_send(ev).is_err() {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests;
