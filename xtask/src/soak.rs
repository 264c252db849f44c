//! `cargo xtask soak --minutes N`: the soak binary (`crates/soak`), built in release and run.

use std::time::Duration;

use crate::run;

/// `cargo xtask soak [--minutes F] [--seed N] [--only PRIMITIVE]`.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let mut minutes = 1.0f64;
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                let v = it.next().ok_or("--minutes needs a number")?;
                minutes = v
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| format!("bad --minutes `{v}`"))?;
            }
            "--seed" | "--only" => {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                pass.extend([a.clone(), v.clone()]);
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    println!("==> soak: building weft-soak (release)");
    let mut build = run::cargo();
    build.args(["build", "--release", "-p", "weft-soak"]);
    if !run::run_streaming(&mut build, false).ok {
        return Err("could not build weft-soak".into());
    }
    println!("==> soak: {minutes} minute(s)");
    let mut cmd = std::process::Command::new(run::root().join("target/release/weft-soak"));
    cmd.current_dir(run::root())
        .args(["--minutes", &minutes.to_string()])
        .args(&pass);
    // The binary has its own watchdog; this one is for a hang it cannot see (in a report).
    let limit = Duration::from_secs_f64(minutes * 60.0 + 300.0);
    let o = run::run_with_timeout(&mut cmd, limit);
    if o.timed_out {
        return Err(format!(
            "soak: still running {limit:?} after it began: a hang"
        ));
    }
    if o.ok {
        Ok(())
    } else {
        Err("soak: violations or a hang (see above)".into())
    }
}
