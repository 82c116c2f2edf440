//! `make install` as a user runs it: installs into a temporary prefix, checks the files,
//! the SONAME and the links, then builds programs from outside the source tree the two
//! ways a user would, with pkg-config (shared and static, `tests/c/pkg_config_app.c`) and
//! with CMake's `find_package(stompws)` (the project in `tests/install/`, C and C++), and
//! runs them against RabbitMQ. Also: DESTDIR staging (files under DESTDIR, names of
//! PREFIX inside; the staged CMake package still works once moved elsewhere, since it
//! is relocatable), `make uninstall`, and `make install CLI=1` for the command line.
//!
//! RabbitMQ is found as in the other broker tests (`tests/common`); when it does not
//! answer, the programs are only built and asked their version, with a note, unless
//! `STOMPWS_REQUIRE_BROKERS=1` (tests/run.sh sets it), which makes the test fail.
//! Needs make, a C and a C++ compiler, pkg-config, cmake and readelf (binutils).
//!
//! Everything goes to `<target>/install-tests/<test>/`.

mod common;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::library::{root, target_dir};
use common::program;

/// The C program is built with what pkg-config says plus these, which it must pass.
const CFLAGS: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// How long one of the built programs may run (connect, send, receive, disconnect).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// An empty `<target>/install-tests/<name>`.
fn work_dir(name: &str) -> PathBuf {
    let dir = target_dir(&root()).join("install-tests").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The version `make install` installs: the crate's, which build.rs writes into the header.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs a build tool to completion; panics with its output if it fails.
fn run_tool(cmd: &mut Command, what: &str) -> String {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}): {cmd:?}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `make -C <root> ARGS` with the cargo and target directory of this test run.
///
/// One at a time: the tests here run in parallel, and `make install CLI=1` builds the
/// library with other features than the others do, so interleaved runs would rebuild it
/// back and forth (cargo's lock serializes them anyway).
fn make(args: &[&str]) -> String {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(root())
        .args(args)
        .env(
            "CARGO",
            env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        )
        .env("CARGO_TARGET_DIR", target_dir(&root()))
        .env_remove("DESTDIR")
        .env_remove("PREFIX");
    let out = run_tool(&mut cmd, &format!("make {}", args.join(" ")));
    eprintln!("{out}");
    out
}

/// Runs a built program, killing it after [`RUN_TIMEOUT`]; panics unless it exits 0.
/// Returns its standard output.
fn run_program(exe: &Path, args: &[&str]) -> String {
    let what = format!("{} {}", exe.display(), args.join(" "));
    let out = program::run(Command::new(exe).args(args), b"", RUN_TIMEOUT, what);
    assert!(out.status == Some(0) && !out.timed_out, "{}", out.report());
    out.stdout
}

/// `readelf -d` of a file.
fn dynamic_section(file: &Path) -> String {
    run_tool(Command::new("readelf").arg("-d").arg(file), "readelf -d")
}

/// RabbitMQ's WebSocket URL, or None (with a note) when it does not answer and is not
/// required; panics when it does not answer under STOMPWS_REQUIRE_BROKERS=1.
fn rabbitmq() -> Option<String> {
    common::url("STOMPWS_RABBITMQ_WS")
}

/// The files `make install` puts under PREFIX, relative to it (the CLI aside).
fn installed_files() -> Vec<String> {
    vec![
        "include/stompws.h".to_string(),
        "include/stompws.hpp".to_string(),
        format!("lib/libstompws.so.{VERSION}"),
        "lib/libstompws.so.0".to_string(),
        "lib/libstompws.so".to_string(),
        "lib/libstompws.a".to_string(),
        "lib/pkgconfig/stompws.pc".to_string(),
        "lib/cmake/stompws/stompwsConfig.cmake".to_string(),
        "lib/cmake/stompws/stompwsConfigVersion.cmake".to_string(),
        "share/stompws/stompws.supp".to_string(),
    ]
}

/// Checks what `make install` wrote under `dest` (PREFIX, or DESTDIR+PREFIX) for `prefix`.
fn check_layout(dest: &Path, prefix: &Path) {
    for file in installed_files() {
        let path = dest.join(&file);
        assert!(
            path.exists(),
            "{file} not installed under {}",
            dest.display()
        );
        if let Some(header) = file.strip_prefix("include/") {
            assert_eq!(
                fs::read(&path).unwrap(),
                fs::read(root().join("include").join(header)).unwrap(),
                "installed {file} differs from the source tree's"
            );
        }
    }
    let lib = dest.join("lib");
    let real = format!("libstompws.so.{VERSION}");
    for link in ["libstompws.so.0", "libstompws.so"] {
        assert_eq!(
            fs::read_link(lib.join(link))
                .unwrap_or_else(|e| panic!("lib/{link} is not a symbolic link: {e}")),
            Path::new(&real),
            "lib/{link} points elsewhere"
        );
    }
    assert!(!fs::symlink_metadata(lib.join(&real))
        .unwrap()
        .file_type()
        .is_symlink());
    let dynamic = dynamic_section(&lib.join(&real));
    assert!(
        dynamic.contains("Library soname: [libstompws.so.0]"),
        "the installed library's SONAME is not libstompws.so.0:\n{dynamic}"
    );

    let pc = fs::read_to_string(lib.join("pkgconfig/stompws.pc")).unwrap();
    assert!(
        pc.lines()
            .any(|l| l == format!("prefix={}", prefix.display())),
        "stompws.pc does not name the prefix {}:\n{pc}",
        prefix.display()
    );
    assert!(pc.contains(&format!("Version: {VERSION}")), "{pc}");
    let config = fs::read_to_string(lib.join("cmake/stompws/stompwsConfig.cmake")).unwrap();
    let version = fs::read_to_string(lib.join("cmake/stompws/stompwsConfigVersion.cmake")).unwrap();
    assert!(
        config.contains("IMPORTED_SONAME \"libstompws.so.0\""),
        "{config}"
    );
    assert!(
        version.contains(&format!("set(PACKAGE_VERSION \"{VERSION}\")")),
        "{version}"
    );
    for (name, text) in [
        ("stompws.pc", &pc),
        ("stompwsConfig.cmake", &config),
        ("stompwsConfigVersion.cmake", &version),
    ] {
        assert!(
            !text.lines().any(|l| {
                let l = l.trim_start();
                !l.starts_with('#') && l.matches('@').count() >= 2
            }),
            "{name} has a placeholder left:\n{text}"
        );
    }
    // The CMake package finds its files relative to itself: no absolute path in it, so a
    // staged (DESTDIR) or moved prefix works.
    assert!(
        !config.contains(&prefix.display().to_string()),
        "stompwsConfig.cmake holds the absolute prefix:\n{config}"
    );
}

/// pkg-config's answer for the installed stompws.pc under `prefix`.
fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = run_tool(
        Command::new("pkg-config")
            .args(args)
            .arg("stompws")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .env_remove("PKG_CONFIG_LIBDIR")
            .env_remove("PKG_CONFIG_SYSROOT_DIR"),
        &format!("pkg-config {}", args.join(" ")),
    );
    out.split_whitespace().map(String::from).collect()
}

/// Builds tests/c/pkg_config_app.c against the installed prefix with pkg-config, shared
/// and static, checks what each links, and runs both (against RabbitMQ when it answers).
fn build_with_pkg_config(prefix: &Path, out: &Path, url: Option<&str>) {
    assert_eq!(pkg_config(prefix, &["--modversion"]), [VERSION]);
    let shared_flags = pkg_config(prefix, &["--cflags", "--libs"]);
    let mut static_flags = pkg_config(prefix, &["--static", "--cflags", "--libs"]);
    assert!(
        shared_flags.contains(&format!("-I{}/include", prefix.display())),
        "{shared_flags:?}"
    );
    assert!(
        static_flags.len() > shared_flags.len(),
        "no Libs.private: {static_flags:?}"
    );
    // libstompws.so sits beside libstompws.a, and the linker would take it: ask for the
    // archive explicitly, as a user linking statically does.
    for flag in static_flags.iter_mut().filter(|f| *f == "-lstompws") {
        *flag = "-Wl,-Bstatic -lstompws -Wl,-Bdynamic".into();
    }
    let static_flags: Vec<String> = static_flags
        .iter()
        .flat_map(|f| f.split(' ').map(String::from))
        .collect();

    let app = root().join("tests/c/pkg_config_app.c");
    for (name, flags, shared) in [
        ("app_shared", shared_flags, true),
        ("app_static", static_flags, false),
    ] {
        let exe = out.join(name);
        let mut cc = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()));
        cc.args(CFLAGS).arg(&app).arg("-o").arg(&exe).args(&flags);
        if shared {
            cc.arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
        }
        run_tool(&mut cc, &format!("building {name} with pkg-config"));
        let dynamic = dynamic_section(&exe);
        assert_eq!(
            dynamic.contains("Shared library: [libstompws.so.0]"),
            shared,
            "{name}: its dependency on libstompws.so.0 is wrong:\n{dynamic}"
        );
        let stdout = run_program(&exe, url.as_slice());
        assert!(stdout.contains(&format!("stompws {VERSION}")), "{stdout}");
        if url.is_some() {
            assert!(stdout.contains("connected (STOMP "), "{name}: {stdout}");
        }
    }
}

/// Configures and builds the CMake project tests/install/ against `cmake_prefix`
/// (find_package(stompws) through CMAKE_PREFIX_PATH), checks that its programs need
/// libstompws.so.0 from `libdir`, and runs them (a message round trip through RabbitMQ
/// when it answers; the usage message otherwise).
fn build_with_cmake(cmake_prefix: &Path, libdir: &Path, build: &Path, url: Option<&str>) {
    let configured = run_tool(
        Command::new("cmake")
            .arg("-S")
            .arg(root().join("tests/install"))
            .arg("-B")
            .arg(build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", cmake_prefix.display()))
            .arg("-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF")
            .arg("-DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF")
            .env_remove("stompws_DIR")
            .env_remove("CMAKE_PREFIX_PATH"),
        "cmake configure (is cmake installed? apt-get install cmake)",
    );
    eprintln!("{configured}");
    // Which package it found, from the cache: the one under cmake_prefix, not another.
    let cache = fs::read_to_string(build.join("CMakeCache.txt")).unwrap();
    let found = cmake_prefix.join("lib/cmake/stompws");
    assert!(
        cache
            .lines()
            .any(|l| l == format!("stompws_DIR:PATH={}", found.display())),
        "find_package(stompws) did not take {}:\n{}",
        found.display(),
        cache
            .lines()
            .filter(|l| l.starts_with("stompws_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let queue = format!("/queue/{}", common::unique("install-cmake"));
    for program in ["app_c", "app_cpp"] {
        run_tool(
            Command::new("cmake")
                .arg("--build")
                .arg(build)
                .args(["--target", program]),
            &format!("cmake --build (target {program})"),
        );
        let exe = build.join(program);
        let dynamic = dynamic_section(&exe);
        assert!(
            dynamic.contains("Shared library: [libstompws.so.0]"),
            "{program} does not need libstompws.so.0:\n{dynamic}"
        );
        assert!(
            dynamic.contains(&libdir.display().to_string()),
            "{program}'s run path does not hold {}:\n{dynamic}",
            libdir.display()
        );
        match url {
            Some(url) => {
                let stdout = run_program(&exe, &[url, &queue]);
                assert!(stdout.contains(&format!("stompws {VERSION}")), "{stdout}");
                assert!(stdout.contains("connected (STOMP "), "{stdout}");
                assert!(
                    stdout.contains("received: installed through CMake"),
                    "{stdout}"
                );
            }
            None => {
                // Without a broker: it still loads the installed library and starts.
                let output = Command::new(&exe)
                    .env_remove("LD_LIBRARY_PATH")
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                assert_eq!(output.status.code(), Some(2), "{program}: {output:?}");
            }
        }
    }
}

#[test]
fn make_install_then_build_with_pkg_config_and_cmake() {
    let work = work_dir("prefix");
    let prefix = work.join("usr");
    make(&["install", "CLI=0", &format!("PREFIX={}", prefix.display())]);
    check_layout(&prefix, &prefix);
    assert!(
        !prefix.join("bin").exists(),
        "CLI=0 installed the command line"
    );

    let url = rabbitmq();
    build_with_pkg_config(&prefix, &work, url.as_deref());
    build_with_cmake(
        &prefix,
        &prefix.join("lib"),
        &work.join("cmake-build"),
        url.as_deref(),
    );
}

/// DESTDIR stages the files; what they say still names PREFIX. Once the staged tree is
/// moved to where PREFIX says, pkg-config and CMake builds work from there; and the
/// CMake package also works from where it was staged, being relocatable.
#[test]
fn destdir_stages_for_prefix_and_the_cmake_package_is_relocatable() {
    let work = work_dir("destdir");
    let destdir = work.join("stage");
    // PREFIX is where the tree will be moved to: absolute, and empty until then.
    let prefix = work.join("final/opt/stompws");
    make(&[
        "install",
        "CLI=0",
        &format!("PREFIX={}", prefix.display()),
        &format!("DESTDIR={}", destdir.display()),
    ]);
    assert!(!prefix.exists(), "DESTDIR install wrote into PREFIX itself");
    let staged = destdir.join(prefix.strip_prefix("/").unwrap());
    check_layout(&staged, &prefix);

    let url = rabbitmq();
    // The CMake package, used straight from the staging tree.
    build_with_cmake(
        &staged,
        &staged.join("lib"),
        &work.join("cmake-staged"),
        url.as_deref(),
    );

    // "Install" the package: move the staged tree to PREFIX.
    fs::create_dir_all(prefix.parent().unwrap()).unwrap();
    fs::rename(&staged, &prefix).unwrap();
    build_with_pkg_config(&prefix, &work, url.as_deref());
    build_with_cmake(
        &prefix,
        &prefix.join("lib"),
        &work.join("cmake-final"),
        url.as_deref(),
    );
}

/// `make uninstall` removes what `make install` wrote and nothing else: a file of
/// someone else's in the same directories stays, as do the links of another version.
#[test]
fn make_uninstall_removes_what_install_wrote() {
    let work = work_dir("uninstall");
    let prefix = work.join("usr");
    let prefix_arg = format!("PREFIX={}", prefix.display());
    make(&["install", "CLI=0", &prefix_arg]);
    check_layout(&prefix, &prefix);
    let other = prefix.join("lib/pkgconfig/other.pc");
    fs::write(&other, "Name: other\n").unwrap();

    make(&["uninstall", "CLI=0", &prefix_arg]);
    let mut left = Vec::new();
    let mut dirs = vec![prefix.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                dirs.push(path);
            } else {
                left.push(path);
            }
        }
    }
    assert_eq!(
        left,
        [other],
        "make uninstall left files behind or took others"
    );
    assert!(!prefix.join("lib/cmake/stompws").exists());

    // A SONAME link that belongs to another version's library is not ours to remove.
    fs::write(prefix.join("lib/libstompws.so.0.0.9"), "").unwrap();
    std::os::unix::fs::symlink("libstompws.so.0.0.9", prefix.join("lib/libstompws.so.0")).unwrap();
    make(&["uninstall", "CLI=0", &prefix_arg]);
    assert_eq!(
        fs::read_link(prefix.join("lib/libstompws.so.0")).unwrap(),
        Path::new("libstompws.so.0.0.9")
    );
}

/// With CLI=1, make install builds the command line and installs it as PREFIX/bin/stompws
/// (also when staged with DESTDIR), beside the library.
#[test]
fn make_install_cli_installs_the_command_line() {
    let work = work_dir("cli");
    let destdir = work.join("stage");
    let prefix = work.join("opt");
    make(&[
        "install",
        "CLI=1",
        &format!("PREFIX={}", prefix.display()),
        &format!("DESTDIR={}", destdir.display()),
    ]);
    assert!(!prefix.exists(), "DESTDIR install wrote into PREFIX itself");
    let staged = destdir.join(prefix.strip_prefix("/").unwrap());
    check_layout(&staged, &prefix);
    let cli = staged.join("bin/stompws");
    let version = run_program(&cli, &["--version"]);
    assert!(
        version.contains(VERSION),
        "{} --version says {version:?}",
        cli.display()
    );
    if let Some(url) = rabbitmq() {
        let ping = run_program(
            &cli,
            &["ping", &url, "--login", "guest", "--passcode", "guest"],
        );
        assert!(ping.contains("version: "), "{ping}");
    }
}
