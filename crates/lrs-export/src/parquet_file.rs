//! A parquet file written a row group at a time into a buffer that the
//! export drains as it goes.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;

use crate::columns::{Cell, Kind, Row, COLUMNS};
use crate::ExportError;

/// Rows per row group: what the encoder holds before it writes them.
const ROWS_PER_GROUP: usize = 8_192;

/// Bytes written by the parquet writer, not yet sent.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The parquet schema of [`COLUMNS`]: every column optional.
fn schema() -> String {
    let fields: Vec<String> = COLUMNS
        .iter()
        .map(|column| {
            let kind = match column.kind {
                Kind::Text => "binary",
                Kind::Time => "int64",
                Kind::Bool => "boolean",
                Kind::Double => "double",
            };
            let annotation = match column.kind {
                Kind::Text => " (STRING)",
                Kind::Time => " (TIMESTAMP(MICROS,true))",
                _ => "",
            };
            format!("optional {kind} {}{annotation};", column.name)
        })
        .collect();
    format!("message statement {{ {} }}", fields.join(" "))
}

/// Writes rows into a parquet file, a row group at a time.
pub struct ParquetEncoder {
    writer: SerializedFileWriter<Sink>,
    sink: Sink,
    rows: Vec<Row>,
}

impl ParquetEncoder {
    /// A new file (its header is ready at once).
    pub(crate) fn new() -> Result<Self, ExportError> {
        let schema = Arc::new(parse_message_type(&schema())?);
        let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let sink = Sink::default();
        let writer = SerializedFileWriter::new(sink.clone(), schema, Arc::new(properties))?;
        Ok(Self { writer, sink, rows: Vec::with_capacity(ROWS_PER_GROUP) })
    }

    /// Adds a row; writes a row group when it has enough.
    pub(crate) fn add(&mut self, row: Row) -> Result<(), ExportError> {
        self.rows.push(row);
        if self.rows.len() >= ROWS_PER_GROUP {
            self.write_group()?;
        }
        Ok(())
    }

    /// The bytes written so far and not yet taken.
    pub(crate) fn take_ready(&mut self) -> Vec<u8> {
        std::mem::take(&mut *self.sink.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Writes the last row group and the footer; returns the rest of the file.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, ExportError> {
        if !self.rows.is_empty() {
            self.write_group()?;
        }
        let sink = self.sink.clone();
        self.writer.close()?;
        let rest = std::mem::take(&mut *sink.0.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(rest)
    }

    fn write_group(&mut self) -> Result<(), ExportError> {
        let rows = std::mem::take(&mut self.rows);
        let mut group = self.writer.next_row_group()?;
        for column in &COLUMNS {
            let Some(mut writer) = group.next_column()? else { break };
            let cells: Vec<Cell<'_>> = rows.iter().map(|row| (column.cell)(row)).collect();
            write_column(&mut writer, &cells)?;
            writer.close()?;
        }
        group.close()?;
        Ok(())
    }
}

/// Writes one column's cells: the present values, and a definition level
/// per row (1 present, 0 absent).
fn write_column(writer: &mut SerializedColumnWriter<'_>, cells: &[Cell<'_>]) -> Result<(), ExportError> {
    let levels: Vec<i16> = cells
        .iter()
        .map(|cell| {
            let present = match cell {
                Cell::Text(v) => v.is_some(),
                Cell::Time(v) => v.is_some(),
                Cell::Bool(v) => v.is_some(),
                Cell::Double(v) => v.is_some(),
            };
            i16::from(present)
        })
        .collect();
    match cells.first() {
        Some(Cell::Text(_)) | None => {
            let values: Vec<ByteArray> = cells
                .iter()
                .filter_map(|cell| match cell {
                    Cell::Text(Some(text)) => Some(ByteArray::from(text.as_bytes().to_vec())),
                    _ => None,
                })
                .collect();
            writer.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None)?;
        }
        Some(Cell::Time(_)) => {
            let values: Vec<i64> =
                cells.iter().filter_map(|cell| if let Cell::Time(v) = cell { *v } else { None }).collect();
            writer.typed::<Int64Type>().write_batch(&values, Some(&levels), None)?;
        }
        Some(Cell::Bool(_)) => {
            let values: Vec<bool> =
                cells.iter().filter_map(|cell| if let Cell::Bool(v) = cell { *v } else { None }).collect();
            writer.typed::<BoolType>().write_batch(&values, Some(&levels), None)?;
        }
        Some(Cell::Double(_)) => {
            let values: Vec<f64> =
                cells.iter().filter_map(|cell| if let Cell::Double(v) = cell { *v } else { None }).collect();
            writer.typed::<DoubleType>().write_batch(&values, Some(&levels), None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    use serde_json::json;

    use crate::{Encoder, Format};

    #[test]
    fn a_parquet_export_reads_back_with_its_types_across_row_groups() {
        let statements: Vec<serde_json::Value> = (0..20_000)
            .map(|n| {
                let mut statement = json!({"id": format!("id-{n}"), "stored": "2026-03-01T00:00:00Z",
                    "actor": {"mbox": format!("mailto:{n}@example.com")}, "verb": {"id": "http://example.com/v"}});
                if n % 3 == 0 {
                    statement["result"] = json!({"success": n % 2 == 0, "score": {"scaled": f64::from(n) / 20_000.0}});
                }
                statement
            })
            .collect();
        let mut encoder = Encoder::new(Format::Parquet).unwrap();
        let mut file = Vec::new();
        for page in statements.chunks(500) {
            file.extend(encoder.push(page).unwrap());
        }
        file.extend(encoder.finish().unwrap());
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 20_000);
        assert!(reader.metadata().num_row_groups() >= 3, "written a row group at a time");
        for (n, row) in reader.get_row_iter(None).unwrap().enumerate() {
            let row = row.unwrap();
            let n = n as i32;
            assert_eq!(row.get_string(0).unwrap(), &format!("id-{n}"));
            assert_eq!(row.get_timestamp_micros(2).unwrap(), 1_772_323_200_000_000);
            if n % 3 == 0 {
                assert_eq!(row.get_bool(10).unwrap(), n % 2 == 0);
                assert_eq!(row.get_double(12).unwrap(), f64::from(n) / 20_000.0);
            } else {
                assert!(row.get_bool(10).is_err(), "absent is null");
            }
        }
    }
}
