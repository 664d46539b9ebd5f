//! Records the git revision for `aliyun_cas_exporter_build_info` and `--version`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    let revision =
        git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ALIYUN_CAS_EXPORTER_REVISION={revision}");
    // Rebuild when HEAD moves, whether the ref is loose, packed, or in a worktree's git dir.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
            // Cargo takes a missing file for a changed one and would rerun this on
            // every build; packing refs empties refs/heads, which is watched anyway.
            let packed = format!("{common}/packed-refs");
            if std::path::Path::new(&packed).exists() {
                println!("cargo:rerun-if-changed={packed}");
            }
            println!("cargo:rerun-if-changed={common}/refs/heads");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
