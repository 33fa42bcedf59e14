//! Exports of stored statements for BI tools: each statement flattened into
//! one row of fixed columns ([`Row`]), written as ndjson (the statement in
//! the exact format, one per line), csv or parquet. An [`Encoder`] takes the
//! statements a page at a time and hands back the bytes to send, so that an
//! export of any size is streamed in flat memory.

mod columns;
mod parquet_file;

use serde_json::Value;

pub use columns::{Row, COLUMNS};

/// Failures of an export encoder.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The csv writer failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// The parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A statement could not be serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// The file format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One statement per line, in the exact format.
    Ndjson,
    /// A header line, then one row of [`COLUMNS`] per statement.
    Csv,
    /// Apache Parquet, one typed column per entry of [`COLUMNS`].
    Parquet,
}

impl Format {
    /// Parses a `format` value.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ndjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Turns statements into the bytes of an export, a page at a time.
pub enum Encoder {
    /// ndjson.
    Ndjson,
    /// csv, its header not yet written when `fresh`.
    Csv {
        /// The header is still to be written.
        fresh: bool,
    },
    /// parquet.
    Parquet(Box<parquet_file::ParquetEncoder>),
}

impl Encoder {
    /// An encoder of `format`.
    pub fn new(format: Format) -> Result<Self, ExportError> {
        Ok(match format {
            Format::Ndjson => Encoder::Ndjson,
            Format::Csv => Encoder::Csv { fresh: true },
            Format::Parquet => Encoder::Parquet(Box::new(parquet_file::ParquetEncoder::new()?)),
        })
    }

    /// Encodes a page of statements; returns the bytes ready to send (a
    /// parquet file sends a row group at a time, so often none).
    pub fn push(&mut self, statements: &[Value]) -> Result<Vec<u8>, ExportError> {
        match self {
            Encoder::Ndjson => {
                let mut out = Vec::with_capacity(statements.len() * 512);
                for statement in statements {
                    serde_json::to_writer(&mut out, statement)?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            Encoder::Csv { fresh } => {
                let mut writer = csv::Writer::from_writer(Vec::with_capacity(statements.len() * 256));
                if std::mem::take(fresh) {
                    writer.write_record(COLUMNS.iter().map(|c| c.name))?;
                }
                for statement in statements {
                    let row = Row::of(statement);
                    writer.write_record(COLUMNS.iter().map(|c| c.text(&row)))?;
                }
                writer.into_inner().map_err(|error| csv::Error::from(error.into_error()).into())
            }
            Encoder::Parquet(encoder) => {
                for statement in statements {
                    encoder.add(Row::of(statement))?;
                }
                Ok(encoder.take_ready())
            }
        }
    }

    /// The bytes that end the export (the csv header of an empty one, the
    /// last row group and footer of a parquet file).
    pub fn finish(self) -> Result<Vec<u8>, ExportError> {
        match self {
            Encoder::Ndjson => Ok(Vec::new()),
            Encoder::Csv { fresh: true } => Encoder::Csv { fresh: true }.push(&[]),
            Encoder::Csv { fresh: false } => Ok(Vec::new()),
            Encoder::Parquet(encoder) => encoder.finish(),
        }
    }
}
