//! The xlsx package (Office Open XML SpreadsheetML): its parts, its six
//! cell styles, and each sheet's XML, rendered a block of rows at a time
//! on every core and deflated into the zip as it comes.
//!
//! Why not rust_xlsxwriter, which wrote the workbook until issue #7: at 1 M
//! households the workbook is some 30 M cells, and rust_xlsxwriter's
//! constant-memory mode spent about 7 of the run's 25 CPU-seconds on them
//! (a `String`, an `Arc` and a `BTreeMap` entry per cell, `write!` per
//! cell reference, every row through a temporary file read back when the
//! zip is written, which then deflated on one thread), and it panics when
//! that temporary file cannot be written. The report needs only what this
//! module writes: text and number cells, a bold and a filled style, frozen
//! header rows, autofilters and column widths. The parts follow what
//! rust_xlsxwriter 0.102 wrote, part for part (its theme is
//! `xlsx_theme.xml`), so the files open as they did; only a cell's
//! reference is left out where the cell follows the one before it, and
//! each part's sizes follow its data in the zip (see [`write`]).

use std::io::{self, Write};
use zip::write::{SimpleFileOptions, ZipWriter};
use zip::{CompressionMethod, DateTime};

use super::escape_markup;

/// Excel's limits: rows and columns of a sheet, characters of a cell
/// (counted in UTF-16 units).
pub const MAX_ROWS: usize = 1_048_576;
pub const MAX_COLUMNS: usize = 16_384;
pub const MAX_CELL_UNITS: usize = 32_767;

/// Zip level: 1 (fastest). Level 6, the usual default, took 2.2 × as long
/// at 1 M households for a file 0.6 × the size.
const ZIP_LEVEL: i64 = 1;

/// Rows rendered by one task. A block of flags is about 6 MB of XML.
const BLOCK_ROWS: usize = 4096;

/// A cell's look: an index into `cellXfs` of [`STYLES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Normal,
    Bold,
    /// Bold on light blue: header rows.
    Header,
    /// Fills of the three risk tiers.
    High,
    Medium,
    Low,
}

impl Style {
    fn xf(self) -> &'static str {
        match self {
            Style::Normal => "0",
            Style::Bold => "1",
            Style::Header => "2",
            Style::High => "3",
            Style::Medium => "4",
            Style::Low => "5",
        }
    }
}

/// Writes the cells of row `i` of a sheet.
pub type RenderRow<'a> = Box<dyn Fn(usize, &mut RowXml) + Sync + 'a>;

/// One sheet: its name, shape and how to render row `i` (0-based; the
/// first row is the header when there is one).
pub struct Sheet<'a> {
    pub name: String,
    /// Columns used; at least the widest row.
    pub columns: usize,
    pub rows: usize,
    /// Display widths in characters of the first columns.
    pub widths: Vec<f64>,
    /// Freeze the first row and put an autofilter over every row.
    pub header_row: bool,
    pub render: RenderRow<'a>,
}

/// Document properties.
pub struct Properties<'a> {
    pub title: &'a str,
    /// Creation and modification date, (year, month, day).
    pub created: (i32, u8, u8),
}

/// Write the package to `out`; the first sheet is the one shown on opening.
/// `shared` is the package's table of shared strings, which
/// [`RowXml::shared`] cells name by their place in it (no part is written
/// when it is empty).
pub fn write<W: Write + Send>(
    out: W,
    properties: &Properties,
    sheets: &[Sheet],
    shared: &[&str],
) -> io::Result<W> {
    for sheet in sheets {
        if sheet.rows > MAX_ROWS || sheet.columns > MAX_COLUMNS {
            return Err(io::Error::other(format!(
                "sheet {} has {} rows and {} columns; a sheet holds at most {MAX_ROWS} and {MAX_COLUMNS}",
                sheet.name, sheet.rows, sheet.columns
            )));
        }
    }
    // Streamed: each part's sizes and CRC follow its data (a data
    // descriptor, as Java's `ZipOutputStream` writes every xlsx) instead of
    // being patched into its header afterwards, so that the file is
    // written front to back, past the page cache (`files::FileWriter`).
    let mut zip = ZipWriter::new_stream(out);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(ZIP_LEVEL))
        .unix_permissions(0o600)
        .last_modified_time(DateTime::default());
    let has_shared = !shared.is_empty();
    let mut parts: Vec<(&str, String)> = vec![
        (
            "[Content_Types].xml",
            content_types(sheets.len(), has_shared),
        ),
        ("_rels/.rels", ROOT_RELS.to_owned()),
        ("docProps/app.xml", app(sheets)),
        ("docProps/core.xml", core(properties)),
        (
            "xl/_rels/workbook.xml.rels",
            workbook_rels(sheets.len(), has_shared),
        ),
        ("xl/styles.xml", STYLES.to_owned()),
        ("xl/theme/theme1.xml", THEME.to_owned()),
        ("xl/workbook.xml", workbook(sheets)),
    ];
    if has_shared {
        parts.push(("xl/sharedStrings.xml", shared_strings(shared)));
    }
    for (name, text) in parts {
        zip.start_file(name, options)?;
        zip.write_all(text.as_bytes())?;
    }
    for (i, sheet) in sheets.iter().enumerate() {
        // A sheet's XML passes 4 GiB only with cells of ~300 characters on
        // average; the zip then needs its 64-bit sizes.
        let large = (sheet.rows as u64) * (sheet.columns as u64) * 300 > u32::MAX as u64;
        zip.start_file(
            format!("xl/worksheets/sheet{}.xml", i + 1),
            options.large_file(large),
        )?;
        write_sheet(&mut zip, sheet, i == 0)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// A sheet's XML: head, rows rendered in parallel blocks
/// ([`super::blocks`]), tail.
fn write_sheet<W: Write + Send>(out: &mut W, sheet: &Sheet, selected: bool) -> io::Result<()> {
    out.write_all(sheet_head(sheet, selected).as_bytes())?;
    let letters = column_letters(sheet.columns);
    super::blocks::write_in_blocks(out, sheet.rows, BLOCK_ROWS, |rows, buf| {
        buf.reserve(rows.len() * 64 * sheet.columns.max(1));
        for i in rows {
            let mut row = RowXml::new(buf, i, &letters);
            (sheet.render)(i, &mut row);
            row.end();
        }
    })?;
    out.write_all(sheet_tail(sheet).as_bytes())
}

/// The cells of one row, written as XML into a block's buffer. The
/// `<row>` element opens at the first cell: a row without cells is left
/// out, as Excel does.
pub struct RowXml<'b> {
    out: &'b mut Vec<u8>,
    /// The row's number in decimal, written into every cell reference.
    number: [u8; 8],
    digits: usize,
    open: bool,
    /// The column a cell written now would take without a reference:
    /// the one after the row's last cell.
    next_col: usize,
    letters: &'b [String],
}

impl<'b> RowXml<'b> {
    fn new(out: &'b mut Vec<u8>, row: usize, letters: &'b [String]) -> RowXml<'b> {
        let mut number = [0u8; 8];
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(row + 1).as_bytes();
        // Rows are at most MAX_ROWS (7 digits).
        let digits = text.len().min(number.len());
        number[..digits].copy_from_slice(&text[..digits]);
        RowXml {
            out,
            number,
            digits,
            open: false,
            next_col: 0,
            letters,
        }
    }

    fn end(self) {
        if self.open {
            self.out.extend_from_slice(b"</row>");
        }
    }

    /// `<c`, with `r="B7"` only after a gap, and the row's start tag
    /// before its first cell.
    ///
    /// A cell's reference is optional (ECMA-376 Part 1, §18.3.1.4): a cell
    /// without one takes the column after the row's previous cell. Excel
    /// and LibreOffice open such sheets (exporters of large files, such as
    /// LargeXlsx, leave references out), and calamine, with which the
    /// tests read the packages back, places their cells so. Written
    /// on every cell, references were a fifth of the workbook's XML and,
    /// being all different, cost the deflater more than the rest: at 1 M
    /// households leaving them out took a third off the time to deflate
    /// the sheets and half off the file (#7).
    fn start_cell(&mut self, col: usize, style: Style) {
        let row = &self.number[..self.digits];
        if !self.open {
            self.open = true;
            self.out.extend_from_slice(b"<row r=\"");
            self.out.extend_from_slice(row);
            self.out.extend_from_slice(b"\">");
        }
        if col == self.next_col {
            self.out.extend_from_slice(b"<c");
        } else {
            self.out.extend_from_slice(b"<c r=\"");
            self.out.extend_from_slice(self.letters[col].as_bytes());
            self.out.extend_from_slice(row);
            self.out.push(b'"');
        }
        self.next_col = col + 1;
        if style != Style::Normal {
            self.out.extend_from_slice(b" s=\"");
            self.out.extend_from_slice(style.xf().as_bytes());
            self.out.push(b'"');
        }
    }

    /// A text cell. Empty text writes nothing, unless styled (a blank
    /// cell keeps its fill). Text longer than Excel's cell limit must be
    /// cut by the caller (see `xlsx::fit`).
    pub fn text(&mut self, col: usize, text: &str, style: Style) {
        if col >= self.letters.len() {
            return;
        }
        if text.is_empty() {
            if style != Style::Normal {
                self.start_cell(col, style);
                self.out.extend_from_slice(b"/>");
            }
            return;
        }
        self.start_cell(col, style);
        self.out.extend_from_slice(b" t=\"inlineStr\"><is>");
        text_element(self.out, text);
        self.out.extend_from_slice(b"</is></c>");
    }

    /// A text cell that names text `index` of the package's shared
    /// strings (see [`write`]). Columns of a few repeated texts (a flag's
    /// code, label, kind and severity, a household's status and type) are
    /// written so: inline, each cell spelt its text out inside 35 bytes of
    /// markup, and at 1 M households the sheets' XML, all of it rendered
    /// and deflated, was 1,279 MB where it is now 1,032 (issue #7).
    pub fn shared(&mut self, col: usize, index: u32, style: Style) {
        if col >= self.letters.len() {
            return;
        }
        self.start_cell(col, style);
        self.out.extend_from_slice(b" t=\"s\"><v>");
        self.out
            .extend_from_slice(itoa::Buffer::new().format(index).as_bytes());
        self.out.extend_from_slice(b"</v></c>");
    }

    /// A number cell. Infinite and NaN values, which a cell cannot hold,
    /// are written as text.
    pub fn number(&mut self, col: usize, value: f64, style: Style) {
        if col >= self.letters.len() {
            return;
        }
        if !value.is_finite() {
            return self.text(col, &value.to_string(), style);
        }
        self.start_cell(col, style);
        self.out.extend_from_slice(b"><v>");
        write!(self.out, "{value}").expect("writing to a Vec cannot fail");
        self.out.extend_from_slice(b"</v></c>");
    }

    /// A number cell from its decimal text (`-12`, `4328.10`), written as
    /// given, which is what Excel reads; `false`, and nothing written, for
    /// any other text.
    pub fn decimal(&mut self, col: usize, text: &str, style: Style) -> bool {
        if col >= self.letters.len() || !is_plain_decimal(text) {
            return false;
        }
        self.start_cell(col, style);
        self.out.extend_from_slice(b"><v>");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"</v></c>");
        true
    }
}

/// `-?digits(.digits)?`, at most 15 significant digits (what a double
/// holds exactly).
pub fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole)
        && fraction.is_none_or(all_digits)
        && whole.trim_start_matches('0').len() + fraction.map_or(0, str::len) <= 15
}

/// Cell text as XML character data, escaped as Excel does: `& < >` as
/// entities; control characters (other than tab and newline) and the
/// non-characters U+FFFE/U+FFFF, which XML cannot carry, as `_xHHHH_`;
/// and a literal `_xHHHH_` in the text as `_x005F_xHHHH_`, so that Excel
/// does not read it as an escape.
pub fn escape_text(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Runs of ordinary bytes are copied whole; only a byte the table marks
    // is looked at. Flag codes hold `_` and Chinese details hold full-width
    // punctuation (lead byte EF), so most cells have one: decoding them
    // character by character was most of this function's time (#7).
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !ESCAPE_CANDIDATE[b as usize] {
            i += 1;
            continue;
        }
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'_' if is_escape_like(&bytes[i..]) => b"_x005F_",
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF).
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                out.extend_from_slice(&bytes[copied..i]);
                let unit = if bytes[i + 2] == 0xBE { "FFFE" } else { "FFFF" };
                out.extend_from_slice(b"_x");
                out.extend_from_slice(unit.as_bytes());
                out.push(b'_');
                i += 3;
                copied = i;
                continue;
            }
            0x00..=0x1F => {
                out.extend_from_slice(&bytes[copied..i]);
                write!(out, "_x{:04X}_", b).expect("writing to a Vec cannot fail");
                i += 1;
                copied = i;
                continue;
            }
            // `_` not before an escape, or another character of EF.
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[copied..i]);
        out.extend_from_slice(replacement);
        i += 1;
        copied = i;
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// Bytes that may need escaping: `& < > _`, control characters other
/// than tab and newline, and EF, the lead byte of U+FFFE and U+FFFF.
const ESCAPE_CANDIDATE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'_' as usize] = true;
    table[0xEF] = true;
    table
};

/// `_xHHHH_` at the start of `bytes`.
fn is_escape_like(bytes: &[u8]) -> bool {
    bytes.len() >= 7
        && bytes[1] == b'x'
        && bytes[2..6].iter().all(u8::is_ascii_hexdigit)
        && bytes[6] == b'_'
}

/// `A`, `B`, …, `Z`, `AA`, … for the first `n` columns.
pub fn column_letters(n: usize) -> Vec<String> {
    (0..n)
        .map(|mut c| {
            let mut name = Vec::new();
            loop {
                name.push(b'A' + (c % 26) as u8);
                if c < 26 {
                    break;
                }
                c = c / 26 - 1;
            }
            name.reverse();
            String::from_utf8(name).expect("ASCII letters")
        })
        .collect()
}

/// Excel's stored column width for a display width of `chars` characters
/// of Calibri 11 (7 pixels a digit, 5 pixels of padding).
fn stored_width(chars: f64) -> f64 {
    let pixels = (chars * 7.0).round() + 5.0;
    (pixels * 256.0 / 7.0).floor() / 256.0
}

/// `风险户!$A$1:$M$405`. A name is quoted unless it is letters of other
/// scripts only (as the report's are), which cannot be read as a cell
/// reference; quoting is always allowed, so any other name is quoted.
fn absolute_range(sheet: &Sheet) -> String {
    let last = column_letters(sheet.columns.max(1))
        .pop()
        .unwrap_or_default();
    let plain = sheet
        .name
        .chars()
        .all(|c| c.is_alphanumeric() && !c.is_ascii());
    let name = if plain {
        sheet.name.clone()
    } else {
        format!("'{}'", sheet.name.replace('\'', "''"))
    };
    format!("{name}!$A$1:${last}${}", sheet.rows.max(1))
}

fn range(sheet: &Sheet) -> String {
    if sheet.rows == 0 || sheet.columns == 0 {
        return "A1".into();
    }
    let last = column_letters(sheet.columns).pop().unwrap_or_default();
    format!("A1:{last}{}", sheet.rows)
}

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
const MAIN_NS: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const REL_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

fn sheet_head(sheet: &Sheet, selected: bool) -> String {
    let mut xml = format!(
        "{XML_DECLARATION}<worksheet xmlns=\"{MAIN_NS}\" xmlns:r=\"{REL_NS}\"><dimension ref=\"{}\"/><sheetViews><sheetView {}workbookViewId=\"0\"",
        range(sheet),
        if selected { "tabSelected=\"1\" " } else { "" }
    );
    if sheet.header_row {
        xml.push_str("><pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/><selection pane=\"bottomLeft\"/></sheetView>");
    } else {
        xml.push_str("/>");
    }
    xml.push_str("</sheetViews><sheetFormatPr defaultRowHeight=\"15\"/>");
    if !sheet.widths.is_empty() {
        xml.push_str("<cols>");
        // Runs of equal widths share one <col>.
        let mut first = 0;
        for c in 0..sheet.widths.len() {
            let last_of_run = c + 1 == sheet.widths.len() || sheet.widths[c + 1] != sheet.widths[c];
            if last_of_run {
                xml.push_str(&format!(
                    "<col min=\"{}\" max=\"{}\" width=\"{}\" customWidth=\"1\"/>",
                    first + 1,
                    c + 1,
                    stored_width(sheet.widths[c])
                ));
                first = c + 1;
            }
        }
        xml.push_str("</cols>");
    }
    xml.push_str("<sheetData>");
    xml
}

fn sheet_tail(sheet: &Sheet) -> String {
    let mut xml = String::from("</sheetData>");
    if sheet.header_row {
        xml.push_str(&format!("<autoFilter ref=\"{}\"/>", range(sheet)));
    }
    xml.push_str("<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/></worksheet>");
    xml
}

fn content_types(sheets: usize, has_shared: bool) -> String {
    let mut xml = format!(
        "{XML_DECLARATION}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/docProps/app.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.extended-properties+xml\"/><Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/><Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/><Override PartName=\"/xl/theme/theme1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.theme+xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
    );
    for i in 1..=sheets {
        xml.push_str(&format!("<Override PartName=\"/xl/worksheets/sheet{i}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"));
    }
    if has_shared {
        xml.push_str("<Override PartName=\"/xl/sharedStrings.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml\"/>");
    }
    xml.push_str("</Types>");
    xml
}

const ROOT_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/><Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/><Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties\" Target=\"docProps/app.xml\"/></Relationships>";

fn app(sheets: &[Sheet]) -> String {
    let titles: String = sheets
        .iter()
        .map(|s| format!("<vt:lpstr>{}</vt:lpstr>", escape_markup(&s.name)))
        .collect();
    format!(
        "{XML_DECLARATION}<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\" xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\"><Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop><HeadingPairs><vt:vector size=\"2\" baseType=\"variant\"><vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant><vt:variant><vt:i4>{n}</vt:i4></vt:variant></vt:vector></HeadingPairs><TitlesOfParts><vt:vector size=\"{n}\" baseType=\"lpstr\">{titles}</vt:vector></TitlesOfParts><Company></Company><LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>",
        n = sheets.len()
    )
}

fn core(p: &Properties) -> String {
    let (y, m, d) = p.created;
    let date = format!("{y:04}-{m:02}-{d:02}T00:00:00Z");
    format!(
        "{XML_DECLARATION}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><dc:title>{}</dc:title><dc:creator></dc:creator><cp:lastModifiedBy></cp:lastModifiedBy><dcterms:created xsi:type=\"dcterms:W3CDTF\">{date}</dcterms:created><dcterms:modified xsi:type=\"dcterms:W3CDTF\">{date}</dcterms:modified></cp:coreProperties>",
        escape_markup(p.title)
    )
}

fn workbook_rels(sheets: usize, has_shared: bool) -> String {
    let rel = |id: usize, kind: &str, target: &str| {
        format!("<Relationship Id=\"rId{id}\" Type=\"{REL_NS}/{kind}\" Target=\"{target}\"/>")
    };
    let mut xml = format!(
        "{XML_DECLARATION}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    );
    for i in 1..=sheets {
        xml.push_str(&rel(i, "worksheet", &format!("worksheets/sheet{i}.xml")));
    }
    xml.push_str(&rel(sheets + 1, "theme", "theme/theme1.xml"));
    xml.push_str(&rel(sheets + 2, "styles", "styles.xml"));
    if has_shared {
        xml.push_str(&rel(sheets + 3, "sharedStrings", "sharedStrings.xml"));
    }
    xml.push_str("</Relationships>");
    xml
}

fn workbook(sheets: &[Sheet]) -> String {
    let mut xml = format!(
        "{XML_DECLARATION}<workbook xmlns=\"{MAIN_NS}\" xmlns:r=\"{REL_NS}\"><fileVersion appName=\"xl\" lastEdited=\"4\" lowestEdited=\"4\" rupBuild=\"4505\"/><workbookPr defaultThemeVersion=\"124226\"/><bookViews><workbookView xWindow=\"240\" yWindow=\"15\" windowWidth=\"16095\" windowHeight=\"9660\"/></bookViews><sheets>"
    );
    for (i, s) in sheets.iter().enumerate() {
        xml.push_str(&format!(
            "<sheet name=\"{}\" sheetId=\"{}\" r:id=\"rId{}\"/>",
            escape_markup(&s.name),
            i + 1,
            i + 1
        ));
    }
    xml.push_str("</sheets>");
    // Each autofilter's hidden name, in name order as Excel keeps them.
    let mut filters: Vec<(usize, &Sheet)> = sheets
        .iter()
        .enumerate()
        .filter(|(_, s)| s.header_row)
        .collect();
    filters.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    if !filters.is_empty() {
        xml.push_str("<definedNames>");
        for (i, s) in filters {
            xml.push_str(&format!(
                "<definedName name=\"_xlnm._FilterDatabase\" localSheetId=\"{i}\" hidden=\"1\">{}</definedName>",
                escape_markup(&absolute_range(s))
            ));
        }
        xml.push_str("</definedNames>");
    }
    xml.push_str("<calcPr calcId=\"124519\" fullCalcOnLoad=\"1\"/></workbook>");
    xml
}

/// Fonts: Calibri 11, and bold. Fills: none, gray125 (both required), the
/// header's blue, then the tiers' red, amber and green. `cellXfs` is in
/// the order of [`Style`].
const STYLES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><fonts count=\"2\"><font><sz val=\"11\"/><color theme=\"1\"/><name val=\"Calibri\"/><family val=\"2\"/><scheme val=\"minor\"/></font><font><b/><sz val=\"11\"/><color theme=\"1\"/><name val=\"Calibri\"/><family val=\"2\"/><scheme val=\"minor\"/></font></fonts><fills count=\"6\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill><fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFDDEBF7\"/><bgColor indexed=\"64\"/></patternFill></fill><fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFF8CBAD\"/><bgColor indexed=\"64\"/></patternFill></fill><fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFFFE699\"/><bgColor indexed=\"64\"/></patternFill></fill><fill><patternFill patternType=\"solid\"><fgColor rgb=\"FFC6EFCE\"/><bgColor indexed=\"64\"/></patternFill></fill></fills><borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs><cellXfs count=\"6\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/><xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/><xf numFmtId=\"0\" fontId=\"1\" fillId=\"2\" borderId=\"0\" xfId=\"0\" applyFont=\"1\" applyFill=\"1\"/><xf numFmtId=\"0\" fontId=\"0\" fillId=\"3\" borderId=\"0\" xfId=\"0\" applyFill=\"1\"/><xf numFmtId=\"0\" fontId=\"0\" fillId=\"4\" borderId=\"0\" xfId=\"0\" applyFill=\"1\"/><xf numFmtId=\"0\" fontId=\"0\" fillId=\"5\" borderId=\"0\" xfId=\"0\" applyFill=\"1\"/></cellXfs><cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles><dxfs count=\"0\"/><tableStyles count=\"0\" defaultTableStyle=\"TableStyleMedium9\" defaultPivotStyle=\"PivotStyleLight16\"/></styleSheet>";

/// The Office theme, as rust_xlsxwriter writes it (the fonts' colours
/// refer to it).
const THEME: &str = include_str!("xlsx_theme.xml");

/// `xl/sharedStrings.xml`: the texts that shared cells name by number.
fn shared_strings(texts: &[&str]) -> String {
    let mut xml: Vec<u8> = format!(
        "{XML_DECLARATION}<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" uniqueCount=\"{}\">",
        texts.len()
    )
    .into_bytes();
    for text in texts {
        xml.extend_from_slice(b"<si>");
        text_element(&mut xml, text);
        xml.extend_from_slice(b"</si>");
    }
    xml.extend_from_slice(b"</sst>");
    String::from_utf8(xml).expect("escaped text is UTF-8")
}

/// `<t>text</t>`, escaped, keeping leading and trailing blanks.
fn text_element(out: &mut Vec<u8>, text: &str) {
    let edge = [b' ', b'\t', b'\n'];
    let bytes = text.as_bytes();
    if bytes
        .first()
        .into_iter()
        .chain(bytes.last())
        .any(|b| edge.contains(b))
    {
        out.extend_from_slice(b"<t xml:space=\"preserve\">");
    } else {
        out.extend_from_slice(b"<t>");
    }
    escape_text(out, text);
    out.extend_from_slice(b"</t>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        escape_text(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_is_escaped_as_excel_escapes_it() {
        assert_eq!(escaped("低保 a&b<c>d"), "低保 a&amp;b&lt;c&gt;d");
        assert_eq!(escaped("a\tb\nc\rd\u{1}"), "a\tb\nc_x000D_d_x0001_");
        assert_eq!(escaped("x\u{FFFE}"), "x_xFFFE_");
        assert_eq!(escaped("_x0041_ and _x41_"), "_x005F_x0041_ and _x41_");
        assert_eq!(escaped("a_b"), "a_b");
        assert_eq!(escaped("\u{FEFF}ï"), "\u{FEFF}ï");
        assert_eq!(
            escaped("DIBAO_NOT_POOR，（甲）\u{FFFF}_"),
            "DIBAO_NOT_POOR，（甲）_xFFFF__"
        );
        assert_eq!(escaped("\u{FFFD}\u{FFFE}&"), "\u{FFFD}_xFFFE_&amp;");
    }

    /// The escaping written character by character, as it was before the
    /// byte table: the fast version must write the same bytes.
    fn escaped_by_chars(text: &str) -> String {
        let mut out = String::new();
        for (i, ch) in text.char_indices() {
            match ch {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\t' | '\n' => out.push(ch),
                '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {
                    out.push_str(&format!("_x{:04X}_", ch as u32))
                }
                '_' if is_escape_like(&text.as_bytes()[i..]) => out.push_str("_x005F_"),
                _ => out.push(ch),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn escaping_by_bytes_is_escaping_by_characters(
            text in "([a-z_&<>\t\n\r\u{0}-\u{1F}x0-9A-F低保，（）\u{FFFD}-\u{FFFF}\u{EF00}-\u{EFFF}]|_x[0-9A-F]{4}_)*"
        ) {
            proptest::prop_assert_eq!(escaped(&text), escaped_by_chars(&text));
        }
    }

    #[test]
    fn column_letters_run_past_z() {
        let l = column_letters(16_384);
        assert_eq!(
            (&*l[0], &*l[25], &*l[26], &*l[51], &*l[52]),
            ("A", "Z", "AA", "AZ", "BA")
        );
        assert_eq!(&*l[701], "ZZ");
        assert_eq!(&*l[702], "AAA");
        assert_eq!(&*l[16_383], "XFD");
    }

    #[test]
    fn only_plain_decimals_are_numbers() {
        for yes in ["0", "-12", "4328.10", "007", "123456789012345"] {
            assert!(is_plain_decimal(yes), "{yes}");
        }
        for no in [
            "",
            "-",
            "1.",
            ".5",
            "1e3",
            "inf",
            "NaN",
            "+1",
            " 1",
            "1,000",
            "1234567890123456",
        ] {
            assert!(!is_plain_decimal(no), "{no}");
        }
    }

    #[test]
    fn widths_are_stored_as_excel_stores_them() {
        assert_eq!(stored_width(8.0), 8.7109375);
        assert_eq!(stored_width(34.0), 34.7109375);
    }

    #[test]
    fn rows_without_cells_are_left_out_and_styles_referenced() {
        let letters = column_letters(3);
        let mut buf = Vec::new();
        let mut row = RowXml::new(&mut buf, 0, &letters);
        row.text(0, "季度", Style::Header);
        row.number(1, 2.5, Style::Normal);
        assert!(row.decimal(2, "-3", Style::Normal));
        row.end();
        let row = RowXml::new(&mut buf, 1, &letters);
        row.end();
        let mut row = RowXml::new(&mut buf, 2, &letters);
        row.text(0, "", Style::Normal);
        row.text(1, "", Style::High);
        row.text(2, " x", Style::Normal);
        row.end();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "<row r=\"1\"><c s=\"2\" t=\"inlineStr\"><is><t>季度</t></is></c><c><v>2.5</v></c><c><v>-3</v></c></row>\
             <row r=\"3\"><c r=\"B3\" s=\"3\"/><c t=\"inlineStr\"><is><t xml:space=\"preserve\"> x</t></is></c></row>"
        );
    }
}

#[cfg(test)]
mod read_back {
    //! Packages read back with calamine, an independent xlsx reader.
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook};

    const AWKWARD: [&str; 7] = [
        "a&b<c>d \"q\" 'a'",
        " leading and trailing ",
        "tab\tnew\nline",
        "_x0041_ is not A",
        "村民小组_x",
        "张三·李四",
        "ctrl\u{1}\u{1F}",
    ];

    fn package(rows: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.xlsx");
        let sheets = vec![
            Sheet {
                name: "概览".into(),
                columns: 2,
                rows: AWKWARD.len(),
                widths: vec![30.0, 10.0],
                header_row: false,
                render: Box::new(|i, row: &mut RowXml| {
                    row.text(0, AWKWARD[i], Style::Bold);
                    row.number(1, i as f64 + 0.5, Style::Normal);
                }),
            },
            Sheet {
                name: "两册 不符(2)".into(),
                columns: 3,
                rows,
                widths: vec![],
                header_row: true,
                render: Box::new(|i, row: &mut RowXml| {
                    if i == 0 {
                        row.text(0, "序号", Style::Header);
                        row.text(2, "风险等级", Style::Header);
                        return;
                    }
                    // Every fifth row starts at its second cell, every
                    // third leaves its middle cell empty: the cells after
                    // a gap carry their reference.
                    if i % 5 != 0 {
                        assert!(row.decimal(0, &i.to_string(), Style::Normal));
                    }
                    if i % 3 != 0 {
                        row.text(1, &format!("第{i}行"), Style::Normal);
                    }
                    // Odd rows name a shared string (the awkward
                    // texts are the package's table), even rows spell
                    // theirs out.
                    if i % 2 == 1 {
                        row.shared(2, (i % AWKWARD.len()) as u32, Style::High);
                    } else {
                        row.text(2, "高", Style::High);
                    }
                }),
            },
        ];
        let file = std::fs::File::create(&path).unwrap();
        let properties = Properties {
            title: "标题 & <title>",
            created: (2018, 9, 30),
        };
        write(
            std::io::BufWriter::new(file),
            &properties,
            &sheets,
            &AWKWARD,
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn text_numbers_and_gaps_read_back_as_written() {
        // More rows than one window of blocks, so rendering and writing
        // overlap and the blocks must come out in order.
        let rows = 5 * BLOCK_ROWS * rayon::current_num_threads().max(1) + 17;
        let (_dir, path) = package(rows);
        let mut wb: Xlsx<_> = open_workbook(&path).unwrap();
        assert_eq!(wb.sheet_names(), ["概览", "两册 不符(2)"]);

        let overview = wb.worksheet_range("概览").unwrap();
        for (i, want) in AWKWARD.iter().enumerate() {
            let got = overview.get_value((i as u32, 0)).unwrap();
            assert_eq!(got, &Data::String(want.to_string()), "row {i}");
            assert_eq!(
                overview.get_value((i as u32, 1)),
                Some(&Data::Float(i as f64 + 0.5))
            );
        }

        let data = wb.worksheet_range("两册 不符(2)").unwrap();
        assert_eq!(data.height(), rows);
        assert_eq!(
            data.get_value((0, 2)),
            Some(&Data::String("风险等级".into()))
        );
        for i in 1..rows {
            let r = i as u32;
            let first = if i % 5 == 0 {
                Data::Empty
            } else {
                Data::Float(i as f64)
            };
            assert_eq!(data.get_value((r, 0)), Some(&first), "row {i}");
            let middle = data.get_value((r, 1)).unwrap();
            if i % 3 == 0 {
                assert_eq!(middle, &Data::Empty, "row {i}");
            } else {
                assert_eq!(middle, &Data::String(format!("第{i}行")), "row {i}");
            }
            let last = if i % 2 == 1 {
                AWKWARD[i % AWKWARD.len()]
            } else {
                "高"
            };
            assert_eq!(
                data.get_value((r, 2)),
                Some(&Data::String(last.into())),
                "row {i}"
            );
        }
    }

    #[test]
    fn the_parts_name_every_sheet_and_filter() {
        let (_dir, path) = package(10);
        let file = std::fs::File::open(&path).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let mut part = |name: &str| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
            text
        };
        let workbook = part("xl/workbook.xml");
        assert!(workbook.contains("<sheet name=\"两册 不符(2)\" sheetId=\"2\" r:id=\"rId2\"/>"));
        // Quoted: the name has a space and brackets.
        assert!(
            workbook.contains(
                "localSheetId=\"1\" hidden=\"1\">'两册 不符(2)'!$A$1:$C$10</definedName>"
            )
        );
        assert!(
            !workbook.contains("localSheetId=\"0\""),
            "the overview has no filter"
        );
        let sheet = part("xl/worksheets/sheet2.xml");
        assert!(sheet.contains("<dimension ref=\"A1:C10\"/>"));
        assert!(sheet.contains("state=\"frozen\""));
        assert!(sheet.ends_with("<autoFilter ref=\"A1:C10\"/><pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/></worksheet>"));
        let first = part("xl/worksheets/sheet1.xml");
        assert!(first.contains("tabSelected=\"1\""));
        assert!(
            first.contains("<col min=\"1\" max=\"1\" width=\"30.7109375\" customWidth=\"1\"/>")
        );
        assert!(
            part("docProps/core.xml").contains("<dc:title>标题 &amp; &lt;title&gt;</dc:title>")
        );
        assert!(part("[Content_Types].xml").contains("/xl/worksheets/sheet2.xml"));
        assert!(part("[Content_Types].xml").contains("/xl/sharedStrings.xml"));
        assert!(part("xl/_rels/workbook.xml.rels").contains("Target=\"sharedStrings.xml\""));
        let shared = part("xl/sharedStrings.xml");
        assert!(shared.contains("uniqueCount=\"7\""));
        assert!(shared.contains("<si><t xml:space=\"preserve\"> leading and trailing </t></si>"));
        assert!(sheet.contains("<c s=\"3\" t=\"s\"><v>1</v></c>"));
    }

    #[test]
    fn a_sheet_over_excels_row_limit_is_refused() {
        let sheets = vec![Sheet {
            name: "x".into(),
            columns: 1,
            rows: MAX_ROWS + 1,
            widths: vec![],
            header_row: false,
            render: Box::new(|_, _: &mut RowXml| unreachable!("nothing is rendered")),
        }];
        let out = std::io::Cursor::new(Vec::new());
        let properties = Properties {
            title: "t",
            created: (2018, 9, 30),
        };
        assert!(write(out, &properties, &sheets, &[]).is_err());
    }
}
