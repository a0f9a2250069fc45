//! An HTTP front end (axum on tokio) for a policy that runs on a loop in a
//! child process: async code awaits calls of the child's slots and streams
//! its signals, while the child stays an ordinary loop on its own thread.
//!
//! ```text
//! cargo run --example gateway                       # serves until Ctrl-C
//! cargo run --example gateway -- --seconds 30       # for 30 seconds, then exits 0
//! cargo run --example gateway -- --port 8080 --spawn
//!
//! curl 'http://127.0.0.1:8080/act?obs=0.1,0.7,0.2'  # {"action":1,"step":1}
//! curl -N http://127.0.0.1:8080/events              # server-sent events, one per action
//! ```
//!
//! `GET /act?obs=…` awaits a call of the policy's `act` slot: 200 with the
//! action, 400 for observations that are not numbers, 503 when the policy's
//! process is gone (kill it: the answer says so at once, it does not hang),
//! 504 when it does not answer in time. `GET /events` streams the policy's
//! `acted` signal as server-sent events (the first one, `connected`, says
//! that every action after it will come). The program prints its address
//! and the policy process's pid when it is ready.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use signal_slot::{
    CallError, Context, Delivery, EventLoopProcess, EventLoopThread, LoopHandle, StartMethod,
    event_loop_object,
};

/// How long a request waits for the policy.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How many events a client that reads slowly may fall behind by.
const EVENTS_BEHIND: usize = 256;

/// The policy: it lives on the loop of the child process.
#[event_loop_object]
#[derive(Serialize, Deserialize)]
struct Policy {
    steps: u64,
}

#[event_loop_object]
impl Policy {
    /// Every action taken, for whoever listens.
    #[signal]
    fn acted(step: u64, action: u64);

    /// The action for an observation: here, the index of its largest value.
    #[slot]
    fn act(&mut self, ctx: &mut Context<Self>, observation: Vec<f64>) -> u64 {
        self.steps += 1;
        let action = observation
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(index, _)| index as u64);
        ctx.acted().emit(self.steps, action);
        action
    }
}

/// What every request handler shares.
#[derive(Clone)]
struct Gateway {
    policy: PolicyHandle,
    /// The loop of this process that receives the policy's signals.
    events_loop: LoopHandle,
    /// Ends the event streams when the server shuts down.
    shutdown: tokio::sync::watch::Receiver<bool>,
}

#[derive(Deserialize)]
struct ActQuery {
    obs: String,
}

#[derive(Serialize)]
struct Action {
    action: u64,
}

async fn act(State(gateway): State<Gateway>, Query(query): Query<ActQuery>) -> Response {
    let observation: Result<Vec<f64>, _> = query
        .obs
        .split(',')
        .map(|value| value.trim().parse::<f64>())
        .collect();
    let Ok(observation) = observation else {
        return (
            StatusCode::BAD_REQUEST,
            "obs must be numbers separated by commas\n",
        )
            .into_response();
    };
    match gateway
        .policy
        .act()
        .call_async(observation, CALL_TIMEOUT)
        .await
    {
        Ok(action) => axum::Json(Action { action }).into_response(),
        Err(error) => {
            let status = match error {
                CallError::Gone { .. } => StatusCode::SERVICE_UNAVAILABLE,
                CallError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, format!("{error}\n")).into_response()
        }
    }
}

async fn events(
    State(gateway): State<Gateway>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, (StatusCode, String)> {
    // Connecting asks the policy's process: off the async threads.
    let (policy, events_loop) = (gateway.policy.clone(), gateway.events_loop.clone());
    let acted = tokio::task::spawn_blocking(move || {
        policy
            .acted()
            .stream(&events_loop, Delivery::FanOut, EVENTS_BEHIND)
    })
    .await
    .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")))?
    .map_err(|error| (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")))?;
    let mut shutdown = gateway.shutdown;
    let ended = async move {
        let _ = shutdown.wait_for(|done| *done).await;
    };
    // First, that the client is connected: every action after it comes.
    let connected = Event::default()
        .event("connected")
        .data(r#"{"connected":true}"#);
    let acted = acted.take_until(ended).map(|(step, action)| {
        Event::default()
            .event("acted")
            .data(format!("{{\"step\":{step},\"action\":{action}}}"))
    });
    let events = futures::stream::once(async { connected })
        .chain(acted)
        .map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[signal_slot::main]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse()?;

    // The child first, before any thread of the async runtime exists.
    let mut policy_process =
        EventLoopProcess::new("policy_process")?.start_method(options.start_method);
    let policy = policy_process.add_with_id("policy", Policy { steps: 0 })?;
    policy_process.start()?;
    let mut events_loop = EventLoopThread::new("gateway_events")?;
    events_loop.start()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let gateway = Gateway {
            policy,
            events_loop: events_loop.event_loop().clone(),
            shutdown,
        };
        let app = Router::new()
            .route("/act", get(act))
            .route("/events", get(events))
            .with_state(gateway);
        println!("listening on http://{}", listener.local_addr()?);
        println!("policy process pid {}", policy_process.pid().unwrap_or(0));
        std::io::stdout().flush()?;
        let served_for = options.seconds;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                match served_for {
                    Some(duration) => tokio::time::sleep(duration).await,
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
                let _ = stop.send(true);
            })
            .await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    drop(runtime);

    events_loop.stop();
    events_loop.join()?;
    policy_process.stop();
    let status = policy_process.join()?;
    println!("policy process ended: {status:?}");
    Ok(())
}

struct Options {
    seconds: Option<Duration>,
    port: u16,
    start_method: StartMethod,
}

impl Options {
    /// `--seconds N`, `--port P` (0: any free port), `--spawn`.
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            seconds: None,
            port: 0,
            start_method: signal_slot::start_method(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    let text = args.next().unwrap_or_default();
                    let seconds: f64 = text
                        .parse()
                        .map_err(|_| format!("--seconds takes a number, not `{text}`"))?;
                    if !(seconds.is_finite() && seconds > 0.0) {
                        return Err(format!("--seconds must be positive, not {seconds}"));
                    }
                    options.seconds = Some(Duration::from_secs_f64(seconds));
                }
                "--port" => {
                    let text = args.next().unwrap_or_default();
                    options.port = text
                        .parse()
                        .map_err(|_| format!("--port takes a port number, not `{text}`"))?;
                }
                "--spawn" => options.start_method = StartMethod::Spawn,
                "--fork" => options.start_method = StartMethod::Fork,
                other => {
                    return Err(format!(
                        "unknown argument `{other}`; usage: gateway [--seconds N] [--port P] \
                         [--spawn | --fork]"
                    ));
                }
            }
        }
        Ok(options)
    }
}
