//! `ferrohsm-util token copy`: moves tokens between a token directory (the SQLite store) and a
//! PostgreSQL schema, either way, all of them or none. Records are copied as stored (sealed), so
//! no PIN is needed and nothing is decrypted on the way.

use crate::{Fail, R};
use clap::{Args, Subcommand};
use ferrohsm::config::{Config, PostgresConfig};
use ferrohsm::store::postgres::PgBackend;
use ferrohsm::store::sqlite::SqliteBackend;
use ferrohsm::store::Backend;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Copy tokens from one store to another: a token directory or a PostgreSQL database, either
    /// way, all of them or none
    Copy(CopyArgs),
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Where the tokens are: a token directory, or a PostgreSQL connection string
    /// (postgresql://... or host=... dbname=...)
    #[arg(long)]
    from: String,
    /// Where they go (the same forms); a token whose serial is already there stops the copy
    #[arg(long)]
    to: String,
    /// Copy only the token with this serial (repeatable); every token by default
    #[arg(long = "serial")]
    serials: Vec<String>,
    /// The PostgreSQL schema on either side (default: objectstore.postgres.schema, else ferrohsm)
    #[arg(long)]
    schema: Option<String>,
}

/// Whether a store argument names a PostgreSQL database rather than a directory.
fn is_postgres(spec: &str) -> bool {
    spec.starts_with("postgresql://")
        || spec.starts_with("postgres://")
        || spec.split_whitespace().any(|kv| kv.contains('='))
}

fn open(spec: &str, config: &Config, schema: &str, source: bool) -> R<(Box<dyn Backend>, String)> {
    if is_postgres(spec) {
        let pg = PostgresConfig {
            url: spec.to_string(),
            password_file: config
                .postgres
                .as_ref()
                .and_then(|p| p.password_file.clone()),
            schema: schema.to_string(),
            ..PostgresConfig::default()
        };
        let name = format!("{} (schema {schema})", pg.redacted_url());
        let b = PgBackend::new(&pg, &config.token_dir.join(".postgres"), config.umask)?;
        return Ok((Box::new(b), name));
    }
    let dir = Path::new(spec);
    if source && !dir.is_dir() {
        return Err(Fail(format!("{spec}: no such token directory")));
    }
    Ok((
        Box::new(SqliteBackend::new(dir, config.umask)?),
        dir.display().to_string(),
    ))
}

pub fn run(cmd: TokenCmd, config: &Config) -> R<()> {
    let TokenCmd::Copy(a) = cmd;
    let schema = a
        .schema
        .clone()
        .or_else(|| config.postgres.as_ref().map(|p| p.schema.clone()))
        .unwrap_or_else(|| PostgresConfig::default().schema);
    let (from, from_name) = open(&a.from, config, &schema, true)?;
    let (to, to_name) = open(&a.to, config, &schema, false)?;
    let present = from.list()?;
    let serials = if a.serials.is_empty() {
        present
    } else {
        for s in &a.serials {
            if !present.contains(s) {
                return Err(Fail(format!("{from_name} has no token with serial {s}")));
            }
        }
        a.serials.clone()
    };
    if serials.is_empty() {
        return Err(Fail(format!("{from_name} holds no token")));
    }
    let mut dumps = Vec::with_capacity(serials.len());
    for s in &serials {
        dumps.push(from.open(s)?.dump()?);
    }
    to.restore(&dumps)?;
    for d in &dumps {
        println!(
            "Token {} ({}): {} objects copied",
            d.meta.serial,
            String::from_utf8_lossy(&d.meta.label).trim_end(),
            d.objects.len()
        );
    }
    println!(
        "Copied {} token(s) from {from_name} to {to_name}; the originals are unchanged. Point \
         objectstore.backend at the new store to use them.",
        dumps.len()
    );
    Ok(())
}
