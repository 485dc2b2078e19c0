//! `ferrohsm-util dist-files DIR` (hidden): the files a package installs beside the binaries,
//! generated from the code so they never drift from it: the manual pages ferrohsm-util(1) (and one
//! per subcommand), ferrohsm.conf(5) from [`ferrohsm::config::KEYS`], shell completions, and the
//! example configuration file. `scripts/package` calls it before `cargo deb`.

use crate::{Fail, R};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};
use ferrohsm::config::{example_file, KEYS, SYSTEM_CONF};
use std::path::Path;

pub(crate) fn run(mut cmd: clap::Command, out: &Path) -> R<()> {
    let io = |what: &str, e: std::io::Error| Fail(format!("cannot write {what}: {e}"));
    let man1 = out.join("man/man1");
    let man5 = out.join("man/man5");
    let comp = out.join("completions");
    for d in [&man1, &man5, &comp] {
        std::fs::create_dir_all(d).map_err(|e| io(&d.display().to_string(), e))?;
    }
    // One page per subcommand (ferrohsm-util-init-token(1), ...), then the main page again with
    // the sections clap does not know: environment, files, exit status, see also.
    clap_mangen::generate_to(cmd.clone(), &man1).map_err(|e| io("the manual pages", e))?;
    let main = man1.join("ferrohsm-util.1");
    std::fs::write(
        &main,
        main_page(cmd.clone()).map_err(|e| io("ferrohsm-util.1", e))?,
    )
    .map_err(|e| io(&main.display().to_string(), e))?;
    let conf5 = man5.join("ferrohsm.conf.5");
    std::fs::write(&conf5, conf_page()).map_err(|e| io(&conf5.display().to_string(), e))?;
    for (shell, name) in [
        (Shell::Bash, "ferrohsm-util.bash"),
        (Shell::Zsh, "_ferrohsm-util"),
        (Shell::Fish, "ferrohsm-util.fish"),
    ] {
        let p = comp.join(name);
        let mut f = std::fs::File::create(&p).map_err(|e| io(&p.display().to_string(), e))?;
        clap_complete::generate(shell, &mut cmd, "ferrohsm-util", &mut f);
    }
    let conf = out.join("ferrohsm.conf");
    std::fs::write(&conf, example_file()).map_err(|e| io(&conf.display().to_string(), e))?;
    println!(
        "Wrote the manual pages, completions and ferrohsm.conf under {}",
        out.display()
    );
    Ok(())
}

/// ferrohsm-util(1): clap's sections, then ours.
fn main_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cmd.disable_help_subcommand(true));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    let mut r = Roff::new();
    r.control("SH", ["ENVIRONMENT"]);
    for (name, what) in [
        (
            "FERROHSM_CONF",
            "The configuration file to read (see ferrohsm.conf(5)).",
        ),
        ("FERROHSM_PIN", "The user PIN, when --pin is not given."),
        ("FERROHSM_SO_PIN", "The SO PIN, when --so-pin is not given."),
    ] {
        r.control("TP", []);
        r.text([bold(name)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["FILES"]);
    for (name, what) in [
        (
            "~/.config/ferrohsm/ferrohsm.conf",
            "The user's configuration, read when FERROHSM_CONF is not set.",
        ),
        (
            SYSTEM_CONF,
            "The system's configuration, read when neither of the above exists.",
        ),
        (
            "~/.local/share/ferrohsm/tokens",
            "The default token directory (directories.tokendir).",
        ),
    ] {
        r.control("TP", []);
        r.text([italic(name)]);
        r.text([roman(what)]);
    }
    r.control("SH", ["EXIT STATUS"]);
    r.text([roman(
        "0 on success; 1 on any failure, with a line starting with ERROR: on standard error, as \
         softhsm2-util does.",
    )]);
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("ferrohsm.conf"),
        roman("(5), "),
        bold("softhsm2-util"),
        roman("(1), "),
        bold("pkcs11-tool"),
        roman("(1), "),
        bold("p11-kit"),
        roman("(8)"),
    ]);
    r.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// ferrohsm.conf(5), from the documented keys.
fn conf_page() -> String {
    let mut r = Roff::new();
    r.control(
        "TH",
        [
            "FERROHSM.CONF",
            "5",
            "",
            env!("CARGO_PKG_VERSION"),
            "ferrohsm",
        ],
    );
    r.control("SH", ["NAME"]);
    r.text([roman(
        "ferrohsm.conf - configuration of the ferrohsm PKCS#11 module and ferrohsm-util",
    )]);
    r.control("SH", ["SYNOPSIS"]);
    r.text([
        roman("$FERROHSM_CONF, else "),
        italic("~/.config/ferrohsm/ferrohsm.conf"),
        roman(", else "),
        italic(SYSTEM_CONF),
    ]);
    r.control("SH", ["DESCRIPTION"]);
    r.text([roman(
        "The module (libferrohsm.so) reads its configuration when an application calls \
         C_Initialize; ferrohsm-util reads the same file. The first of these is used: the file \
         named by the environment variable FERROHSM_CONF (an error if it cannot be read), the \
         user's ~/.config/ferrohsm/ferrohsm.conf, the system's file; without any, every key \
         has its default.",
    )]);
    r.control("PP", []);
    r.text([roman(
        "Each line is name = value; lines starting with # are comments. The syntax and keys are \
         those of SoftHSM's softhsm2.conf, so an existing softhsm2.conf works when \
         FERROHSM_CONF names it. An unknown key is logged as a warning and ignored; a bad value \
         stops C_Initialize with CKR_GENERAL_ERROR and a log line naming the file, the line and \
         what is expected.",
    )]);
    r.control("SH", ["KEYS"]);
    for k in KEYS {
        r.control("TP", []);
        r.text([bold(k.name), roman(" = "), italic(k.values)]);
        r.text([roman(k.doc)]);
        let default = if k.default.is_empty() {
            "(empty)"
        } else {
            k.default
        };
        r.text([roman("Default: "), bold(default), roman(".")]);
    }
    r.control("SH", ["EXAMPLE"]);
    r.control("nf", []);
    for line in [
        "directories.tokendir = /var/lib/ferrohsm/tokens",
        "log.level = INFO",
        "pin.max_attempts = 5",
        "slots.mechanisms = -CKM_RSA_X_509,-CKM_SHA_1",
    ] {
        r.text([roman(line)]);
    }
    r.control("fi", []);
    r.control("SH", ["FILES"]);
    r.control("TP", []);
    r.text([italic(SYSTEM_CONF)]);
    r.text([roman(
        "The system's file. The Debian package installs it with every key commented out.",
    )]);
    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("ferrohsm-util"),
        roman("(1), "),
        bold("softhsm2.conf"),
        roman("(5)"),
    ]);
    r.render()
}
