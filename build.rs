//! Records the commit the binary is built from, for `datasync_warden_build_info{revision}`.
//!
//! `DATASYNC_WARDEN_REVISION` wins (a packager building from a tarball knows the commit; git
//! does not); else `git rev-parse`; else `unknown`. Only the files git reads to answer are
//! watched, so an edit elsewhere does not rerun this script.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=DATASYNC_WARDEN_REVISION");
    let revision = match std::env::var("DATASYNC_WARDEN_REVISION") {
        Ok(r) if !r.is_empty() => r,
        _ => {
            // HEAD, the branch it names and packed-refs: a commit or checkout changes one of them.
            let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watched.push(branch);
            }
            for path in watched {
                // A missing path would make cargo rerun this script on every build.
                if let Some(p) = git(&["rev-parse", "--git-path", &path])
                    && std::path::Path::new(&p).exists()
                {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=DATASYNC_WARDEN_REVISION={revision}");
}
