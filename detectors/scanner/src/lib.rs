//! `paodan_scanner`: make a chat text's match view and scan it for lexicon terms in one native call.
//!
//! The lexicon matcher (detectors/content/lexicon.py) looks at every chat message, and almost none
//! contain a term. In Python a message costs a `str.translate` (the fold: width, case, traditional →
//! simplified, digit styles, deleted separators), a UTF-8 copy of the result for the automaton, the
//! scan, and — for any message with a doubled character, 谢谢 or 哈哈 — a collapse of repeats and a
//! second scan. Here one pass over the Python string's own storage folds each code point, collapses
//! runs, and writes the match view into one reusable UTF-8 buffer, which a character-wise
//! double-array Aho-Corasick automaton (the `daachorse` crate: one transition per character rather
//! than per byte, which for Chinese text is a third of the steps) then scans. No Python object is made
//! unless something matched.
//!
//! What folds to what stays in Python (detectors/textnorm.py builds the table); this module applies
//! it exactly as `str.translate` applies a list table:
//! - a code point inside the table is replaced by its entry (one character, several, or none);
//! - a code point past the table's end is kept as it is.
//!
//! Then, as `textnorm.collapse` does, a run of one non-digit character becomes one character.

use std::cell::RefCell;

use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyStringData, PyTuple};

/// Table entry of a code point folded to nothing.
const DELETED: u32 = u32::MAX;
/// Flag of a table entry that indexes `Fold::several` (a code point folded to several characters).
const SEVERAL: u32 = 0x8000_0000;

thread_local! {
    /// The view of the current call, as UTF-8 (reused: most calls allocate nothing).
    static VIEW: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

/// Writes characters into a view, collapsing runs of one non-digit character when asked to.
struct Writer<'a> {
    view: &'a mut Vec<u8>,
    collapse: bool,
    last: u32,
}

/// Whether `code` continues a run of `last` that collapsing merges into one character (digits never
/// collapse: 13888888888 stays a phone number), as `textnorm.collapse` does.
#[inline]
fn continues_run(last: u32, code: u32) -> bool {
    code == last && !(0x30..=0x39).contains(&code)
}

impl Writer<'_> {
    #[inline]
    fn char(&mut self, code: u32) {
        if self.collapse {
            if continues_run(self.last, code) {
                return;
            }
            self.last = code;
        }
        if code < 0x80 {
            self.view.push(code as u8);
        } else {
            // A lone surrogate (a Python string may hold one) has no UTF-8 form; U+FFFD stands in for
            // it, one character for one, so offsets stay right and nothing matches it.
            let c = char::from_u32(code).unwrap_or('\u{FFFD}');
            let mut buf = [0u8; 4];
            self.view.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// A fold table: `Fold(table)` where `table[i]` is what code point `i` becomes (a `str`, maybe empty).
#[pyclass(frozen, module = "paodan_scanner")]
struct Fold {
    table: Vec<u32>,
    several: Vec<Vec<u32>>,
}

impl Fold {
    /// Call `emit` with each character `code` folds to: none, one or several.
    #[inline]
    fn apply(&self, code: u32, mut emit: impl FnMut(u32)) {
        match self.table.get(code as usize) {
            None => emit(code),
            Some(&DELETED) => {}
            Some(&entry) if entry & SEVERAL != 0 => {
                self.several[(entry & !SEVERAL) as usize].iter().for_each(|&c| emit(c))
            }
            Some(&entry) => emit(entry),
        }
    }

    /// Write `text` into `view`: folded when `fold` is given, runs collapsed when `collapse` is true.
    fn write(fold: Option<&Fold>, collapse: bool, text: &Bound<'_, PyString>, view: &mut Vec<u8>) -> PyResult<()> {
        view.clear();
        let mut out = Writer { view, collapse, last: u32::MAX };
        // SAFETY: the data is read while the GIL is held and `text` is alive; no reference is kept.
        let data = unsafe { text.data()? };
        match (data, fold) {
            (PyStringData::Ucs1(s), Some(f)) => s.iter().for_each(|&c| f.apply(c as u32, |x| out.char(x))),
            (PyStringData::Ucs2(s), Some(f)) => s.iter().for_each(|&c| f.apply(c as u32, |x| out.char(x))),
            (PyStringData::Ucs4(s), Some(f)) => s.iter().for_each(|&c| f.apply(c, |x| out.char(x))),
            (PyStringData::Ucs1(s), None) => s.iter().for_each(|&c| out.char(c as u32)),
            (PyStringData::Ucs2(s), None) => s.iter().for_each(|&c| out.char(c as u32)),
            (PyStringData::Ucs4(s), None) => s.iter().for_each(|&c| out.char(c)),
        }
        Ok(())
    }
}

#[pymethods]
impl Fold {
    #[new]
    fn new(table: Vec<String>) -> PyResult<Self> {
        let mut entries = Vec::with_capacity(table.len());
        let mut several = Vec::new();
        for to in &table {
            let chars: Vec<u32> = to.chars().map(u32::from).collect();
            entries.push(match chars.len() {
                0 => DELETED,
                1 => chars[0],
                _ => {
                    several.push(chars);
                    SEVERAL | (several.len() as u32 - 1)
                }
            });
        }
        Ok(Fold { table: entries, several })
    }

    /// The view of `text` (folded; runs collapsed when `collapse` is true) with, for each of its
    /// characters, the span `[start, end)` of `text` it comes from: `(view, starts, ends)`, as
    /// `textnorm.with_offsets` computes them. A collapsed run spans from its first character to its last.
    #[pyo3(signature = (text, collapse=true))]
    fn offsets<'py>(&self, py: Python<'py>, text: &Bound<'py, PyString>, collapse: bool)
                    -> PyResult<(String, Bound<'py, PyTuple>, Bound<'py, PyTuple>)> {
        let mut view = String::new();
        let mut starts: Vec<usize> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut last = u32::MAX;
        let mut emit = |i: usize, code: u32| {
            if collapse && continues_run(last, code) {
                if let Some(end) = ends.last_mut() {
                    *end = i + 1;
                }
                return;
            }
            last = code;
            view.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            starts.push(i);
            ends.push(i + 1);
        };
        let mut each = |i: usize, code: u32| self.apply(code, |c| emit(i, c));
        // SAFETY: as in `write`.
        match unsafe { text.data()? } {
            PyStringData::Ucs1(s) => s.iter().enumerate().for_each(|(i, &c)| each(i, c as u32)),
            PyStringData::Ucs2(s) => s.iter().enumerate().for_each(|(i, &c)| each(i, c as u32)),
            PyStringData::Ucs4(s) => s.iter().enumerate().for_each(|(i, &c)| each(i, c)),
        }
        Ok((view, PyTuple::new(py, starts)?, PyTuple::new(py, ends)?))
    }

    /// `text` folded, and its runs collapsed when `collapse` is true: `text.translate(table)`, or
    /// `textnorm.collapse` of it.
    #[pyo3(signature = (text, collapse=false))]
    fn __call__(&self, text: &Bound<'_, PyString>, collapse: bool) -> PyResult<String> {
        VIEW.with_borrow_mut(|view| {
            Fold::write(Some(self), collapse, text, view)?;
            // The view is made of whole `char`s only, so it is valid UTF-8.
            Ok(String::from_utf8(view.clone()).expect("a view is UTF-8"))
        })
    }
}

/// An automaton over `keys`, with the text's match view made before the scan when the scanner was
/// given a fold.
#[pyclass(frozen, module = "paodan_scanner")]
struct Scanner {
    automaton: CharwiseDoubleArrayAhoCorasick<u32>,
    fold: Option<Py<Fold>>,
}

#[pymethods]
impl Scanner {
    #[new]
    #[pyo3(signature = (keys, fold=None))]
    fn new(keys: Vec<String>, fold: Option<Py<Fold>>) -> PyResult<Self> {
        let automaton = CharwiseDoubleArrayAhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&keys)
            .map_err(|e| PyValueError::new_err(format!("lexicon automaton: {e}")))?;
        Ok(Scanner { automaton, fold })
    }

    /// Every key in the match view of `text` (folded and collapsed, when `view` is false and the
    /// scanner has a fold) or in `text` itself (when `view` is true: the text is a view already):
    /// a list of `(key index, start, end)` in characters of the scanned view, overlapping ones too.
    #[pyo3(signature = (text, view=false))]
    fn find<'py>(&self, py: Python<'py>, text: &Bound<'py, PyString>, view: bool) -> PyResult<Bound<'py, PyList>> {
        let fold = if view { None } else { self.fold.as_ref().map(|f| f.get()) };
        VIEW.with_borrow_mut(|buf| {
            Fold::write(fold, fold.is_some(), text, buf)?;
            // SAFETY: the buffer is made of whole `char`s only (Writer::char).
            let haystack = unsafe { std::str::from_utf8_unchecked(&buf[..]) };
            let mut found: Vec<(usize, usize, usize)> = self
                .automaton
                .find_overlapping_iter(haystack)
                .map(|m| (m.value() as usize, m.start(), m.end()))
                .collect();
            if !found.is_empty() {
                // Byte offsets to character offsets: chars[i] = characters that begin before byte i.
                let mut chars = Vec::with_capacity(buf.len() + 1);
                let mut n = 0;
                chars.push(0);
                for &b in buf.iter() {
                    n += usize::from(b & 0xC0 != 0x80);
                    chars.push(n);
                }
                for m in found.iter_mut() {
                    m.1 = chars[m.1];
                    m.2 = chars[m.2];
                }
            }
            PyList::new(py, found)
        })
    }
}

#[pymodule]
fn paodan_scanner(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Fold>()?;
    m.add_class::<Scanner>()?;
    Ok(())
}
