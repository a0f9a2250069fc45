//! The harness of test binaries that fork: one test at a time on the main
//! thread, each under a watchdog, with every process's logs in one file.

use std::collections::HashSet;
use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use signal_slot::StartMethod;

/// Where every process of the test binary logs (children inherit the
/// subscriber and the open file), so that tests can check what a child
/// reported.
static LOG_FILE: OnceLock<std::path::PathBuf> = OnceLock::new();

/// Everything logged so far, by any process of this binary.
pub fn logged() -> String {
    LOG_FILE
        .get()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default()
}

/// Waits (up to 10 s) until the shared log contains `text`, which another
/// process may still be writing.
pub fn wait_for_log(text: &str) -> bool {
    wait_until(Duration::from_secs(10), || logged().contains(text))
}

/// Polls `condition` until it holds or `limit` passes: for state that gives
/// no notification (a counter another thread updates, a process that
/// another process reaps).
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A test of the binary; [`process_tests!`](crate::process_tests) makes the
/// list.
#[derive(Clone)]
pub struct Test {
    /// The test function's path in the binary, e.g. `soak::soak`.
    pub name: &'static str,
    pub run: fn(),
    /// Run only with `--ignored` (long runs).
    pub ignored: bool,
    pub limit: Duration,
}

impl Test {
    pub fn new(name: &'static str, run: fn()) -> Self {
        Test {
            name,
            run,
            ignored: false,
            limit: Duration::from_secs(60),
        }
    }

    pub fn ignored(mut self) -> Self {
        self.ignored = true;
        self
    }

    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }
}

/// The tests of a binary, each listed once by the path of its function,
/// which is also its name; after `=>`, its options: `ignored` (run only with
/// `--ignored`) and `limit(N s)` (the watchdog's limit, 60 s otherwise).
///
/// ```ignore
/// process_tests![
///     wiring::the_usage_example,
///     soak::soak => limit(900 s),
///     soak::soak_ten_million => ignored limit(3600 s),
/// ]
/// ```
///
/// A test function left out of the list is never used, which the dead-code
/// lint reports; [`run`] refuses a name listed twice.
#[macro_export]
macro_rules! process_tests {
    ($($test:path $(=> $($option:ident $(($($argument:tt)*))?)+)?),* $(,)?) => {
        vec![$(
            $crate::process_tests!(
                @options $crate::common::harness::Test::new(stringify!($test), $test)
                $($(, $option $(($($argument)*))?)+)?
            )
        ),*]
    };
    (@options $test:expr) => {
        $test
    };
    (@options $test:expr, ignored $($rest:tt)*) => {
        $crate::process_tests!(@options $test.ignored() $($rest)*)
    };
    (@options $test:expr, limit($seconds:literal s) $($rest:tt)*) => {
        $crate::process_tests!(
            @options $test.limit(::std::time::Duration::from_secs($seconds)) $($rest)*
        )
    };
}

/// Runs `tests` one at a time; `binary` names the log file.
///
/// The list is plain data, one entry per test function: a parameter that
/// every test should run under (say, how child processes start) can be
/// applied here, as one trial per test and value, without touching the tests.
pub fn run(binary: &str, tests: Vec<Test>) -> ! {
    let mut names = HashSet::new();
    for test in &tests {
        assert!(
            names.insert(test.name),
            "test `{}` is listed twice",
            test.name
        );
    }
    // Children started by spawn are new runs of this binary: they find the
    // log file by this variable, set before any thread exists.
    let path = match std::env::var_os(LOG_VARIABLE) {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            let path = std::env::temp_dir()
                .join(format!("signal-slot-{binary}-{}.log", std::process::id()));
            // SAFETY: the test binary has a single thread yet.
            unsafe { std::env::set_var(LOG_VARIABLE, &path) };
            path
        }
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("log file");
    LOG_FILE.set(path.clone()).expect("once");
    let file = Arc::new(file);
    let echo = std::env::var_os("RUST_LOG").is_some();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || Tee {
            file: file.clone(),
            echo,
        })
        .init();
    // A child started by spawn takes its role here, and never returns.
    signal_slot::init_process();
    let mut args = libtest_mimic::Arguments::from_args();
    // Forking tests run one at a time, on the main thread.
    args.test_threads = Some(1);
    let trials = tests
        .into_iter()
        .flat_map(|test| {
            [StartMethod::Fork, StartMethod::Spawn].map(|method| trial(test.clone(), method))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    let _ = std::fs::remove_file(&path);
    conclusion.exit()
}

/// Where the processes of a test binary log.
const LOG_VARIABLE: &str = "SIGNAL_SLOT_TEST_LOG";

/// A test as libtest-mimic runs it, under one start method: under a
/// watchdog; under spawn, with a thread of the test's own busy the whole
/// time (spawned children must not care).
fn trial(test: Test, method: StartMethod) -> libtest_mimic::Trial {
    let Test {
        name,
        run,
        ignored,
        limit,
    } = test;
    let label = match method {
        StartMethod::Fork => "fork",
        StartMethod::Spawn => "spawn",
    };
    libtest_mimic::Trial::test(format!("{name}::{label}"), move || {
        let _watchdog = Watchdog::new(name, limit);
        signal_slot::set_start_method(method);
        let _busy = (method == StartMethod::Spawn).then(BusyThread::start);
        let started = std::time::Instant::now();
        run();
        // Where a run's time goes: `SIGNAL_SLOT_TEST_TIMES=file` appends
        // each test's seconds.
        if let Some(times) = std::env::var_os("SIGNAL_SLOT_TEST_TIMES") {
            use std::io::Write as _;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(times)
            {
                let _ = writeln!(
                    file,
                    "{:8.2} {name}::{label}",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    })
    .with_ignored_flag(ignored)
}

/// A thread that takes a lock and allocates, again and again, until
/// dropped: what a parent with threads of its own looks like at any moment.
struct BusyThread {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BusyThread {
    fn start() -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let lock = std::sync::Mutex::new(Vec::<Box<[u8]>>::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let mut held = lock.lock().expect("not poisoned");
                held.push(vec![0u8; 4096].into_boxed_slice());
                if held.len() > 64 {
                    held.clear();
                }
                drop(held);
                std::thread::sleep(Duration::from_micros(100));
            }
        });
        BusyThread {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BusyThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes log lines to the shared file, and to stderr when `RUST_LOG` is set.
struct Tee {
    file: Arc<std::fs::File>,
    echo: bool,
}

impl Write for Tee {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.echo {
            let _ = std::io::stderr().write_all(bytes);
        }
        (&*self.file).write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Aborts the test binary if a test runs past its limit (its children die
/// with it, through the parent-death signal).
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(name: &'static str, limit: Duration) -> Self {
        let (done, wait) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
                eprintln!("test `{name}` still runs after {limit:?}: aborting");
                std::process::abort();
            }
        });
        Watchdog(Some(done))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.take();
    }
}
