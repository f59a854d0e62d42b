/**
 * Small media files made in the test (no downloads): a PNG and a JPEG (a real signature and
 * header, then seeded bytes), a PDF of N pages, a WAV whose header says N seconds, and an MP4
 * whose `mvhd` says N seconds, with or without an audio track (`hdlr soun`).
 */

function seeded(seed: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let index = 0; index < size; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function u32be(value: number): Uint8Array {
  return new Uint8Array([
    (value >>> 24) & 0xff,
    (value >>> 16) & 0xff,
    (value >>> 8) & 0xff,
    value & 0xff,
  ]);
}

function u32le(value: number): Uint8Array {
  return new Uint8Array([
    value & 0xff,
    (value >>> 8) & 0xff,
    (value >>> 16) & 0xff,
    (value >>> 24) & 0xff,
  ]);
}

const ascii = (text: string) => new TextEncoder().encode(text);

/** A PNG signature and IHDR, then `size` seeded bytes (distinct per seed). */
export function png(seed: number, size = 256): Uint8Array {
  const signature = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const ihdr = concat(
    u32be(13),
    ascii("IHDR"),
    u32be(16),
    u32be(16),
    new Uint8Array([8, 2, 0, 0, 0]),
    u32be(0),
  );
  return concat(signature, ihdr, seeded(seed, size));
}

/** A JPEG SOI and APP0 marker, then seeded bytes. */
export function jpeg(seed: number, size = 256): Uint8Array {
  return concat(
    new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]),
    ascii("JFIF\0"),
    seeded(seed, size),
  );
}

/** A minimal PDF with `pages` page objects. */
export function pdf(pages: number, label = "doc"): Uint8Array {
  const kids = Array.from({ length: pages }, (_, index) => `${index + 3} 0 R`).join(" ");
  let body = `%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [${kids}] /Count ${pages} >> endobj\n`;
  for (let index = 0; index < pages; index++) {
    body += `${index + 3} 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n`;
  }
  body += `% ${label}\ntrailer << /Root 1 0 R >>\n%%EOF\n`;
  return ascii(body);
}

/** A WAV (16 kHz mono 16-bit) whose header says `seconds`; only `sampleBytes` are present. */
export function wav(seconds: number, seed = 1, sampleBytes = 512): Uint8Array {
  const byteRate = 16_000 * 2;
  const dataSize = Math.round(seconds * byteRate);
  const fmt = concat(
    ascii("fmt "),
    u32le(16),
    new Uint8Array([1, 0, 1, 0]),
    u32le(16_000),
    u32le(byteRate),
    new Uint8Array([2, 0, 16, 0]),
  );
  return concat(
    ascii("RIFF"),
    u32le(36 + dataSize),
    ascii("WAVE"),
    fmt,
    ascii("data"),
    u32le(dataSize),
    seeded(seed, sampleBytes),
  );
}

function box(type: string, ...content: Uint8Array[]): Uint8Array {
  const body = concat(...content);
  return concat(u32be(body.length + 8), ascii(type), body);
}

/** An MP4 whose `mvhd` says `seconds`, with an audio track when `withAudio`. */
export function mp4(seconds: number, withAudio: boolean, seed = 1, payload = 256): Uint8Array {
  const ftyp = box("ftyp", ascii("isom"), u32be(512), ascii("isomiso2mp41"));
  const mvhd = box(
    "mvhd",
    new Uint8Array([0, 0, 0, 0]),
    u32be(0),
    u32be(0),
    u32be(1000),
    u32be(Math.round(seconds * 1000)),
    new Uint8Array(80),
  );
  const track = (handler: string) =>
    box(
      "trak",
      box(
        "mdia",
        box("hdlr", new Uint8Array(4), u32be(0), ascii(handler), new Uint8Array(12), ascii("h\0")),
      ),
    );
  const moov = box("moov", mvhd, track("vide"), ...(withAudio ? [track("soun")] : []));
  return concat(ftyp, moov, box("mdat", seeded(seed, payload)));
}
