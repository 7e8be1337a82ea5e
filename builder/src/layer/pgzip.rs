//! Block-parallel gzip on plain threads: one gzip member whose deflate stream is cut into fixed
//! 1 MiB blocks. Each block is compressed on its own (primed with the previous block's last
//! 32 KiB as dictionary, so the ratio stays close to a serial stream) and ends with a sync flush,
//! the last one with the final block; their CRC-32s are combined in order. This is pigz's scheme.
//!
//! The output depends only on the input, the level and the block size — never on the number of
//! threads or their timing — so layers stay reproducible. Memory is bounded: at most
//! `2 × threads` blocks are in flight.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Uncompressed bytes per block.
pub const BLOCK_SIZE: usize = 1024 * 1024;
/// The deflate window: how much of the previous block primes the next.
const DICTIONARY_SIZE: usize = 32 * 1024;

struct Job {
    seq: u64,
    dictionary: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

struct Done {
    seq: u64,
    result: io::Result<(Vec<u8>, Crc)>,
    /// The input buffer, handed back for reuse.
    data: Vec<u8>,
}

/// A `Write` that gzips into `W` using `threads` compression threads (0 or 1: compress inline).
pub struct ParallelGzWriter<W: Write> {
    out: Option<W>,
    level: u32,
    buffer: Vec<u8>,
    dictionary: Vec<u8>,
    next_seq: u64,
    next_to_write: u64,
    crc: Crc,
    pool: Option<Pool>,
    /// Finished blocks waiting for their predecessors.
    ready: BTreeMap<u64, (Vec<u8>, Crc)>,
    spare: Vec<Vec<u8>>,
    inline: Option<Compress>,
    header_written: bool,
    finished: bool,
}

struct Pool {
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Done>,
    workers: Vec<thread::JoinHandle<()>>,
    in_flight: usize,
    max_in_flight: usize,
}

impl<W: Write> ParallelGzWriter<W> {
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        let level = level.min(9);
        let pool = (threads > 1).then(|| {
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
            let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
            let (done_tx, done_rx) = mpsc::channel::<Done>();
            let workers = (0..threads)
                .map(|_| {
                    let job_rx = job_rx.clone();
                    let done_tx = done_tx.clone();
                    thread::spawn(move || {
                        let mut compress = Compress::new(Compression::new(level), false);
                        loop {
                            let job = match job_rx.lock() {
                                Ok(rx) => match rx.recv() {
                                    Ok(job) => job,
                                    Err(_) => return,
                                },
                                Err(_) => return,
                            };
                            let result = compress_block(
                                &mut compress,
                                level,
                                &job.dictionary,
                                &job.data,
                                job.last,
                            );
                            if done_tx
                                .send(Done {
                                    seq: job.seq,
                                    result,
                                    data: job.data,
                                })
                                .is_err()
                            {
                                return;
                            }
                        }
                    })
                })
                .collect();
            Pool {
                jobs: Some(job_tx),
                done: done_rx,
                workers,
                in_flight: 0,
                max_in_flight: threads * 2,
            }
        });
        ParallelGzWriter {
            out: Some(out),
            level,
            buffer: Vec::with_capacity(BLOCK_SIZE),
            dictionary: Vec::new(),
            next_seq: 0,
            next_to_write: 0,
            crc: Crc::new(),
            pool,
            ready: BTreeMap::new(),
            spare: Vec::new(),
            inline: None,
            header_written: false,
            finished: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // Fixed header: no name, mtime 0, OS "unknown" — the same bytes every time.
            let xfl = match self.level {
                9 => 2,
                0 | 1 => 4,
                _ => 0,
            };
            self.out()
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff])?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Hands the full buffer to a worker (or compresses it inline).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        let next_buffer = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BLOCK_SIZE));
        let data = std::mem::replace(&mut self.buffer, next_buffer);
        let dictionary = std::mem::take(&mut self.dictionary);
        // The next block's dictionary: the tail of this block (plus the old one if this is short).
        let mut next_dictionary = Vec::with_capacity(DICTIONARY_SIZE);
        if data.len() < DICTIONARY_SIZE {
            let keep = DICTIONARY_SIZE - data.len();
            next_dictionary.extend_from_slice(&dictionary[dictionary.len().saturating_sub(keep)..]);
        }
        next_dictionary.extend_from_slice(&data[data.len().saturating_sub(DICTIONARY_SIZE)..]);
        self.dictionary = next_dictionary;
        let seq = self.next_seq;
        self.next_seq += 1;
        match &mut self.pool {
            Some(pool) => {
                pool.jobs
                    .as_ref()
                    .expect("jobs open until finish")
                    .send(Job {
                        seq,
                        dictionary,
                        data,
                        last,
                    })
                    .map_err(|_| io::Error::other("compression thread stopped"))?;
                pool.in_flight += 1;
                // Keep memory bounded: wait for results once enough blocks are in flight.
                while self
                    .pool
                    .as_ref()
                    .is_some_and(|p| p.in_flight >= p.max_in_flight)
                {
                    self.receive(true)?;
                }
                while self.receive(false)? {}
            }
            None => {
                let level = self.level;
                let compress = self
                    .inline
                    .get_or_insert_with(|| Compress::new(Compression::new(self.level), false));
                let (bytes, crc) = compress_block(compress, level, &dictionary, &data, last)?;
                self.ready.insert(seq, (bytes, crc));
                let mut data = data;
                data.clear();
                self.spare.push(data);
            }
        }
        self.write_ready()
    }

    /// Takes one finished block from the workers; `block` waits for it. Returns whether one came.
    fn receive(&mut self, block: bool) -> io::Result<bool> {
        let Some(pool) = &mut self.pool else {
            return Ok(false);
        };
        let done = if block {
            pool.done
                .recv()
                .map_err(|_| io::Error::other("compression thread stopped"))?
        } else {
            match pool.done.try_recv() {
                Ok(done) => done,
                Err(_) => return Ok(false),
            }
        };
        pool.in_flight -= 1;
        let mut data = done.data;
        data.clear();
        if self.spare.len() < 4 {
            self.spare.push(data);
        }
        self.ready.insert(done.seq, done.result?);
        self.write_ready()?;
        Ok(true)
    }

    fn write_ready(&mut self) -> io::Result<()> {
        while let Some((bytes, crc)) = self.ready.remove(&self.next_to_write) {
            self.out().write_all(&bytes)?;
            self.crc.combine(&crc);
            self.next_to_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.finish_in_place()?;
        self.pool = None; // joins the workers
        Ok(self.out.take().expect("the writer is present until finish"))
    }

    fn out(&mut self) -> &mut W {
        self.out
            .as_mut()
            .expect("the writer is present until finish")
    }

    fn finish_in_place(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.dispatch(true)?;
        while self.next_to_write < self.next_seq {
            if !self.receive(true)? {
                break;
            }
        }
        if self.next_to_write != self.next_seq {
            return Err(io::Error::other("a compressed block went missing"));
        }
        let crc = self.crc.sum();
        let amount = self.crc.amount();
        self.out().write_all(&crc.to_le_bytes())?;
        self.out().write_all(&amount.to_le_bytes())?;
        self.out().flush()?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None; // workers see the closed channel and return
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other("write after finish"));
        }
        let room = BLOCK_SIZE - self.buffer.len();
        let n = room.min(buf.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == BLOCK_SIZE {
            self.dispatch(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks are only cut at BLOCK_SIZE (so output does not depend on flush calls).
        Ok(())
    }
}

/// Incompressible data is detected per segment of this size and stored instead of deflated.
const SEGMENT_SIZE: usize = 64 * 1024;
/// Order-0 entropy (bits per byte) above which a segment is stored: random or already-compressed
/// data measures ≈ 7.99, text ≈ 4–5, binaries ≈ 5–7.
const STORE_ENTROPY: f64 = 7.9;

/// Whether deflate would gain nothing on `segment`: its byte histogram is nearly flat. Deflating
/// such data at level 6 spends most of the time searching for matches that do not exist, and
/// zlib then emits it as stored blocks anyway; storing it directly gives the same size, faster.
fn looks_incompressible(segment: &[u8]) -> bool {
    if segment.len() < 4096 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in segment {
        counts[b as usize] += 1;
    }
    let n = segment.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy > STORE_ENTROPY
}

/// Compresses one block as raw deflate primed with `dictionary`, ending in a sync flush (or the
/// final block when `last`), and returns the bytes with the block's CRC-32.
///
/// Segments that look incompressible are written as stored blocks by hand: the deflate stream
/// before them is sync-flushed (byte-aligned, not final), the stored blocks follow, and the next
/// compressible segment restarts the compressor primed with the preceding 32 KiB.
fn compress_block(
    compress: &mut Compress,
    level: u32,
    dictionary: &[u8],
    data: &[u8],
    last: bool,
) -> io::Result<(Vec<u8>, Crc)> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16 + 64);
    let prime = |compress: &mut Compress, offset: usize| -> io::Result<()> {
        compress.reset();
        // The 32 KiB before `offset`: the tail of the previous block, then this block's data.
        let from_data = &data[offset.saturating_sub(DICTIONARY_SIZE)..offset];
        let from_previous = DICTIONARY_SIZE - from_data.len();
        let mut window = dictionary[dictionary.len().saturating_sub(from_previous)..].to_vec();
        window.extend_from_slice(from_data);
        if !window.is_empty() {
            compress
                .set_dictionary(&window)
                .map_err(|e| io::Error::other(format!("deflate dictionary: {e}")))?;
        }
        Ok(())
    };
    prime(compress, 0)?;
    let mut pending = false; // input fed to the compressor since its last flush
    let mut primed = true;
    for (i, segment) in data.chunks(SEGMENT_SIZE).enumerate() {
        if level > 0 && looks_incompressible(segment) {
            if pending {
                deflate_all(compress, &[], &mut out, FlushCompress::Sync, false)?;
                pending = false;
            }
            write_stored(segment, &mut out);
            primed = false;
        } else {
            if !primed {
                prime(compress, i * SEGMENT_SIZE)?;
                primed = true;
            }
            deflate_all(compress, segment, &mut out, FlushCompress::None, false)?;
            pending = true;
        }
    }
    if last {
        if !primed {
            compress.reset();
        }
        // The final block (empty if everything was already written as stored blocks).
        deflate_all(compress, &[], &mut out, FlushCompress::Finish, true)?;
    } else if pending {
        deflate_all(compress, &[], &mut out, FlushCompress::Sync, false)?;
    }
    let mut crc = Crc::new();
    crc.update(data);
    Ok((out, crc))
}

/// Appends `data` as non-final stored deflate blocks (the stream is byte-aligned here): a header
/// byte 0 (BFINAL=0, BTYPE=00), LEN and its complement, then the bytes; at most 65535 per block.
fn write_stored(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(65_535) {
        let len = chunk.len() as u16;
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

/// Feeds `input` to the compressor until it is consumed and, for a flush, until the flush is
/// complete (zlib's rule: done when output room is left over after the call).
fn deflate_all(
    compress: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
    finish: bool,
) -> io::Result<()> {
    let start = compress.total_in();
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = (compress.total_in() - start) as usize;
        let status = compress
            .compress_vec(&input[consumed..], out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let consumed = (compress.total_in() - start) as usize;
        let room_left = out.capacity() > out.len();
        match status {
            Status::StreamEnd => return Ok(()),
            _ if finish => {}
            _ if consumed == input.len() && room_left => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let words = ["alpha ", "beta ", "gamma ", "delta\n", "epsilon "];
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            if rng.gen_bool(0.3) {
                out.extend((0..64).map(|_| rng.gen::<u8>()));
            } else {
                out.extend_from_slice(words[rng.gen_range(0..words.len())].as_bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn gzip(data: &[u8], level: u32, threads: usize) -> Vec<u8> {
        let mut writer = ParallelGzWriter::new(Vec::new(), level, threads);
        for chunk in data.chunks(10_007) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn roundtrips_and_is_independent_of_thread_count() {
        for len in [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 12_345] {
            let data = sample(len);
            let serial = gzip(&data, 6, 1);
            let parallel = gzip(&data, 6, 3);
            assert_eq!(serial, parallel, "len {len}");
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&serial[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, data, "len {len}");
        }
    }

    #[test]
    fn incompressible_segments_are_stored_and_still_roundtrip() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let text = sample(200_000);
        let mut data = Vec::new();
        for i in 0..12 {
            if i % 2 == 0 {
                data.extend((0..150_000).map(|_| rng.gen::<u8>()));
            } else {
                data.extend_from_slice(&text[..150_000]);
            }
        }
        let ours = gzip(&data, 6, 2);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&ours[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, data);
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap().len();
        assert!(
            (ours.len() as f64) < serial as f64 * 1.01,
            "{} vs {serial}",
            ours.len()
        );
        assert!(looks_incompressible(&data[..SEGMENT_SIZE]));
        assert!(!looks_incompressible(&text[..SEGMENT_SIZE]));
    }

    #[test]
    fn ratio_is_close_to_a_serial_stream() {
        let data = sample(4 * BLOCK_SIZE);
        let ours = gzip(&data, 6, 2).len();
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap().len();
        assert!((ours as f64) < serial as f64 * 1.01, "{ours} vs {serial}");
    }
}
